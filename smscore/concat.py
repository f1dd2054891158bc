"""Long SMS: splitting a text into parts and reassembling incoming parts. Sans-I/O.

Four ways to carry a long text in SMPP 3.4:
- "udh8":   a User Data Header in short_message, IEI 0x00 (8-bit reference), esm_class UDHI (0x40);
- "udh16":  the same with IEI 0x08 (16-bit reference);
- "sar":    the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs, no UDH;
- "payload": the whole text in one message_payload TLV (the SMSC splits it, if it must).

Reassembly works on octets (bodies are joined before decoding), so a sender that cut a GSM escape
pair or a surrogate pair across parts still decodes correctly once the message is whole.
"""

from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from smscore.constants import EsmClass
from smscore.errors import SMPPError
from smscore.text import (
    DEFAULT_ALLOWED,
    alphabet_for,
    chunk_units,
    pack_septets,
    part_capacity,
    select_encoding,
)

__all__ = [
    "METHODS",
    "ConcatError",
    "ConcatInfo",
    "ExpiredMessage",
    "MessagePart",
    "Reassembler",
    "concat_info",
    "split_message",
]

METHODS = frozenset({"udh8", "udh16", "sar", "payload"})
_MAX_PARTS = 255  # the UDH / SAR "total" is one octet
_MAX_PAYLOAD_OCTETS = 0xFFFF  # message_payload's TLV length is two octets
_REFERENCE_LIMIT = {"udh8": 0xFF, "udh16": 0xFFFF, "sar": 0xFFFF}
_UDHI = int(EsmClass.UDHI)  # an int: `int & IntFlag` runs Python code per PDU
# 3GPP TS 23.040 9.2.3.24.1 / .8: the concatenation IEs and their data lengths (reference, total,
# sequence: one octet each, but a two-octet reference in the 16-bit form).
_IEI_CONCAT_8 = 0x00
_IEI_CONCAT_16 = 0x08
_IEL_CONCAT_8 = 3
_IEL_CONCAT_16 = 4
_IE_HEADER_OCTETS = 2  # IEI and IEL
_UDHL_OCTETS = 1  # the UDH length octet itself
_SEPTET_BITS, _OCTET_BITS = 7, 8
# A reassembler forgets an incomplete message after 5 minutes: SMSCs send the parts of one message
# within seconds, and re-send an unacknowledged part after tens of seconds.
DEFAULT_CONCAT_TIMEOUT_S = 300.0
DEFAULT_MAX_PENDING_MESSAGES = 10_000  # a bound on memory whatever the peers send


class ConcatError(ValueError, SMPPError):
    """A message cannot be split as asked, or an incoming UDH / SAR set is malformed."""


@dataclass(frozen=True, slots=True)
class MessagePart:
    """One submit_sm / deliver_sm worth of a message. OR EsmClass.UDHI into esm_class when esm_class_udhi."""

    short_message: bytes
    esm_class_udhi: bool
    data_coding: int
    tlvs: dict[str, object] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Where an incoming part belongs: message reference, parts in the message, this part (1-based)."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True, slots=True)
class ExpiredMessage:
    """An incomplete message the Reassembler gave up on.

    reason: "timeout" (older than timeout_s), "evicted" (too many pending messages) or "superseded"
    (a part with the same reference announced another total, so the old collection was dropped).
    """

    key: Hashable
    reference: int
    total: int
    parts_received: tuple[int, ...]
    bodies: tuple[bytes, ...]
    reason: str


# --- splitting -------------------------------------------------------------------------------------


