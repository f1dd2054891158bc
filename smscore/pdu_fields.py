"""The vocabulary of the PDU table (smscore.pdu) and what the compiled codecs call at run time.

`Field` and its constructors describe one mandatory field; `smscore.pdu_compiler` turns a tuple of them
into straight-line Python. The functions below are the parts of that code that are not worth
inlining: building typed errors, and the two list-valued fields of submit_multi(_resp).
"""

import struct
from typing import TYPE_CHECKING, Any, NamedTuple

from smscore import tlv
from smscore.constants import HEADER, HEADER_LENGTH, VALID_NPIS, VALID_TONS
from smscore.errors import PDUDecodeError, PDUEncodeError
from smscore.smpptime import TIME_LENGTH, validate_smpp_time
from smscore.status import CommandStatus as S

if TYPE_CHECKING:
    from smscore.pdu import PDU

# sm_length is one octet, and spec 5.2.22 caps short_message at 254 octets (longer: message_payload).
MAX_SHORT_MESSAGE_LENGTH = 254
# submit_multi (spec 4.5.1): number_of_dests and no_unsuccess are one octet each.
MAX_MULTI_ENTRIES = 255
# submit_multi's destination_addr and dl_name: C-Octet Strings of at most 21 octets with the NUL.
MULTI_ADDRESS_MAX_LENGTH = 21
# dest_flag (spec 5.2.25): what follows in a submit_multi destination.
DEST_FLAG_SME_ADDRESS = 1
DEST_FLAG_DISTRIBUTION_LIST = 2
ERROR_STATUS_CODE_LENGTH = 4  # unsuccess_sme's error_status_code: a 4-octet integer


class Field(NamedTuple):
    """A mandatory field: `kind` is cstr | time | u8 | u32 | short_message | dests | unsuccess."""

    name: str
    kind: str
    status: S  # the command_status that answers a bad value in this field
    max_length: int = 0  # C-Octet Strings: including the terminating NUL
    allowed: frozenset[int] | None = None


def cstr(name: str, max_length: int, status: S = S.ESME_RSYSERR) -> Field:
    return Field(name, "cstr", status, max_length)


def u8(name: str, status: S = S.ESME_RSYSERR, allowed: frozenset[int] | None = None) -> Field:
    return Field(name, "u8", status, allowed=allowed)


def time_field(name: str, status: S) -> Field:
    return Field(name, "time", status, TIME_LENGTH + 1)


class DestAddress(NamedTuple):
    """A submit_multi destination that is an SME address (dest_flag 1)."""

    ton: int
    npi: int
    addr: str


class DistributionList(NamedTuple):
    """A submit_multi destination that is a distribution list name (dest_flag 2)."""

    name: str


class UnsuccessSme(NamedTuple):
    """A submit_multi_resp entry for a destination the SMSC could not accept."""

    ton: int
    npi: int
    addr: str
    error_status_code: int


# The value of a field nobody set, per kind; `__init__` defaults and has_default_body both use it.
EMPTY_VALUES: dict[str, Any] = {
    "cstr": "", "time": "", "u8": 0, "u32": 0, "short_message": b"", "dests": [], "unsuccess": [],
}  # fmt: skip


def tlv_bytes(pdu: "PDU") -> bytes:
    try:
        return tlv.encode_tlvs(pdu.tlvs)
    except PDUEncodeError as exc:  # name the PDU, so a session can tell its caller
        exc.command_id = int(pdu.command_id)
        exc.sequence_number = pdu.sequence_number
        raise


def with_header(pdu: "PDU", body: bytes) -> bytes:
    try:
        return (
            HEADER.pack(
                HEADER_LENGTH + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number
            )
            + body
        )
    except struct.error as exc:
        raise PDUEncodeError(
            f"{pdu.name}: command_status and sequence_number must fit in 32 bits",
            S.ESME_RSYSERR,
            command_id=int(pdu.command_id),
            sequence_number=pdu.sequence_number,
        ) from exc


# --- helpers the compiled functions call (errors and the two list-valued fields) --------------


def field_error(
    cls: "type[PDU]", field: Field, value: Any, error: type[Exception], seq: int | None = None
) -> Exception:
    if field.kind in ("cstr", "time"):
        detail = f"must be a C-Octet String of at most {field.max_length - 1} characters"
    elif field.kind == "short_message":
        detail = f"must be at most {MAX_SHORT_MESSAGE_LENGTH} octets (use message_payload)"
    else:
        detail = f"must be one of {sorted(field.allowed or ())}"
    return error(
        f"{cls.name}.{field.name} {detail}, got {value!r}",
        field.status,
        command_id=int(cls.command_id),
        sequence_number=seq,
    )


def short_body(cls: "type[PDU]", field: Field, seq: int) -> PDUDecodeError:
    return PDUDecodeError(
        f"{cls.name} body ends before its mandatory field {field.name}",
        S.ESME_RINVCMDLEN if field.kind != "short_message" else S.ESME_RINVMSGLEN,
        command_id=int(cls.command_id),
        sequence_number=seq,
    )


def check_time(
    cls: "type[PDU]", field: Field, value: str, seq: int | None, error: type[PDUDecodeError]
) -> None:
    try:
        validate_smpp_time(value)
    except ValueError as exc:
        raise error(
            f"{cls.name}.{field.name}: {exc}",
            field.status,
            command_id=int(cls.command_id),
            sequence_number=seq,
        ) from exc


