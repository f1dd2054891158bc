"""Delivery receipts: recognise them, parse them, and match them to the outbox parts they report on.

Receipts are where SMS gateways lose messages (the top complaints of Kannel and Jasmin users), so matching
is deliberately forgiving:

- The message id is compared after normalisation. A part's `message_key` is the value of its id read as
  hexadecimal, written in decimal, when the id is hex-valid and fits in 64 bits; else the lower-cased id.
  Its `message_key_alt` is the id's value read as decimal when it is all digits. A receipt matches, in
  this order of preference: (1) the same key (same id up to case and leading zeros); (2) its id read as
  decimal equals a part's key (the SMSC returned hex in submit_sm_resp and reports decimal, as in the
  interop capture `mt-ucs2-long-dlr-dec`); (3) its id read as hex equals a part's alt key (decimal in
  the resp, hex in the receipt). Matches of kind 2 and 3 are only taken for parts still awaiting their
  final receipt, so a coincidence of numbers never overrides an exact match or a final state.
- A receipt that matches nothing is kept in `early_receipts`: it may have overtaken its submit_sm_resp.
  The sender looks there when it records parts (`apply_early_receipts_txn`); the sweeper deletes what
  stays unmatched after `receipt_timeout_s`.
- Every `stat` word is mapped (`STAT_OUTCOMES`); the `message_state` TLV wins over the text when present.
  An unknown word is logged and changes nothing.
- Applying is idempotent: a final part never changes again, so the same receipt twice is a no-op.

`apply_receipts_txn` runs inside the LIS's group-commit transaction, so it does a fixed number of
statements per batch (one select for every key, one batched update per table), never one per receipt.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Connection, String, delete, insert, or_, select
from twisted.logger import Logger

from daemon.log_lines import receipt_lines_txn
from daemon.outbox import PartStatus
from daemon.outbox.rollup import rollup_txn
from daemon.schema import early_receipts, outbox_parts
from ledger.fastpath import (
    PreparedSelect,
    bulk_update,
    in_parameter,
    in_parameter_value,
)
from smscore.constants import ESM_CLASS_TYPE_MASK, CommandId, EsmClass, MessageState
from smscore.pdu import PDU
from smscore.text import DataCoding

log = Logger()


class ReceiptOutcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    INTERMEDIATE = "intermediate"  # the message is still on its way; wait for the final receipt


# ACCEPTD, ENROUTE and UNKNOWN are not final (smscore.constants.MessageState.is_final agrees; Kannel
# also treats ACCEPTD/ENROUTE/BUFFRED as "buffered"): the outbox row stays submitted, and a money hook
# waiting on it still fires at deliver_by if no final receipt comes.
STAT_OUTCOMES: dict[str, ReceiptOutcome] = {
    "DELIVRD": ReceiptOutcome.DELIVERED,
    "EXPIRED": ReceiptOutcome.FAILED,
    "DELETED": ReceiptOutcome.FAILED,
    "UNDELIV": ReceiptOutcome.FAILED,
    "REJECTD": ReceiptOutcome.FAILED,
    "ACCEPTD": ReceiptOutcome.INTERMEDIATE,
    "ENROUTE": ReceiptOutcome.INTERMEDIATE,
    "UNKNOWN": ReceiptOutcome.INTERMEDIATE,
    "BUFFRED": ReceiptOutcome.INTERMEDIATE,
}

# Long spellings some SMSCs write instead of the 7-letter words.
_STAT_ALIASES = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "UNDELIVERED": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
    "BUFFERED": "BUFFRED",
}

_RECEIPT_TYPES = frozenset(
    {int(EsmClass.TYPE_DELIVERY_RECEIPT), int(EsmClass.TYPE_INTERMEDIATE_NOTIFICATION)}
)
_MESSAGE_COMMANDS = frozenset({int(CommandId.DELIVER_SM), int(CommandId.DATA_SM)})
_MAX_HEX_DIGITS = 16  # 64-bit ids; longer hex strings (UUIDs...) are compared as text
_MAX_DECIMAL_DIGITS = 20
_HEX = frozenset("0123456789abcdefABCDEF")
_WORD_LENGTH = 8  # receipt_stat / receipt_err / early_receipts column widths

_FIELD = re.compile(r"\b(id|sub|dlvrd|submit\s*date|done\s*date|stat|err|text)\s*:", re.IGNORECASE)


class MalformedReceipt(ValueError):
    """A delivery receipt without a message id: nothing to match. Acknowledge it and log it."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery receipt. `stat` is the normalised word (DELIVRD...), `err` the error code text."""

    bind_name: str
    message_id: str
    stat: str
    err: str
    key: str  # normalised ids, see message_keys
    key_alt: str | None

    @property
    def outcome(self) -> ReceiptOutcome | None:
        """None for a stat word nobody defined: logged and ignored."""
        return STAT_OUTCOMES.get(self.stat)