def split_message(
    text: str | bytes,
    method: str,
    reference: int | None,
    data_coding: int | None = None,
    *,
    allowed: tuple[int, ...] = DEFAULT_ALLOWED,
    default_alphabet: str = "gsm7",
) -> list[MessagePart]:
    """Split a text (or pre-encoded octets with an explicit data_coding) into SMPP message parts.

    A text that fits in one SMS gives one part with no UDH and no TLVs, whatever the method. With
    data_coding None the cheapest encoding is chosen (see smscore.text.encode_text). Bytes are taken
    as units of data_coding's alphabet (unpacked septets for GSM, UTF-16-BE for UCS-2).
    """
    if method not in METHODS:
        raise ConcatError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    _check_reference(method, reference)
    coding, alphabet, units = _units_of(text, data_coding, allowed, default_alphabet, method)
    if len(units) <= part_capacity(alphabet, method, single=True):
        return [MessagePart(_finish(units, alphabet, 0), False, coding, {})]
    if method == "payload":
        return [_payload_part(units, alphabet, coding)]
    chunks = chunk_units(units, alphabet, part_capacity(alphabet, method, single=False))
    if len(chunks) > _MAX_PARTS:
        raise ConcatError(f"text needs {len(chunks)} parts; at most {_MAX_PARTS} are possible")
    assert reference is not None  # checked by _check_reference
    total = len(chunks)
    if method == "sar":
        return [
            _sar_part(chunk, alphabet, coding, reference, total, seq)
            for seq, chunk in _numbered(chunks)
        ]
    return [
        _udh_part(chunk, alphabet, coding, method, reference, total, seq)
        for seq, chunk in _numbered(chunks)
    ]


def _numbered(chunks: list[bytes]) -> list[tuple[int, bytes]]:
    return list(enumerate(chunks, start=1))


def _check_reference(method: str, reference: int | None) -> None:
    limit = _REFERENCE_LIMIT.get(method)
    if limit is None:
        return  # payload carries no reference
    if not isinstance(reference, int) or not 0 <= reference <= limit:
        raise ConcatError(f"reference for {method} must be an int in 0..{limit}, got {reference!r}")


def _units_of(
    text: str | bytes,
    data_coding: int | None,
    allowed: tuple[int, ...],
    default_alphabet: str,
    method: str,
) -> tuple[int, str, bytes]:
    if isinstance(text, str):
        return select_encoding(text, data_coding, allowed, default_alphabet, method)
    if data_coding is None:
        raise ConcatError("octets need an explicit data_coding")
    return data_coding, alphabet_for(data_coding, default_alphabet), bytes(text)


def _finish(units: bytes, alphabet: str, fill_bits: int) -> bytes:
    return pack_septets(units, fill_bits) if alphabet == "gsm7-packed" else units


def _payload_part(units: bytes, alphabet: str, coding: int) -> MessagePart:
    payload = _finish(units, alphabet, 0)
    if len(payload) > _MAX_PAYLOAD_OCTETS:
        raise ConcatError(f"message_payload of {len(payload)} octets exceeds {_MAX_PAYLOAD_OCTETS}")
    return MessagePart(b"", False, coding, {"message_payload": payload})


def _sar_part(
    chunk: bytes, alphabet: str, coding: int, reference: int, total: int, seq: int
) -> MessagePart:
    tlvs: dict[str, object] = {
        "sar_msg_ref_num": reference,
        "sar_total_segments": total,
        "sar_segment_seqnum": seq,
    }
    return MessagePart(_finish(chunk, alphabet, 0), False, coding, tlvs)


def _udh_part(
    chunk: bytes, alphabet: str, coding: int, method: str, reference: int, total: int, seq: int
) -> MessagePart:
    if method == "udh8":
        ie = bytes((_IEI_CONCAT_8, _IEL_CONCAT_8, reference, total, seq))
    else:
        ie = bytes((_IEI_CONCAT_16, _IEL_CONCAT_16, reference >> 8, reference & 0xFF, total, seq))
    udh = bytes((len(ie),)) + ie
    # Packed text starts on a septet boundary counted from the start of the UDH.
    fill_bits = (_SEPTET_BITS - (len(udh) * _OCTET_BITS) % _SEPTET_BITS) % _SEPTET_BITS
    return MessagePart(udh + _finish(chunk, alphabet, fill_bits), True, coding, {})


# --- parsing incoming parts ------------------------------------------------------------------------