def _read_cstr(buf: bytes, pos: int, end: int, max_length: int) -> tuple[str, int] | None:
    n = buf.find(0, pos, end)
    if n < 0 or n - pos >= max_length:
        return None
    return buf[pos:n].decode("latin-1"), n + 1


def decode_dests(
    cls: "type[PDU]", field: Field, buf: bytes, pos: int, end: int, seq: int
) -> tuple[list[DestAddress | DistributionList], int]:
    if pos >= end:
        raise short_body(cls, field, seq)
    count, pos = buf[pos], pos + 1
    if count == 0:  # the spec's range is 1..MAX_MULTI_ENTRIES, and the encoder refuses 0 too
        raise _multi_error(cls, "number_of_dests 0", S.ESME_RINVNUMDESTS, seq)
    dests: list[DestAddress | DistributionList] = []
    for _ in range(count):
        flag = buf[pos] if pos < end else None
        if flag == DEST_FLAG_SME_ADDRESS:  # dest_flag, ton, npi, then the address
            ton, npi = (buf[pos + 1], buf[pos + 2]) if pos + 3 <= end else (-1, -1)
            text = _read_cstr(buf, pos + 3, end, MULTI_ADDRESS_MAX_LENGTH) if ton >= 0 else None
            if text is None or ton not in VALID_TONS or npi not in VALID_NPIS:
                raise _multi_error(cls, "destination SME address", S.ESME_RINVDSTADR, seq)
            dests.append(DestAddress(ton, npi, text[0]))
        elif flag == DEST_FLAG_DISTRIBUTION_LIST:
            text = _read_cstr(buf, pos + 1, end, MULTI_ADDRESS_MAX_LENGTH)
            if text is None:
                raise _multi_error(cls, "distribution list name", S.ESME_RINVDLNAME, seq)
            dests.append(DistributionList(text[0]))
        else:
            raise _multi_error(cls, f"dest_flag {flag}", S.ESME_RINVDESTFLAG, seq)
        pos = text[1]
    return dests, pos


def encode_dests(cls: "type[PDU]", field: Field, dests: list[Any]) -> bytes:
    if not 1 <= len(dests) <= MAX_MULTI_ENTRIES:
        raise PDUEncodeError(
            f"{cls.name} needs 1..{MAX_MULTI_ENTRIES} destinations", S.ESME_RINVNUMDESTS
        )
    out = [bytes((len(dests),))]
    for dest in dests:
        if isinstance(dest, DestAddress):
            if dest.ton not in VALID_TONS or dest.npi not in VALID_NPIS or not _fits(dest.addr):
                raise PDUEncodeError(f"{cls.name}: bad destination {dest!r}", S.ESME_RINVDSTADR)
            address = dest.addr.encode("latin-1")
            out.append(b"%c%c%c%s\x00" % (DEST_FLAG_SME_ADDRESS, dest.ton, dest.npi, address))
        elif isinstance(dest, DistributionList) and _fits(dest.name):
            name = dest.name.encode("latin-1")
            out.append(b"%c%s\x00" % (DEST_FLAG_DISTRIBUTION_LIST, name))
        else:
            raise PDUEncodeError(f"{cls.name}: bad destination {dest!r}", S.ESME_RINVDESTFLAG)
    return b"".join(out)


def _fits(address: str) -> bool:
    """A submit_multi address: a C-Octet String that fits MULTI_ADDRESS_MAX_LENGTH with its NUL."""
    return len(address) < MULTI_ADDRESS_MAX_LENGTH and "\x00" not in address


def decode_unsuccess(
    cls: "type[PDU]", field: Field, buf: bytes, pos: int, end: int, seq: int
) -> tuple[list[UnsuccessSme], int]:
    if pos >= end:
        raise short_body(cls, field, seq)
    count, pos = buf[pos], pos + 1
    entries = []
    for _ in range(count):
        # ton, npi, the address, then error_status_code
        text = _read_cstr(buf, pos + 2, end, MULTI_ADDRESS_MAX_LENGTH) if pos + 2 <= end else None
        code_end = text[1] + ERROR_STATUS_CODE_LENGTH if text is not None else end + 1
        if text is None or code_end > end:
            raise _multi_error(cls, "unsuccess_sme entry", S.ESME_RINVCMDLEN, seq)
        error_code = int.from_bytes(buf[text[1] : code_end], "big")
        entries.append(UnsuccessSme(buf[pos], buf[pos + 1], text[0], error_code))
        pos = code_end
    return entries, pos


def encode_unsuccess(cls: "type[PDU]", field: Field, entries: list[UnsuccessSme]) -> bytes:
    if len(entries) > MAX_MULTI_ENTRIES:
        raise PDUEncodeError(
            f"{cls.name}: at most {MAX_MULTI_ENTRIES} unsuccess_sme entries", S.ESME_RSYSERR
        )
    out = [bytes((len(entries),))]
    for entry in entries:
        if not _fits(entry.addr):
            raise PDUEncodeError(f"{cls.name}: address too long {entry!r}", S.ESME_RINVDSTADR)
        out.append(
            b"%c%c%s\x00%s"
            % (
                entry.ton,
                entry.npi,
                entry.addr.encode("latin-1"),
                entry.error_status_code.to_bytes(ERROR_STATUS_CODE_LENGTH, "big"),
            )
        )
    return b"".join(out)


def _multi_error(cls: "type[PDU]", what: str, status: S, seq: int) -> PDUDecodeError:
    return PDUDecodeError(
        f"{cls.name}: invalid {what}", status, command_id=int(cls.command_id), sequence_number=seq
    )
