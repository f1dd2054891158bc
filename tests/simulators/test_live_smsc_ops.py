"""Real TCP on 127.0.0.1: smpplib (an independent implementation) against `smscore sim` for
query_sm, cancel_sm and replace_sm on held messages, intermediate notifications,
alert_notification, and outbind to a listener made of a plain socket and smpplib's bind_receiver.

smpplib has no cancel_sm / replace_sm classes and cannot read their responses: the two requests
are declared here with smpplib's own parameter encoder, and every response is read as raw bytes.
"""

import json
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.smpp
from smpplib.command import Param
from smpplib.ptypes import ostr

SMSCORE = Path(sys.executable).with_name("smscore")
PHONE = "254711000001"
CANCEL_SM_RESP, REPLACE_SM_RESP, QUERY_SM_RESP = 0x80000008, 0x80000007, 0x80000003
DELIVER_SM, OUTBIND = 0x00000005, 0x0000000B
ESME_RINVSRCADR, ESME_RCANCELFAIL, ESME_RREPLACEFAIL = 0x0A, 0x11, 0x13
ENROUTE, DELETED = 1, 4
READ_S = 5.0


class CancelSM(smpplib.command.Command):
    params = {
        "service_type": Param(type=str, max=6),
        "message_id": Param(type=str, max=65),
        "source_addr_ton": Param(type=int, size=1),
        "source_addr_npi": Param(type=int, size=1),
        "source_addr": Param(type=str, max=21),
        "dest_addr_ton": Param(type=int, size=1),
        "dest_addr_npi": Param(type=int, size=1),
        "destination_addr": Param(type=str, max=21),
    }
    params_order = tuple(params)

    def __init__(self, command: str, **kwargs: object) -> None:
        super().__init__(command, **kwargs)
        self._set_vars(**dict.fromkeys(self.params))


class ReplaceSM(smpplib.command.Command):
    params = {
        "message_id": Param(type=str, max=65),
        "source_addr_ton": Param(type=int, size=1),
        "source_addr_npi": Param(type=int, size=1),
        "source_addr": Param(type=str, max=21),
        "schedule_delivery_time": Param(type=str, max=17),
        "validity_period": Param(type=str, max=17),
        "registered_delivery": Param(type=int, size=1),
        "sm_default_msg_id": Param(type=int, size=1),
        "sm_length": Param(type=int, size=1),
        "short_message": Param(type=ostr, max=254, len_field="sm_length"),
    }
    params_order = tuple(params)

    def __init__(self, command: str, **kwargs: object) -> None:
        super().__init__(command, **kwargs)
        self._set_vars(**dict.fromkeys(self.params))

    def prep(self) -> None:
        self.sm_length = len(self.short_message or b"")


