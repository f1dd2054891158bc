"""What the SMSC holds: submitted messages (by id) and each virtual subscriber's handset inbox."""

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import takewhile
from typing import Any

from twisted.internet.interfaces import IReactorTime

from smscore.concat import ConcatError, Reassembler, concat_info
from smscore.constants import EsmClass, MessageState
from smscore.text import TextDecodingError, decode_text, is_binary_coding

# A receipt's text: field carries the first 20 characters of the message (SMPP 3.4 appendix B).
RECEIPT_TEXT_LENGTH = 20
_MAX_OCTETS_PER_CHAR = 2  # UCS-2, the widest coding MOs and submits use here
# Parts of a long message still missing after this long are given up, as a phone does (the
# SMSC's own retries span minutes, so the rest of a message that is coming arrives within it).
REASSEMBLY_TIMEOUT_S = 600.0
DEFAULT_PAGE = 1_000  # messages per answer of Handsets.since unless asked for another number
MAX_PAGE = 10_000  # the most one answer (/v1/messages?since=) may hold: bounded response size
# Asking for messages after this seq answers none, only the newest seq (where to start watching).
BEYOND_LAST_SEQ = 1 << 62

_UDHI = int(EsmClass.UDHI)  # an int: `int & IntFlag` runs Python code per PDU


@dataclass(slots=True)
class StoredMessage:
    """One submitted short message to one destination (a part of a long text is its own message)."""

    message_id: str
    system_id: str
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    tlvs: dict[str | int, Any]
    submitted_at_s: float
    state: MessageState = MessageState.ENROUTE
    error_code: int = 0
    done_at_s: float | None = None
    fate_pending: bool = field(default=False, repr=False)  # simulators.fates will finish it
    # Which scheduled fate is the live one: a replace_sm that moves the schedule adds another,
    # and the earlier one, still in the heap, must then do nothing (simulators.fates).
    fate_order: int = field(default=-1, repr=False)
    # submit_multi stores one message per destination; all report the id the ESME was given.
    receipted_id: str = ""
    service_type: str = ""
    # schedule_delivery_time and validity_period as reactor seconds (None: not given).
    scheduled_at_s: float | None = None
    expires_at_s: float | None = None
    replaced: int = 0  # replace_sm applied to it

    @property
    def reported_id(self) -> str:
        return self.receipted_id or self.message_id

    def body(self) -> tuple[Any, bytes]:
        """(ConcatInfo or None, octets without UDH)."""
        if not self.tlvs and not self.esm_class & _UDHI:
            return None, self.short_message  # what concat_info finds, without looking
        return concat_info(self.esm_class, self.short_message, self.tlvs)  # type: ignore[arg-type]

    def preview(self, length: int = RECEIPT_TEXT_LENGTH) -> str:
        """The first characters of the text, for the receipt's text: field (ASCII only)."""
        try:
            _, body = self.body()
        except ConcatError:
            body = self.short_message
        # Enough octets for `length` characters in any coding we decode (UCS-2 takes two each).
        text = message_text(body[: length * _MAX_OCTETS_PER_CHAR], self.data_coding)[:length]
        return text.encode("ascii", "replace").decode("ascii")


@lru_cache(maxsize=1024)  # load tests repeat a few texts; decoding each again is most of a delivery
def message_text(body: bytes, data_coding: int) -> str:
    if is_binary_coding(data_coding):
        return body.hex()
    try:
        return decode_text(body, data_coding, errors="replace")
    except TextDecodingError:
        return body.hex()


class MessageNotFound(LookupError):
    pass


class SourceMismatch(LookupError):
    """The message exists, but the request's source_addr is not the one it was submitted from."""


class MessageStore:
    """Submitted messages by id, oldest evicted first beyond `max_messages` (a bound on memory)."""

    def __init__(self, max_messages: int) -> None:
        self.max_messages = max_messages
        self._messages: OrderedDict[str, StoredMessage] = OrderedDict()
        self._last_id = 0

    def __len__(self) -> int:
        return len(self._messages)

    def next_id(self) -> str:
        self._last_id += 1
        return f"{self._last_id:08x}"

    def add(self, message: StoredMessage) -> None:
        self._messages[message.message_id] = message
        while len(self._messages) > self.max_messages:
            _, evicted = self._messages.popitem(last=False)
            evicted.fate_pending = False

    def get(self, message_id: str, source_addr: str = "") -> StoredMessage:
        """The message; `source_addr`, if given, must match the submitter's (spec 4.8.1):
        SourceMismatch otherwise."""
        message = self._messages.get(message_id)
        if message is None:
            raise MessageNotFound(message_id)
        if source_addr and source_addr != message.source_addr:
            raise SourceMismatch(message_id)
        return message

    def pending_between(
        self, source_addr: str, destination_addr: str, service_type: str = ""
    ) -> list[StoredMessage]:
        """Messages not yet final from one source to one destination (cancel_sm without an id:
        spec 4.9.1), of `service_type` if one is given."""
        return [
            message
            for message in self._messages.values()
            if not message.state.is_final
            and message.source_addr == source_addr
            and message.destination_addr == destination_addr
            and (not service_type or message.service_type == service_type)
        ]

    def recent(self, limit: int, msisdn: str | None = None) -> list[StoredMessage]:
        """The newest stored messages (to `msisdn` if given), oldest first, at most `limit`."""
        found: list[StoredMessage] = []
        for message in reversed(self._messages.values()):
            if msisdn is None or message.destination_addr == msisdn:
                found.append(message)
                if len(found) >= limit:
                    break
        found.reverse()
        return found