@dataclass(slots=True)
class ReceiptBatchResult:
    applied: int = 0  # changed a part (final or intermediate)
    unchanged: int = 0  # matched a part already in that state or final (duplicates)
    kept_early: int = 0  # matched nothing yet; stored in early_receipts
    ignored: int = 0  # unknown stat word


# --- message ids --------------------------------------------------------------------------------


def _hex_value(message_id: str) -> str | None:
    digits = message_id.lstrip("0") or "0"
    if message_id and len(digits) <= _MAX_HEX_DIGITS and all(c in _HEX for c in message_id):
        return str(int(message_id, 16))
    return None


def _decimal_value(message_id: str) -> str | None:
    digits = message_id.lstrip("0") or "0"
    if message_id.isascii() and message_id.isdigit() and len(digits) <= _MAX_DECIMAL_DIGITS:
        return str(int(message_id))
    return None


def message_keys(message_id: str) -> tuple[str, str | None]:
    """(key, alt key) of a message id: its hex reading (else lower-cased text), its decimal reading."""
    cleaned = message_id.strip()
    return _hex_value(cleaned) or cleaned.lower(), _decimal_value(cleaned)


def make_receipt(bind_name: str, message_id: str, stat: str, err: str = "") -> Receipt:
    key, key_alt = message_keys(message_id)
    return Receipt(bind_name, message_id.strip(), normalise_stat(stat), err.strip(), key, key_alt)


def normalise_stat(word: str) -> str:
    upper = word.strip().upper()
    return _STAT_ALIASES.get(upper, upper)


# --- parsing ------------------------------------------------------------------------------------


def parse_receipt_text(text: str) -> dict[str, str]:
    """The fields of `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`.

    Keys come back lower-case without spaces (`submitdate`, `donedate`); any may be missing; case and
    spacing are free; `text` runs to the end (it is the message's first characters, anything goes).
    """
    # Nearly every receipt is laid out as SMPP 3.4 Appendix B writes it: one anchored match is a
    # fifth of the general search's cost. Its values hold no colon and no space, so no field name
    # can hide in one and the general search would find exactly these (a test compares the two).
    canonical = _CANONICAL.fullmatch(text)
    if canonical is not None:
        *values, rest = canonical.groups()
        return {**dict(zip(_CANONICAL_NAMES, values, strict=False)), "text": rest.strip()}
    return _parse_any_layout(text)


_CANONICAL = re.compile(
    r"id:([^\s:]*) sub:([^\s:]*) dlvrd:([^\s:]*) submit date:([^\s:]*) done date:([^\s:]*)"
    r" stat:([^\s:]*) err:([^\s:]*) text:(.*)",
    re.IGNORECASE | re.DOTALL,
)
_CANONICAL_NAMES = ("id", "sub", "dlvrd", "submitdate", "donedate", "stat", "err")