def concat_info(
    esm_class: int, short_message: bytes, tlvs: Mapping[str, object]
) -> tuple[ConcatInfo | None, bytes]:
    """(where this part belongs, body without UDH) for an incoming deliver_sm / data_sm / submit_sm.

    The body is message_payload when present, else short_message; a UDH (esm_class & EsmClass.UDHI) is parsed
    and removed. A UDH whose lengths overrun the message raises ConcatError (the peer's fault; answer
    it, do not guess). A concatenation IE or SAR set that is present but numbered impossibly
    (total 0, sequence 0 or above total) is ignored and the part treated as a whole message, as
    3GPP TS 23.040 9.2.3.24.1 tells a receiver to do; so is a "message" of total 1.
    """
    payload = tlvs.get("message_payload")
    body = payload if isinstance(payload, bytes | bytearray) else short_message
    info = None
    if esm_class & _UDHI:
        info, body = _parse_udh(body)
    if info is None:
        info = _sar_info(tlvs)
    if info is not None and (info.total == 1 or not 1 <= info.sequence <= info.total):
        info = None
    return info, bytes(body)


def _parse_udh(message: bytes) -> tuple[ConcatInfo | None, bytes]:
    if not message:
        raise ConcatError("esm_class has UDHI set but the message is empty")
    udh_end = _UDHL_OCTETS + message[0]
    if udh_end > len(message):
        raise ConcatError(f"UDH length {message[0]} overruns a {len(message)}-octet message")
    info = None
    pos = _UDHL_OCTETS
    while pos < udh_end:
        if pos + _IE_HEADER_OCTETS > udh_end:
            raise ConcatError(f"UDH information element header at octet {pos} is truncated")
        iei, iel = message[pos], message[pos + 1]
        data_start = pos + _IE_HEADER_OCTETS
        pos = data_start + iel
        if pos > udh_end:
            raise ConcatError(f"UDH information element 0x{iei:02X} overruns the UDH")
        ie = message[data_start:pos]
        if iei == _IEI_CONCAT_8 and iel == _IEL_CONCAT_8:
            info = ConcatInfo(ie[0], ie[1], ie[2])
        elif iei == _IEI_CONCAT_16 and iel == _IEL_CONCAT_16:
            info = ConcatInfo((ie[0] << 8) | ie[1], ie[2], ie[3])
        # Any other IE (port addressing, national language shift, ...) is skipped.
    return info, message[udh_end:]


def _sar_info(tlvs: Mapping[str, object]) -> ConcatInfo | None:
    values = [
        tlvs.get(name) for name in ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum")
    ]
    present = sum(value is not None for value in values)
    if present == 0:
        return None
    if present != len(values) or not all(isinstance(value, int) for value in values):
        raise ConcatError(
            "SAR needs sar_msg_ref_num, sar_total_segments and sar_segment_seqnum as ints"
        )
    reference, total, sequence = values
    return ConcatInfo(reference, total, sequence)  # type: ignore[arg-type]


# --- reassembly ------------------------------------------------------------------------------------


class Clock(Protocol):
    def seconds(self) -> float: ...


class _Pending:
    __slots__ = ("bodies", "started_s", "total")

    def __init__(self, total: int, started_s: float) -> None:
        self.total = total
        self.started_s = started_s
        self.bodies: dict[int, bytes] = {}


