"""A hostile SMSC for the end-to-end tests: a plain-socket server on 127.0.0.1 that takes the daemon's
bind like any SMSC (bind_transceiver_resp, ESME_ROK) and then sends whatever the test writes.

Each accepted connection is a `Link` with a reader thread that decodes what the daemon sends
(smscore.codec, the daemon's own codec: its output is well-formed), keeps every PDU, and answers
what an SMSC must answer for the daemon to go on: enquire_link, submit_sm (ESME_ROK and a message
id), unbind. Tests wait for conditions with a deadline, never for a fixed time.
"""

from __future__ import annotations

import socket
import threading
import time

from smscore.codec import StreamDecoder, encode
from smscore.constants import CommandId as C
from smscore.errors import PDUDecodeError
from smscore.pdu import PDU, EnquireLink
from tests.e2e.harness import wait_for

READ_CHUNK_BYTES = 65_536
HOSTILE_SYSTEM_ID = "hostile"


class Link:
    """One connection from the daemon, bound; `send` writes raw bytes to it."""

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.number = number  # 1 for the first connection the server accepted
        self.connected_at = time.monotonic()
        self.closed_at: float | None = None
        self.bound = threading.Event()
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._received: list[PDU] = []
        self._next_sequence = 1_000  # ours; the daemon's bind is the only other number we answer
        self._submits = 0
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"hostile-{number}")
        self._reader.start()

    # --- what the test does ---

    def next_sequence(self) -> int:
        self._next_sequence += 1
        return self._next_sequence

    def send(self, data: bytes) -> bool:
        """Write `data`; False if the daemon closed the link first (it may, halfway). One writer
        at a time: the reader's answers never land inside a PDU the test is writing."""
        try:
            with self._send_lock:
                self.sock.sendall(data)
            return True
        except OSError:
            return False

    def send_many(self, pdus: list[bytes], per_write: int = 100) -> bool:
        """Write PDUs back to back, `per_write` at a time, without waiting for any answer (the
        reader answers the daemon's requests between the writes)."""
        return all(
            self.send(b"".join(pdus[start : start + per_write]))
            for start in range(0, len(pdus), per_write)
        )

    def send_pdu(self, pdu: PDU) -> int:
        """Send a request with our next sequence number; returns the number."""
        pdu.sequence_number = self.next_sequence()
        self.send(encode(pdu))
        return pdu.sequence_number

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def received(self) -> list[PDU]:
        with self._lock:
            return list(self._received)

    def answers_to(self, sequence_number: int) -> list[PDU]:
        """Responses and generic_nacks the daemon sent with this sequence number."""
        return [
            pdu
            for pdu in self.received()
            if pdu.sequence_number == sequence_number
            and (pdu.is_response or pdu.command_id == C.GENERIC_NACK)
        ]

    def answers_to_range(self, first: int, count: int) -> list[PDU]:
        """Answers whose sequence numbers are first..first+count-1 (a flood's)."""
        last = first + count
        return [
            pdu
            for pdu in self.received()
            if first <= pdu.sequence_number < last
            and (pdu.is_response or pdu.command_id == C.GENERIC_NACK)
        ]

    def wait_answer(self, sequence_number: int, timeout_s: float = 10) -> PDU:
        [answer] = wait_for(
            lambda: self.answers_to(sequence_number), timeout_s, f"an answer to #{sequence_number}"
        )
        return answer

    def ping(self, timeout_s: float = 10) -> None:
        """The daemon still reads this link: an enquire_link gets its enquire_link_resp."""
        answer = self.wait_answer(self.send_pdu(EnquireLink()), timeout_s)
        assert answer.command_id == C.ENQUIRE_LINK_RESP, answer

    def wait_closed(self, timeout_s: float = 10) -> None:
        assert self.closed.wait(timeout_s), f"link {self.number} still open after {timeout_s}s"

    # --- the reader ---

    def _read(self) -> None:
        decoder = StreamDecoder()
        try:
            while chunk := self.sock.recv(READ_CHUNK_BYTES):
                decoder.feed(chunk)
                while (pdu := decoder.next_pdu()) is not None:
                    self._on_pdu(pdu)
        except (OSError, PDUDecodeError):
            pass  # the link is gone (or we closed it): what was read is kept
        finally:
            self.closed_at = time.monotonic()
            self.closed.set()

    def _on_pdu(self, pdu: PDU) -> None:
        with self._lock:
            self._received.append(pdu)
        if pdu.command_id in (C.BIND_TRANSCEIVER, C.BIND_TRANSMITTER, C.BIND_RECEIVER):
            self.send(encode(pdu.make_response(system_id=HOSTILE_SYSTEM_ID)))
            self.bound.set()
        elif pdu.command_id == C.SUBMIT_SM:
            self._submits += 1
            self.send(encode(pdu.make_response(message_id=f"h{self.number}-{self._submits}")))
        elif pdu.command_id in (C.ENQUIRE_LINK, C.UNBIND):
            self.send(encode(pdu.make_response()))


class HostileSMSC:
    """Listens on 127.0.0.1 (a free port); every connection becomes a Link, in order."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.links: list[Link] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True, name="hostile-accept")
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.links.append(Link(sock, len(self.links) + 1))

    def link(self, number: int, timeout_s: float = 15) -> Link:
        """The `number`th connection, once it is bound."""

        def bound() -> Link | None:
            with self._lock:
                link = self.links[number - 1] if len(self.links) >= number else None
            return link if link is not None and link.bound.is_set() else None

        return wait_for(bound, timeout_s, f"connection {number} from the daemon, bound")

    def current(self, timeout_s: float = 15) -> Link:
        """The newest connection, once bound (the one the daemon uses now)."""
        return self.link(max(len(self.links), 1), timeout_s)

    def next_link(self, after: Link, timeout_s: float = 15) -> Link:
        """The connection the daemon makes after `after` closed: its reconnect."""
        return self.link(after.number + 1, timeout_s)

    def stop(self) -> None:
        self._stopped = True
        self._server.close()
        with self._lock:
            links = list(self.links)
        for link in links:
            link.close()