@pytest.fixture
def simulator() -> Iterator[tuple[int, str]]:
    command = [str(SMSCORE), "sim", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--esme", "live:secret", "--dlr-delay", "0.2", "--fault", "hold:hold_s=600",
               "--exit-after", "30"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        smpp_line = process.stdout.readline()  # type: ignore[union-attr]
        http_line = process.stdout.readline()  # type: ignore[union-attr]
        assert smpp_line.startswith("SMPP listening on"), smpp_line
        yield int(smpp_line.rsplit(":", 1)[1]), http_line.split(" on ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _http(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Peer:
    """smpplib's client, its requests sent and every PDU read as raw bytes."""

    def __init__(self, client: smpplib.client.Client) -> None:
        self.client = client
        self.delivered: list = []  # deliver_sm as smpplib parses them (each acknowledged)

    def send(self, pdu: smpplib.command.Command) -> None:
        self.client._socket.sendall(pdu.generate())

    def read_raw(self) -> bytes:
        length = struct.unpack(">L", self.client._recv_exact(4))[0]
        return struct.pack(">L", length) + self.client._recv_exact(length - 4)

    def answer(self, command_id: int) -> tuple[int, bytes]:
        """(status, body) of the next PDU with `command_id`; deliver_sm met on the way are kept."""
        deadline = time.monotonic() + READ_S
        while time.monotonic() < deadline:
            raw = self.read_raw()
            found, status, sequence = struct.unpack(">LLL", raw[4:16])
            if found == command_id:
                return status, raw[16:]
            if found == DELIVER_SM:
                self._acknowledge(raw, sequence)
        raise AssertionError(f"no PDU {command_id:#x} in {READ_S}s")

    def read_delivered(self) -> None:
        """Read one deliver_sm (nothing else may come) and acknowledge it."""
        raw = self.read_raw()
        command_id, _, sequence = struct.unpack(">LLL", raw[4:16])
        assert command_id == DELIVER_SM, f"{command_id:#x} instead of deliver_sm"
        self._acknowledge(raw, sequence)

    def _acknowledge(self, raw: bytes, sequence: int) -> None:
        self.delivered.append(smpplib.smpp.parse_pdu(raw, client=self.client,
                                                     allow_unknown_opt_params=True))  # fmt: skip
        resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=self.client, sequence=sequence)
        self.send(resp)

    def submit(self, text: str, **fields: object) -> str:
        pdu = smpplib.smpp.make_pdu("submit_sm", client=self.client, source_addr="3456",
                                    destination_addr=PHONE, short_message=text.encode(),
                                    **fields)  # fmt: skip
        self.send(pdu)
        status, body = self.answer(0x80000004)
        assert status == 0
        return body.split(b"\0", 1)[0].decode()

    def query(self, message_id: str, source_addr: str = "3456") -> tuple[int, int]:
        self.send(smpplib.smpp.make_pdu("query_sm", client=self.client, message_id=message_id,
                                        source_addr=source_addr))  # fmt: skip
        status, body = self.answer(QUERY_SM_RESP)
        if status:
            return status, 0
        _id, _final_date, rest = body.split(b"\0", 2)
        return status, rest[0]  # message_state


def _cancel(peer: Peer, message_id: str, source_addr: str = "3456") -> int:
    peer.send(CancelSM("cancel_sm", client=peer.client, message_id=message_id,
                       source_addr=source_addr))  # fmt: skip
    return peer.answer(CANCEL_SM_RESP)[0]


def _replace(peer: Peer, message_id: str, text: bytes, source_addr: str = "3456") -> int:
    peer.send(ReplaceSM("replace_sm", client=peer.client, message_id=message_id,
                        source_addr=source_addr, short_message=text))  # fmt: skip
    return peer.answer(REPLACE_SM_RESP)[0]


@pytest.fixture
def peer(simulator: tuple[int, str]) -> Iterator[Peer]:
    client = smpplib.client.Client("127.0.0.1", simulator[0], timeout=5,
                                   allow_unknown_opt_params=True)  # fmt: skip
    client.connect()
    try:
        client.bind_transceiver(system_id="live", password="secret")
        yield Peer(client)
    finally:
        client.disconnect()


def test_smpplib_queries_replaces_and_cancels_held_messages(simulator, peer: Peer) -> None:  # type: ignore[no-untyped-def]
    _, api = simulator
    held = peer.submit("first text", registered_delivery=0x11)  # a receipt and a notification
    assert peer.query(held) == (0, ENROUTE)
    assert peer.query(held, source_addr="9999") == (ESME_RINVSRCADR, 0)
    assert _replace(peer, held, b"second text", source_addr="9999") == ESME_RINVSRCADR
    assert _replace(peer, held, b"second text") == 0
    assert _http(f"{api}/v1/mt/{held}")["text"] == "second text"
    assert _cancel(peer, held, source_addr="9999") == ESME_RINVSRCADR
    assert _cancel(peer, held) == 0
    assert peer.query(held) == (0, DELETED)
    assert _cancel(peer, held) == ESME_RCANCELFAIL
    assert _replace(peer, held, b"third") == ESME_RREPLACEFAIL
    while len(peer.delivered) < 2:
        peer.read_delivered()
    note, receipt = peer.delivered
    assert note.esm_class == 0x20 and b"stat:ENROUTE" in note.short_message
    assert note.receipted_message_id.decode() == held
    assert receipt.esm_class == 0x04 and b"stat:DELETED" in receipt.short_message
    assert b"text:second text" in receipt.short_message


def test_an_alert_notification_reaches_smpplib(simulator, peer: Peer) -> None:  # type: ignore[no-untyped-def]
    _, api = simulator
    _http(f"{api}/v1/alerts", {"msisdn": PHONE, "esme_addr": "3456", "system_id": "live"})
    raw = peer.read_raw()
    alert = smpplib.smpp.parse_pdu(raw, client=peer.client, allow_unknown_opt_params=True)
    assert alert.command == "alert_notification"
    assert alert.source_addr.decode() == PHONE and alert.esme_addr.decode() == "3456"
    assert alert.ms_availability_status == 0


def test_outbind_to_a_plain_socket_listener_that_binds_back_with_smpplib(simulator) -> None:  # type: ignore[no-untyped-def]
    _, api = simulator
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(READ_S)
    port = listener.getsockname()[1]
    answers: list = []
    body = {"address": f"127.0.0.1:{port}", "password": "obpw"}
    asking = threading.Thread(target=lambda: answers.append(_http(f"{api}/v1/outbind", body)))
    asking.start()
    try:
        connection, _ = listener.accept()
        client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
        client._socket, client.state = connection, smpplib.consts.SMPP_CLIENT_STATE_OPEN
        outbind = Peer(client).read_raw()
        [command_id] = struct.unpack(">L", outbind[4:8])
        system_id, password, _ = outbind[16:].split(b"\0", 2)
        assert (command_id, system_id, password) == (OUTBIND, b"SMSCSIM", b"obpw")
        response = client.bind_receiver(system_id="live", password="secret")
        assert response.status == 0 and client.state == smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX
        asking.join(timeout=READ_S)
        assert answers == [{"bound": "live"}]
        _http(f"{api}/v1/mo", {"from": "254711000009", "to": "3456", "text": "via outbind"})
        peer = Peer(client)
        peer.read_delivered()
        assert peer.delivered[0].short_message == b"via outbind"
        client.disconnect()
    finally:
        listener.close()
        asking.join(timeout=READ_S)