@dataclass(frozen=True, slots=True)
class HandsetMessage:
    """A whole message (long ones reassembled) as the subscriber's phone shows it."""

    seq: int
    msisdn: str
    sender: str
    text: str
    message_ids: tuple[str, ...]
    submitted_at_s: float
    delivered_at_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "msisdn": self.msisdn,
            "from": self.sender,
            "text": self.text,
            "message_ids": list(self.message_ids),
            "submitted_at": self.submitted_at_s,
            "delivered_at": self.delivered_at_s,
        }


def resume_from(seq: int, page: list[dict[str, Any]], last_seq: int) -> int:
    """Where to ask next after a page of messages_since(seq) (as JSON): after its last message, so
    a page cut at its limit loses nothing, or after the newest seq when the page is empty."""
    return max(seq, page[-1]["seq"] if page else last_seq)


class Handsets:
    """Every virtual subscriber's inbox; parts of a long message appear once all are delivered."""

    def __init__(self, reactor: IReactorTime, max_per_msisdn: int, max_total: int) -> None:
        self.reactor = reactor
        self.max_per_msisdn = max_per_msisdn
        self._inboxes: dict[str, deque[HandsetMessage]] = {}
        self._recent: deque[HandsetMessage] = deque(maxlen=max_total)
        self._reassembler = Reassembler(reactor, timeout_s=REASSEMBLY_TIMEOUT_S)
        self._part_ids: dict[tuple[Any, int], list[str]] = {}
        self._first_submit: dict[tuple[Any, int], float] = {}
        self.last_seq = 0

    def deliver(self, message: StoredMessage) -> HandsetMessage | None:
        """The phone receives one message (or part); returns the whole message once it is complete."""
        try:
            info, body = message.body()
        except ConcatError:
            info, body = None, message.short_message
        ids: tuple[str, ...] = (message.message_id,)
        submitted_at_s = message.submitted_at_s
        if info is not None:
            self._forget_abandoned_parts()
            key = (message.system_id, message.source_addr, message.destination_addr)
            slot = (key, info.reference)
            self._part_ids.setdefault(slot, []).append(message.message_id)
            first = self._first_submit.setdefault(slot, submitted_at_s)
            whole = self._reassembler.add(key, info, body)
            if whole is None:
                return None
            body, ids = whole, tuple(self._part_ids.pop(slot, ()))
            submitted_at_s = min(first, self._first_submit.pop(slot, first))
        return self._store(message, message_text(body, message.data_coding), ids, submitted_at_s)

    def _forget_abandoned_parts(self) -> None:
        for dropped in self._reassembler.expire():
            slot = (dropped.key, dropped.reference)
            self._part_ids.pop(slot, None)
            self._first_submit.pop(slot, None)

    def _store(
        self, message: StoredMessage, text: str, ids: tuple[str, ...], submitted_at_s: float
    ) -> HandsetMessage:
        self.last_seq += 1
        received = HandsetMessage(
            self.last_seq,
            message.destination_addr,
            message.source_addr,
            text,
            ids,
            submitted_at_s,
            self.reactor.seconds(),
        )
        inbox = self._inboxes.get(received.msisdn)
        if inbox is None:
            inbox = self._inboxes[received.msisdn] = deque(maxlen=self.max_per_msisdn)
        inbox.append(received)
        self._recent.append(received)
        return received

    def inbox(self, msisdn: str) -> list[HandsetMessage]:
        return list(self._inboxes.get(msisdn, ()))

    def since(self, seq: int, limit: int = DEFAULT_PAGE) -> list[HandsetMessage]:
        """Messages (all subscribers) with seq greater than `seq`, oldest first, at most `limit`."""
        newer = list(takewhile(lambda message: message.seq > seq, reversed(self._recent)))
        newer.reverse()
        return newer[:limit]