class Reassembler:
    """Collects parts per (key, reference) and returns the joined body when the last one arrives.

    `key` names the conversation (e.g. (bind_name, source_addr, destination_addr)); references are
    only unique within it. Parts may arrive in any order; a duplicate part (same sequence) is ignored
    and the first copy kept. A part whose total differs from the collection under way for the same
    reference means the sender reused the reference for a new message: the old collection is dropped
    (reported as "superseded") and collection starts over with this part.

    SMSCs re-send a part whose deliver_sm_resp they did not see, also after the message completed.
    For timeout_s after completion a part equal (same sequence, same octets) to one of the completed
    message is ignored, so a late duplicate neither starts a collection that can only time out nor
    yields the message twice; a part that differs starts a new message under the reused reference.

    Bounded: at most max_pending_messages collections; adding one more evicts the oldest. Dropped
    collections (timeout, evicted, superseded) are reported by expire(), which the caller runs
    periodically (e.g. a LoopingCall on the same clock); at most max_pending_messages reports wait.
    """

    def __init__(
        self,
        clock: Clock,
        timeout_s: float = DEFAULT_CONCAT_TIMEOUT_S,
        max_pending_messages: int = DEFAULT_MAX_PENDING_MESSAGES,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_pending_messages < 1:
            raise ValueError(f"max_pending_messages must be at least 1, got {max_pending_messages}")
        self._clock = clock
        self.timeout_s = timeout_s
        self.max_pending_messages = max_pending_messages
        self._pending: dict[tuple[Hashable, int], _Pending] = {}  # insertion order = age
        self._dropped: deque[ExpiredMessage] = deque(maxlen=max_pending_messages)
        # slot -> (completed_s, {sequence: hash(body)}), insertion order = completion order.
        self._completed: dict[tuple[Hashable, int], tuple[float, dict[int, int]]] = {}

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def add(self, key: Hashable, info: ConcatInfo, body: bytes) -> bytes | None:
        """Store one part; return the whole message body when this part completes it."""
        if not 1 <= info.sequence <= info.total:
            raise ConcatError(f"part {info.sequence} of {info.total} is out of range")
        if info.total == 1:
            return body
        slot = (key, info.reference)
        pending = self._pending.get(slot)
        if pending is not None and pending.total != info.total:
            self._drop(slot, "superseded")
            pending = None
        if pending is None:
            if self._is_late_duplicate(slot, info.sequence, body):
                return None
            pending = self._start(slot, info.total)
        pending.bodies.setdefault(info.sequence, body)
        if len(pending.bodies) < pending.total:
            return None
        return self._complete(slot, pending)

    def expire(self) -> list[ExpiredMessage]:
        """Drop collections older than timeout_s; return them with everything dropped since last call."""
        deadline_s = self._clock.seconds() - self.timeout_s
        for slot, pending in list(self._pending.items()):
            if pending.started_s > deadline_s:
                break  # the rest are younger
            self._drop(slot, "timeout")
        for slot, (completed_s, _) in list(self._completed.items()):
            if completed_s > deadline_s:
                break
            del self._completed[slot]
        dropped = list(self._dropped)
        self._dropped.clear()
        return dropped

    def _is_late_duplicate(self, slot: tuple[Hashable, int], sequence: int, body: bytes) -> bool:
        completed = self._completed.get(slot)
        if completed is None:
            return False
        if completed[1].get(sequence) == hash(body):
            return True
        del self._completed[slot]  # a new message under a reused reference
        return False

    def _complete(self, slot: tuple[Hashable, int], pending: _Pending) -> bytes:
        del self._pending[slot]
        self._completed.pop(slot, None)
        while len(self._completed) >= self.max_pending_messages:
            del self._completed[next(iter(self._completed))]
        seen = {seq: hash(body) for seq, body in pending.bodies.items()}
        self._completed[slot] = (self._clock.seconds(), seen)
        return b"".join(pending.bodies[seq] for seq in range(1, pending.total + 1))

    def _start(self, slot: tuple[Hashable, int], total: int) -> _Pending:
        while len(self._pending) >= self.max_pending_messages:
            self._drop(next(iter(self._pending)), "evicted")
        pending = _Pending(total, self._clock.seconds())
        self._pending[slot] = pending
        return pending

    def _drop(self, slot: tuple[Hashable, int], reason: str) -> None:
        pending = self._pending.pop(slot)
        received = tuple(sorted(pending.bodies))
        bodies = tuple(pending.bodies[seq] for seq in received)
        self._dropped.append(
            ExpiredMessage(slot[0], slot[1], pending.total, received, bodies, reason)
        )