def _parse_any_layout(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    for index, match in enumerate(matches):
        name = "".join(match.group(1).lower().split())  # "submit  Date" -> "submitdate"
        if name == "text":
            fields["text"] = text[match.end() :].strip()
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields.setdefault(name, text[match.end() : end].strip())
    return fields


def _first_token(value: str | None) -> str:
    return value.split(maxsplit=1)[0] if value and value.strip() else ""


def is_receipt(pdu: PDU) -> bool:
    """A deliver_sm / data_sm reporting on a message we sent, not an MO.

    esm_class message type "delivery receipt" or "intermediate notification"; also a PDU carrying both
    receipted_message_id and message_state, which some SMSCs send with esm_class 0 (an MO never has them).
    """
    if pdu.command_id not in _MESSAGE_COMMANDS:
        return False
    if getattr(pdu, "esm_class", 0) & ESM_CLASS_TYPE_MASK in _RECEIPT_TYPES:
        return True
    return "receipted_message_id" in pdu.tlvs and "message_state" in pdu.tlvs


def _receipt_text(pdu: PDU) -> str:
    body = getattr(pdu, "short_message", b"") or pdu.tlvs.get("message_payload", b"") or b""
    if getattr(pdu, "data_coding", 0) == DataCoding.UCS2:
        return bytes(body).decode("utf-16-be", errors="replace")
    return bytes(body).decode("latin-1")


def _tlv_message_id(value: Any) -> str:
    if isinstance(value, bytes | bytearray):  # a peer omitted the NUL (see smscore.tlv)
        value = bytes(value).split(b"\x00", 1)[0].decode("latin-1")
    return value.strip() if isinstance(value, str) else ""


def _tlv_stat(value: Any) -> str | None:
    try:
        return MessageState(value).stat
    except ValueError:
        return None


def _network_err(value: Any) -> str:
    code = getattr(value, "error_code", None)
    return f"{code:03d}" if isinstance(code, int) else ""  # as text receipts write it: err:011


def receipt_from_pdu(pdu: PDU, bind_name: str) -> Receipt:
    """The Receipt a receipt PDU carries; TLVs win over the text. MalformedReceipt without an id."""
    fields = parse_receipt_text(_receipt_text(pdu))
    tlvs = pdu.tlvs
    message_id = _tlv_message_id(tlvs.get("receipted_message_id")) or _first_token(fields.get("id"))
    if not message_id:
        raise MalformedReceipt(f"receipt on bind {bind_name} carries no message id")
    stat = _tlv_stat(tlvs.get("message_state")) or _first_token(fields.get("stat"))
    err = _first_token(fields.get("err")) or _network_err(tlvs.get("network_error_code"))
    return make_receipt(bind_name, message_id, stat, err)


# --- matching -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    id: int
    outbox_id: int
    bind_name: str
    key: str
    key_alt: str | None
    status: str
    stat: str | None
    err: str | None

    @property
    def is_final(self) -> bool:
        return self.status != PartStatus.SUBMITTED


_PART_COLUMNS = (
    outbox_parts.c.id,
    outbox_parts.c.outbox_id,
    outbox_parts.c.bind_name,
    outbox_parts.c.message_key,
    outbox_parts.c.message_key_alt,
    outbox_parts.c.status,
    outbox_parts.c.receipt_stat,
    outbox_parts.c.receipt_err,
)  # in _Part's field order


_select_parts = PreparedSelect(
    lambda dialect_name: select(*_PART_COLUMNS).where(
        or_(
            in_parameter(outbox_parts.c.message_key, "keys", dialect_name, String),
            in_parameter(outbox_parts.c.message_key_alt, "keys", dialect_name, String),
        )
    )
)


def _load_parts(conn: Connection, receipts: Sequence[Receipt]) -> dict[str, list[_Part]]:
    """Parts any receipt may match, indexed under both their key and ("alt", alt key)."""
    keys = sorted({r.key for r in receipts} | {r.key_alt for r in receipts if r.key_alt})
    index: dict[Any, list[_Part]] = {}
    rows = _select_parts.all(conn, {"keys": in_parameter_value(conn.dialect.name, keys)})
    for row in rows:
        part = _Part(*row)
        index.setdefault(part.key, []).append(part)
        if part.key_alt:
            index.setdefault(("alt", part.key_alt), []).append(part)
    return index


def _best(parts: list[_Part], bind_name: str) -> _Part:
    # Non-final first, then the receipt's own bind, then the latest part (ids are reused over time).
    return max(parts, key=lambda p: (not p.is_final, p.bind_name == bind_name, p.id))


def _choose(receipt: Receipt, index: dict[Any, list[_Part]]) -> _Part | None:
    exact = index.get(receipt.key)
    if exact:
        return _best(exact, receipt.bind_name)
    loose = [
        part
        for part in (
            *(index.get(receipt.key_alt, ()) if receipt.key_alt else ()),
            *index.get(("alt", receipt.key), ()),
        )
        if not part.is_final
    ]
    return _best(loose, receipt.bind_name) if loose else None


def _apply_to_part(part: _Part, receipt: Receipt, outcome: ReceiptOutcome) -> bool:
    """Update the in-memory part; True if it changed."""
    if part.is_final:
        return False
    stat, err = receipt.stat[:_WORD_LENGTH], receipt.err[:_WORD_LENGTH]
    if outcome is ReceiptOutcome.INTERMEDIATE:
        if (part.stat, part.err) == (stat, err):
            return False
    else:
        part.status = (
            PartStatus.DELIVERED if outcome is ReceiptOutcome.DELIVERED else PartStatus.FAILED
        )
    part.stat, part.err = stat, err
    return True


class _PartUpdate(NamedTuple):
    status: str
    receipt_stat: str | None
    receipt_err: str | None
    done_at_ns: int | None
    id: int


_update_part = bulk_update(outbox_parts, _PartUpdate._fields[:-1])


def _match(
    conn: Connection, receipts: Sequence[Receipt], now_ns: int, result: ReceiptBatchResult
) -> tuple[list[Receipt], set[int]]:
    """Apply what matches; return (receipts that matched nothing, outbox ids whose parts changed)."""
    usable = []
    for receipt in receipts:
        if receipt.outcome is None:
            log.warn(
                "receipt for {id} on {bind}: unknown stat {stat!r}, ignored",
                id=receipt.message_id,
                bind=receipt.bind_name,
                stat=receipt.stat,
            )
            result.ignored += 1
        else:
            usable.append(receipt)
    if not usable:
        return [], set()
    index = _load_parts(conn, usable)
    unmatched: list[Receipt] = []
    changed: dict[int, _Part] = {}
    applied: list[tuple[Receipt, _Part]] = []
    for receipt in usable:
        part = _choose(receipt, index)
        if part is None:
            unmatched.append(receipt)
        elif _apply_to_part(part, receipt, receipt.outcome):  # type: ignore[arg-type]
            changed[part.id] = part
            applied.append((receipt, part))
            result.applied += 1
        else:
            result.unchanged += 1
    if changed:
        _update_part.executemany(conn, [_part_update(part, now_ns) for part in changed.values()])
        receipt_lines_txn(conn, applied)  # one line each, once this transaction commits
    return unmatched, {part.outbox_id for part in changed.values() if part.is_final}


def _part_update(part: _Part, now_ns: int) -> _PartUpdate:
    done_at_ns = now_ns if part.is_final else None
    return _PartUpdate(str(part.status), part.stat, part.err, done_at_ns, part.id)


def apply_receipts_txn(
    conn: Connection, receipts: Sequence[Receipt], now_ns: int
) -> ReceiptBatchResult:
    """Match a batch of receipts to outbox parts, roll up their outbox rows, keep the unmatched.

    Runs in the caller's transaction (the LIS's group commit, before deliver_sm_resp goes back).
    """
    result = ReceiptBatchResult()
    unmatched, touched = _match(conn, receipts, now_ns, result)
    if unmatched:
        conn.execute(insert(early_receipts), [_early_row(r, now_ns) for r in unmatched])
        result.kept_early = len(unmatched)
    rollup_txn(conn, touched, now_ns)
    return result


def _early_row(receipt: Receipt, now_ns: int) -> dict[str, Any]:
    return {
        "bind_name": receipt.bind_name,
        "message_key": receipt.key,
        "message_key_alt": receipt.key_alt,
        "stat": receipt.stat[:_WORD_LENGTH],
        "err": receipt.err[:_WORD_LENGTH],
        "received_at_ns": now_ns,
    }


def apply_early_receipts_txn(
    conn: Connection, part_keys: Sequence[tuple[str, str | None]], now_ns: int
) -> set[int]:
    """Apply kept receipts that match newly recorded parts (keys as from `message_keys`).

    Matched early receipts are deleted. Returns the outbox ids whose parts reached a final state (the
    caller rolls them up once its rows are marked submitted).
    """
    found = _load_early(conn, part_keys)
    if not found:
        return set()
    receipts = [
        Receipt(row.bind_name, "", row.stat, row.err, row.message_key, row.message_key_alt)
        for row in found
    ]
    unmatched, touched = _match(conn, receipts, now_ns, ReceiptBatchResult())
    left = {id(receipt) for receipt in unmatched}
    used = [row.id for row, receipt in zip(found, receipts, strict=True) if id(receipt) not in left]
    if used:
        conn.execute(delete(early_receipts).where(early_receipts.c.id.in_(used)))
    return touched


class _EarlyRow(NamedTuple):
    id: int
    bind_name: str
    message_key: str
    message_key_alt: str | None
    stat: str
    err: str
    received_at_ns: int


_select_early = PreparedSelect(
    lambda dialect_name: select(early_receipts).where(
        or_(
            in_parameter(early_receipts.c.message_key, "keys", dialect_name, String),
            in_parameter(early_receipts.c.message_key_alt, "primary_keys", dialect_name, String),
        )
    ),
    row=_EarlyRow,
)


def _load_early(conn: Connection, part_keys: Sequence[tuple[str, str | None]]) -> list[_EarlyRow]:
    # A kept receipt's key may equal a part's key (same id) or alt key (hex receipt, decimal resp);
    # its alt key may equal a part's key (decimal receipt, hex resp): the three rules of _choose.
    primary = sorted({key for key, _ in part_keys})
    wanted = sorted(set(primary) | {alt for _, alt in part_keys if alt})
    name = conn.dialect.name
    params = {
        "keys": in_parameter_value(name, wanted),
        "primary_keys": in_parameter_value(name, primary),
    }
    return sorted(_select_early.all(conn, params))
