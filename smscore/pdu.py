"""SMPP 3.4 PDUs: one class per command, declared as a table of mandatory fields.

Each class's `__init__`, body encoder and body decoder are compiled from its field table once, at import
time, into straight-line Python (no per-field objects, no loops over field descriptors per PDU): that is
what makes the codec fast while it still checks every limit of the spec.

Optional parameters live in `pdu.tlvs`, a dict in wire order (see smscore.tlv).
"""

import re
import struct
from typing import Any, ClassVar, NamedTuple

from smscore import tlv
from smscore.constants import RESPONSE_BIT, VALID_NPIS, VALID_TONS, CommandId
from smscore.errors import PDUDecodeError, PDUEncodeError
from smscore.smpptime import TIME_LENGTH, validate_smpp_time
from smscore.status import CommandStatus as S

MAX_SHORT_MESSAGE_LENGTH = 254


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
_EMPTY_VALUES: dict[str, Any] = {
    "cstr": "", "time": "", "u8": 0, "u32": 0, "short_message": b"", "dests": [], "unsuccess": [],
}  # fmt: skip


class PDU:
    """Base of every PDU. Subclasses declare `command_id` and `FIELDS`; the rest is compiled."""

    __slots__ = ("command_status", "sequence_number", "tlvs")
    command_id: ClassVar[CommandId]
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    response_class: ClassVar[type["PDU"] | None] = None
    is_response: ClassVar[bool] = False
    name: ClassVar[str] = "pdu"
    field_names: ClassVar[tuple[str, ...]] = ()

    sequence_number: int
    command_status: int
    tlvs: dict[str | int, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.is_response = bool(cls.command_id & RESPONSE_BIT)
        cls.name = cls.command_id.name.lower()
        cls.field_names = tuple(field.name for field in cls.FIELDS)
        _compile(cls)

    def encode_pdu(self) -> bytes:  # replaced per class by _compile
        """The whole PDU on the wire, header included (see smscore.codec.encode)."""
        raise NotImplementedError

    @staticmethod
    def decode_body(sequence_number: int, status: int, buf: bytes, pos: int, end: int) -> "PDU":
        raise NotImplementedError  # replaced per class by _compile

    def make_response(self, status: int = S.ESME_ROK, **fields: Any) -> "PDU":
        """The response to this request, with the same sequence_number."""
        if self.response_class is None:
            raise TypeError(f"{self.name} has no response PDU")
        return self.response_class(
            sequence_number=self.sequence_number, command_status=int(status), **fields
        )

    def has_default_body(self) -> bool:
        return not self.tlvs and all(
            getattr(self, name) == _EMPTY_VALUES[field.kind]
            for name, field in zip(self.field_names, self.FIELDS, strict=True)
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._all_names())

    def __hash__(self) -> int:
        return hash((type(self), self.sequence_number))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._all_names())
        return f"{type(self).__name__}({shown})"

    def _all_names(self) -> tuple[str, ...]:
        return ("sequence_number", "command_status", *self.field_names, "tlvs")


# --- compilation of field tables into functions -------------------------------------------------


def _compile(cls: type[PDU]) -> None:
    namespace: dict[str, Any] = {
        "cls": cls,
        "PDUDecodeError": PDUDecodeError,
        "PDUEncodeError": PDUEncodeError,
        "decode_tlvs": tlv.decode_tlvs,
        "encode_tlvs": tlv.encode_tlvs,
        "decode_dests": _decode_dests,
        "encode_dests": _encode_dests,
        "decode_unsuccess": _decode_unsuccess,
        "encode_unsuccess": _encode_unsuccess,
        "field_error": _field_error,
        "short_body": _short_body,
        "check_time": check_time,
        "with_header": _with_header,
        "tlv_bytes": _tlv_bytes,
        "pack_header": _HEADER.pack,
        "struct_error": struct.error,
        **{f"unpack_from_{n}B": struct.Struct(f">{n}B").unpack_from for n in range(3, 9)},
        "CMD": int(cls.command_id),
        "new": object.__new__,
    }
    for index, field in enumerate(cls.FIELDS):
        namespace[f"F{index}"] = field
        if field.allowed is not None:
            namespace[f"ALLOWED{index}"] = field.allowed
    sources = [_init_source(cls), _encode_source(cls), _decode_source(cls)]
    fast = _fast_pattern(cls.FIELDS)
    if fast is not None:
        namespace["fast_match"] = fast.match
        sources.append(_fast_decode_source(cls))
    exec(compile("\n".join(sources), f"<smscore.pdu {cls.__name__}>", "exec"), namespace)
    cls.__init__ = namespace["__init__"]  # type: ignore[misc]
    cls.encode_pdu = namespace["encode_pdu"]  # type: ignore[method-assign]
    cls.decode_body_careful = staticmethod(namespace["decode_body"])  # type: ignore[attr-defined]
    decoder = namespace["decode_fast" if fast is not None else "decode_body"]
    # A staticmethod: the compiled function already knows its class (no bound method per PDU).
    cls.decode_body = staticmethod(decoder)  # type: ignore[method-assign,assignment]


# --- the fast decoder: one regular expression checks the common shape in C --------------------
#
# For a PDU made of C-strings, one-octet fields and a short_message, a compiled pattern matches the
# whole mandatory part (lengths, TON/NPI sets, flags) at once; times are on the fast path only when
# empty. Whatever the pattern does not match goes to the careful decoder above, which accepts
# exactly the same PDUs and says precisely what is wrong with the others.


def _byte_class(values: frozenset[int]) -> bytes:
    return b"[" + b"".join(re.escape(bytes((value,))) for value in sorted(values)) + b"]"


def _fast_pattern(fields: tuple[Field, ...]) -> re.Pattern[bytes] | None:
    parts = []
    for field in fields:
        if field.kind == "cstr":
            parts.append(b"([^\\x00]{0,%d})\\x00" % (field.max_length - 1))
        elif field.kind == "time":
            parts.append(b"\\x00")  # empty; a set time takes the careful path
        elif field.kind == "u8":
            parts.append(
                b"(.)" if field.allowed is None else b"(" + _byte_class(field.allowed) + b")"
            )
        elif field.kind == "short_message":
            parts.append(b"([\\x00-\\x%02x])" % MAX_SHORT_MESSAGE_LENGTH)
        else:
            return None
    return re.compile(b"".join(parts), re.DOTALL) if parts else None


def _fast_decode_source(cls: type[PDU]) -> str:
    lines = [
        "def decode_fast(seq, status, buf, pos, end):",
        "    m = fast_match(buf, pos, end)",
        "    if m is None:",
        "        return decode_body(seq, status, buf, pos, end)",
        "    g = m.groups()",
        "    self = new(cls)",
        "    self.sequence_number = seq",
        "    self.command_status = status",
    ]
    group = 0
    for field in cls.FIELDS:
        if field.kind == "cstr":
            lines.append(f"    self.{field.name} = g[{group}].decode('latin-1')")
        elif field.kind == "time":
            lines.append(f"    self.{field.name} = ''")
            continue
        elif field.kind == "u8":
            lines.append(f"    self.{field.name} = g[{group}][0]")
        else:  # short_message: the pattern took its length octet
            lines += [
                "    pos = m.end()",
                f"    n = pos + g[{group}][0]",
                "    if n > end:",
                "        return decode_body(seq, status, buf, m.start(), end)",
                f"    self.{field.name} = buf[pos:n]",
            ]
        group += 1
    if cls.FIELDS[-1].kind != "short_message":
        lines.append("    n = m.end()")
    lines.append("    self.tlvs = decode_tlvs(buf, n, end, CMD, seq) if n < end else {}")
    lines.append("    return self")
    return "\n".join(lines)


def _init_source(cls: type[PDU]) -> str:
    params = ["sequence_number=0", "command_status=0"]
    body = [
        "    self.sequence_number = sequence_number",
        "    self.command_status = command_status",
    ]
    for field in cls.FIELDS:
        if field.kind in ("dests", "unsuccess"):
            params.append(f"{field.name}=None")
            body.append(
                f"    self.{field.name} = [] if {field.name} is None else list({field.name})"
            )
            continue
        default = repr(_EMPTY_VALUES[field.kind])
        if field.name == "interface_version":
            default = "0x34"
        params.append(f"{field.name}={default}")
        body.append(f"    self.{field.name} = {field.name}")
    params.append("tlvs=None")
    body.append("    self.tlvs = {} if tlvs is None else dict(tlvs)")
    return f"def __init__(self, *, {', '.join(params)}):\n" + "\n".join(body)


def _encode_source(cls: type[PDU]) -> str:
    """`encode_pdu(self)`: the whole PDU, header included, in one function (one call per PDU)."""
    lines = ["def encode_pdu(self):"]
    if cls.is_response:
        lines.append("    if self.command_status and self.has_default_body():")
        lines.append("        return with_header(self, b'')")  # error responses carry no body
    if not cls.FIELDS:
        lines.append("    return with_header(self, tlv_bytes(self) if self.tlvs else b'')")
        return "\n".join(lines)
    fmt: list[str] = []
    args: list[str] = []
    lines.append("    try:")
    for index, field in enumerate(cls.FIELDS):
        lines.extend("        " + line for line in _encode_field(index, field, fmt, args))
    lines.append(f"        body = b'{''.join(fmt)}' % ({', '.join(args)},)")
    lines.append("    except PDUEncodeError as exc:")  # from a helper: name the PDU
    lines.append("        exc.command_id, exc.sequence_number = CMD, self.sequence_number")
    lines.append("        raise")
    lines.append("    except (TypeError, ValueError, OverflowError, AttributeError) as exc:")
    lines.append("        raise PDUEncodeError(f'{cls.name}: {exc}', 0x08, command_id=CMD,")
    lines.append("                             sequence_number=self.sequence_number) from exc")
    lines.append("    if self.tlvs:")
    lines.append("        body += tlv_bytes(self)")
    lines.append("    try:")
    lines.append(
        "        return pack_header(16 + len(body), CMD, self.command_status, self.sequence_number) + body"
    )
    lines.append("    except struct_error:")
    lines.append("        return with_header(self, body)  # raises the typed error")
    return "\n".join(lines)


def _tlv_bytes(pdu: PDU) -> bytes:
    try:
        return tlv.encode_tlvs(pdu.tlvs)
    except PDUEncodeError as exc:  # name the PDU, so a session can tell its caller
        exc.command_id = int(pdu.command_id)
        exc.sequence_number = pdu.sequence_number
        raise


def _with_header(pdu: PDU, body: bytes) -> bytes:
    try:
        return (
            _HEADER.pack(16 + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number)
            + body
        )
    except struct.error as exc:
        raise PDUEncodeError(
            f"{pdu.name}: command_status and sequence_number must fit in 32 bits",
            S.ESME_RSYSERR,
            command_id=int(pdu.command_id),
            sequence_number=pdu.sequence_number,
        ) from exc


_HEADER = struct.Struct(">IIII")


def _encode_field(index: int, field: Field, fmt: list[str], args: list[str]) -> list[str]:
    name, var = field.name, f"v{index}"
    if field.kind in ("cstr", "time"):
        fmt.append("%s\\x00")
        args.append(var)
        # Most C-strings are empty (service_type, times); they skip the encode and the checks.
        lines = [
            f"{var} = self.{name}",
            f"if {var} == '':",
            f"    {var} = b''",
            "else:",
            f"    {var} = {var}.encode('latin-1')",
            f"    if len({var}) >= {field.max_length} or b'\\x00' in {var}:",
            f"        raise field_error(cls, F{index}, self.{name}, PDUEncodeError, self.sequence_number)",
        ]
        if field.kind == "time":
            lines.append(
                f"    check_time(cls, F{index}, self.{name}, self.sequence_number, PDUEncodeError)"
            )
        return lines
    if field.kind == "u8":
        fmt.append("%c")
        if field.allowed is None:
            args.append(f"self.{name}")
            return []
        args.append(var)
        return [
            f"{var} = self.{name}",
            f"if {var} not in ALLOWED{index}:",
            f"    raise field_error(cls, F{index}, {var}, PDUEncodeError, self.sequence_number)",
        ]
    if field.kind == "short_message":
        fmt.append("%c%s")
        args.extend((f"len({var})", var))
        return [
            f"{var} = self.{name}",
            f"if len({var}) > {MAX_SHORT_MESSAGE_LENGTH}:",
            f"    raise field_error(cls, F{index}, {var}, PDUEncodeError, self.sequence_number)",
        ]
    encoder = {"dests": "encode_dests", "unsuccess": "encode_unsuccess"}[field.kind]
    fmt.append("%s")
    args.append(var)
    return [f"{var} = {encoder}(cls, F{index}, self.{name})"]


def _decode_source(cls: type[PDU]) -> str:
    lines = [
        "def decode_body(seq, status, buf, pos, end):",
        "    self = new(cls)",
        "    self.sequence_number = seq",
        "    self.command_status = status",
    ]
    if any(field.kind in ("cstr", "time") for field in cls.FIELDS):
        lines.append("    find = buf.find")
    if cls.is_response and cls.FIELDS:
        lines.append("    if pos == end:")  # an error response without a body
        lines.append("        cls.__init__(self, sequence_number=seq, command_status=status)")
        lines.append("        return self")
    index = 0
    while index < len(cls.FIELDS):
        run = _u8_run(cls.FIELDS, index)
        if run > 1:
            body = _decode_u8_run(cls.FIELDS, index, run)
            index += run
        else:
            body = _decode_field(index, cls.FIELDS[index])
            index += 1
        lines.extend("    " + line for line in body)
    lines.append("    self.tlvs = decode_tlvs(buf, pos, end, CMD, seq) if pos < end else {}")
    lines.append("    return self")
    return "\n".join(lines)


def _u8_run(fields: tuple[Field, ...], start: int) -> int:
    run = 0
    while start + run < len(fields) and fields[start + run].kind == "u8":
        run += 1
    return run


def _decode_u8_run(fields: tuple[Field, ...], start: int, run: int) -> list[str]:
    """Consecutive one-octet fields: one bounds check, locals, then the value checks."""
    names = [f"u{start + offset}" for offset in range(run)]
    lines = [
        f"if pos + {run} > end:",
        f"    raise short_body(cls, cls.FIELDS[{start} + max(end - pos, 0)], seq)",
    ]
    if run >= 3:  # one C call beats three or more index operations
        lines.append(f"{', '.join(names)} = unpack_from_{run}B(buf, pos)")
    else:
        lines += [
            f"{name} = buf[pos + {offset}]" if offset else f"{name} = buf[pos]"
            for offset, name in enumerate(names)
        ]
    for offset, name in enumerate(names):
        index = start + offset
        if fields[index].allowed is not None:
            lines.append(f"if {name} not in ALLOWED{index}:")
            lines.append(f"    raise field_error(cls, F{index}, {name}, PDUDecodeError, seq)")
    targets = ", ".join(f"self.{fields[start + offset].name}" for offset in range(run))
    lines.append(f"{targets} = {', '.join(names)}")
    lines.append(f"pos += {run}")
    return lines


def _decode_field(index: int, field: Field) -> list[str]:
    name = field.name
    if field.kind in ("cstr", "time"):
        # Empty strings are common (service_type, times): one index test, no search, no decode.
        lines = [
            "if pos < end and buf[pos] == 0:",
            f"    self.{name} = ''",
            "    pos += 1",
            "else:",
            "    n = find(0, pos, end)",
            f"    if n < 0 or n - pos >= {field.max_length}:",
            f"        raise field_error(cls, F{index}, buf[pos:end], PDUDecodeError, seq)",
            f"    self.{name} = buf[pos:n].decode('latin-1')",
            "    pos = n + 1",
        ]
        if field.kind == "time":
            lines.append(f"    check_time(cls, F{index}, self.{name}, seq, PDUDecodeError)")
        return lines
    if field.kind == "u8":
        lines = [
            "if pos >= end:",
            f"    raise short_body(cls, F{index}, seq)",
            f"self.{name} = buf[pos]",
            "pos += 1",
        ]
        if field.allowed is not None:
            lines += [
                f"if self.{name} not in ALLOWED{index}:",
                f"    raise field_error(cls, F{index}, self.{name}, PDUDecodeError, seq)",
            ]
        return lines
    if field.kind == "short_message":
        return [
            "if pos >= end:",
            f"    raise short_body(cls, F{index}, seq)",
            "n = pos + 1 + buf[pos]",
            f"if n > end or n - pos > {MAX_SHORT_MESSAGE_LENGTH + 1}:",
            f"    raise short_body(cls, F{index}, seq)",
            f"self.{name} = buf[pos + 1:n]",
            "pos = n",
        ]
    decoder = {"dests": "decode_dests", "unsuccess": "decode_unsuccess"}[field.kind]
    return [f"self.{name}, pos = {decoder}(cls, F{index}, buf, pos, end, seq)"]


# --- helpers the compiled functions call (errors and the two list-valued fields) --------------


def _field_error(
    cls: type[PDU], field: Field, value: Any, error: type[Exception], seq: int | None = None
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


def _short_body(cls: type[PDU], field: Field, seq: int) -> PDUDecodeError:
    return PDUDecodeError(
        f"{cls.name} body ends before its mandatory field {field.name}",
        S.ESME_RINVCMDLEN if field.kind != "short_message" else S.ESME_RINVMSGLEN,
        command_id=int(cls.command_id),
        sequence_number=seq,
    )


def check_time(
    cls: type[PDU], field: Field, value: str, seq: int | None, error: type[PDUDecodeError]
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


def _decode_dests(
    cls: type[PDU], field: Field, buf: bytes, pos: int, end: int, seq: int
) -> tuple[list[DestAddress | DistributionList], int]:
    if pos >= end:
        raise _short_body(cls, field, seq)
    count, pos = buf[pos], pos + 1
    if count == 0:  # the spec's range is 1..255, and the encoder refuses 0 too
        raise _multi_error(cls, "number_of_dests 0", S.ESME_RINVNUMDESTS, seq)
    dests: list[DestAddress | DistributionList] = []
    for _ in range(count):
        flag = buf[pos] if pos < end else None
        if flag == 1:
            ton, npi = (buf[pos + 1], buf[pos + 2]) if pos + 3 <= end else (-1, -1)
            text = _read_cstr(buf, pos + 3, end, 21) if ton >= 0 else None
            if text is None or ton not in VALID_TONS or npi not in VALID_NPIS:
                raise _multi_error(cls, "destination SME address", S.ESME_RINVDSTADR, seq)
            dests.append(DestAddress(ton, npi, text[0]))
        elif flag == 2:
            text = _read_cstr(buf, pos + 1, end, 21)
            if text is None:
                raise _multi_error(cls, "distribution list name", S.ESME_RINVDLNAME, seq)
            dests.append(DistributionList(text[0]))
        else:
            raise _multi_error(cls, f"dest_flag {flag}", S.ESME_RINVDESTFLAG, seq)
        pos = text[1]
    return dests, pos


def _encode_dests(cls: type[PDU], field: Field, dests: list[Any]) -> bytes:
    if not 1 <= len(dests) <= 255:
        raise PDUEncodeError(f"{cls.name} needs 1..255 destinations", S.ESME_RINVNUMDESTS)
    out = [bytes((len(dests),))]
    for dest in dests:
        if isinstance(dest, DestAddress):
            if dest.ton not in VALID_TONS or dest.npi not in VALID_NPIS or not _fits(dest.addr):
                raise PDUEncodeError(f"{cls.name}: bad destination {dest!r}", S.ESME_RINVDSTADR)
            out.append(b"\x01%c%c%s\x00" % (dest.ton, dest.npi, dest.addr.encode("latin-1")))
        elif isinstance(dest, DistributionList) and _fits(dest.name):
            out.append(b"\x02%s\x00" % dest.name.encode("latin-1"))
        else:
            raise PDUEncodeError(f"{cls.name}: bad destination {dest!r}", S.ESME_RINVDESTFLAG)
    return b"".join(out)


def _fits(address: str) -> bool:
    """A submit_multi address: a C-Octet String of at most 20 characters (21 with its NUL)."""
    return len(address) <= 20 and "\x00" not in address


def _decode_unsuccess(
    cls: type[PDU], field: Field, buf: bytes, pos: int, end: int, seq: int
) -> tuple[list[UnsuccessSme], int]:
    if pos >= end:
        raise _short_body(cls, field, seq)
    count, pos = buf[pos], pos + 1
    entries = []
    for _ in range(count):
        text = _read_cstr(buf, pos + 2, end, 21) if pos + 2 <= end else None
        if text is None or text[1] + 4 > end:
            raise _multi_error(cls, "unsuccess_sme entry", S.ESME_RINVCMDLEN, seq)
        error_code = int.from_bytes(buf[text[1] : text[1] + 4], "big")
        entries.append(UnsuccessSme(buf[pos], buf[pos + 1], text[0], error_code))
        pos = text[1] + 4
    return entries, pos


def _encode_unsuccess(cls: type[PDU], field: Field, entries: list[UnsuccessSme]) -> bytes:
    if len(entries) > 255:
        raise PDUEncodeError(f"{cls.name}: at most 255 unsuccess_sme entries", S.ESME_RSYSERR)
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
                entry.error_status_code.to_bytes(4, "big"),
            )
        )
    return b"".join(out)


def _multi_error(cls: type[PDU], what: str, status: S, seq: int) -> PDUDecodeError:
    return PDUDecodeError(
        f"{cls.name}: invalid {what}", status, command_id=int(cls.command_id), sequence_number=seq
    )


# --- the PDUs of SMPP 3.4 (spec chapter 4) ----------------------------------------------------

_TONS, _NPIS = VALID_TONS, VALID_NPIS
_BIND_FIELDS = (
    cstr("system_id", 16, S.ESME_RINVSYSID),
    cstr("password", 9, S.ESME_RINVPASWD),
    cstr("system_type", 13, S.ESME_RINVSYSTYP),
    u8("interface_version"),
    u8("addr_ton", S.ESME_RINVSRCTON, _TONS),
    u8("addr_npi", S.ESME_RINVSRCNPI, _NPIS),
    cstr("address_range", 41, S.ESME_RINVSRCADR),
)
_BIND_RESP_FIELDS = (cstr("system_id", 16, S.ESME_RINVSYSID),)
_MESSAGE_ID = (cstr("message_id", 65, S.ESME_RINVMSGID),)


def _source(max_length: int) -> tuple[Field, ...]:
    return (
        u8("source_addr_ton", S.ESME_RINVSRCTON, _TONS),
        u8("source_addr_npi", S.ESME_RINVSRCNPI, _NPIS),
        cstr("source_addr", max_length, S.ESME_RINVSRCADR),
    )


def _dest(max_length: int) -> tuple[Field, ...]:
    return (
        u8("dest_addr_ton", S.ESME_RINVDSTTON, _TONS),
        u8("dest_addr_npi", S.ESME_RINVDSTNPI, _NPIS),
        cstr("destination_addr", max_length, S.ESME_RINVDSTADR),
    )


_SERVICE_TYPE = (cstr("service_type", 6, S.ESME_RINVSERTYP),)
_MESSAGE_TAIL = (
    u8("esm_class", S.ESME_RINVESMCLASS),
    u8("protocol_id"),
    u8("priority_flag", S.ESME_RINVPRTFLG, frozenset(range(4))),
    time_field("schedule_delivery_time", S.ESME_RINVSCHED),
    time_field("validity_period", S.ESME_RINVEXPIRY),
    u8("registered_delivery", S.ESME_RINVREGDLVFLG),
    u8("replace_if_present_flag", S.ESME_RINVREPFLAG, frozenset((0, 1))),
    u8("data_coding"),
    u8("sm_default_msg_id", S.ESME_RINVDFTMSGID),
    Field("short_message", "short_message", S.ESME_RINVMSGLEN),
)
_SM_FIELDS = _SERVICE_TYPE + _source(21) + _dest(21) + _MESSAGE_TAIL


class BindTransmitter(PDU):
    __slots__ = tuple(f.name for f in _BIND_FIELDS)
    command_id = CommandId.BIND_TRANSMITTER
    FIELDS = _BIND_FIELDS


class BindTransmitterResp(PDU):
    __slots__ = ("system_id",)
    command_id = CommandId.BIND_TRANSMITTER_RESP
    FIELDS = _BIND_RESP_FIELDS


class BindReceiver(PDU):
    __slots__ = tuple(f.name for f in _BIND_FIELDS)
    command_id = CommandId.BIND_RECEIVER
    FIELDS = _BIND_FIELDS


class BindReceiverResp(PDU):
    __slots__ = ("system_id",)
    command_id = CommandId.BIND_RECEIVER_RESP
    FIELDS = _BIND_RESP_FIELDS


class BindTransceiver(PDU):
    __slots__ = tuple(f.name for f in _BIND_FIELDS)
    command_id = CommandId.BIND_TRANSCEIVER
    FIELDS = _BIND_FIELDS


class BindTransceiverResp(PDU):
    __slots__ = ("system_id",)
    command_id = CommandId.BIND_TRANSCEIVER_RESP
    FIELDS = _BIND_RESP_FIELDS


class Outbind(PDU):
    __slots__ = ("password", "system_id")
    command_id = CommandId.OUTBIND
    FIELDS = (cstr("system_id", 16, S.ESME_RINVSYSID), cstr("password", 9, S.ESME_RINVPASWD))


class Unbind(PDU):
    __slots__ = ()
    command_id = CommandId.UNBIND


class UnbindResp(PDU):
    __slots__ = ()
    command_id = CommandId.UNBIND_RESP


class EnquireLink(PDU):
    __slots__ = ()
    command_id = CommandId.ENQUIRE_LINK


class EnquireLinkResp(PDU):
    __slots__ = ()
    command_id = CommandId.ENQUIRE_LINK_RESP


class GenericNack(PDU):
    __slots__ = ()
    command_id = CommandId.GENERIC_NACK


class SubmitSm(PDU):
    __slots__ = tuple(f.name for f in _SM_FIELDS)
    command_id = CommandId.SUBMIT_SM
    FIELDS = _SM_FIELDS


class SubmitSmResp(PDU):
    __slots__ = ("message_id",)
    command_id = CommandId.SUBMIT_SM_RESP
    FIELDS = _MESSAGE_ID


class DeliverSm(PDU):
    __slots__ = tuple(f.name for f in _SM_FIELDS)
    command_id = CommandId.DELIVER_SM
    FIELDS = _SM_FIELDS


class DeliverSmResp(PDU):
    __slots__ = ("message_id",)
    command_id = CommandId.DELIVER_SM_RESP
    FIELDS = _MESSAGE_ID


_MULTI_FIELDS = (
    _SERVICE_TYPE
    + _source(21)
    + (Field("dest_addresses", "dests", S.ESME_RINVNUMDESTS),)
    + _MESSAGE_TAIL
)


class SubmitMulti(PDU):
    __slots__ = tuple(f.name for f in _MULTI_FIELDS)
    command_id = CommandId.SUBMIT_MULTI
    FIELDS = _MULTI_FIELDS


class SubmitMultiResp(PDU):
    __slots__ = ("message_id", "unsuccess_smes")
    command_id = CommandId.SUBMIT_MULTI_RESP
    FIELDS = (*_MESSAGE_ID, Field("unsuccess_smes", "unsuccess", S.ESME_RSYSERR))


_DATA_SM_FIELDS = (
    _SERVICE_TYPE
    + _source(65)
    + _dest(65)
    + (
        u8("esm_class", S.ESME_RINVESMCLASS),
        u8("registered_delivery", S.ESME_RINVREGDLVFLG),
        u8("data_coding"),
    )
)


class DataSm(PDU):
    __slots__ = tuple(f.name for f in _DATA_SM_FIELDS)
    command_id = CommandId.DATA_SM
    FIELDS = _DATA_SM_FIELDS


class DataSmResp(PDU):
    __slots__ = ("message_id",)
    command_id = CommandId.DATA_SM_RESP
    FIELDS = _MESSAGE_ID


_QUERY_FIELDS = _MESSAGE_ID + _source(21)


class QuerySm(PDU):
    __slots__ = tuple(f.name for f in _QUERY_FIELDS)
    command_id = CommandId.QUERY_SM
    FIELDS = _QUERY_FIELDS


_QUERY_RESP_FIELDS = (
    *_MESSAGE_ID,
    time_field("final_date", S.ESME_RSYSERR),
    u8("message_state"),
    u8("error_code"),
)


class QuerySmResp(PDU):
    __slots__ = tuple(f.name for f in _QUERY_RESP_FIELDS)
    command_id = CommandId.QUERY_SM_RESP
    FIELDS = _QUERY_RESP_FIELDS


_CANCEL_FIELDS = _SERVICE_TYPE + _MESSAGE_ID + _source(21) + _dest(21)


class CancelSm(PDU):
    __slots__ = tuple(f.name for f in _CANCEL_FIELDS)
    command_id = CommandId.CANCEL_SM
    FIELDS = _CANCEL_FIELDS


class CancelSmResp(PDU):
    __slots__ = ()
    command_id = CommandId.CANCEL_SM_RESP


_REPLACE_FIELDS = (
    _MESSAGE_ID
    + _source(21)
    + (
        time_field("schedule_delivery_time", S.ESME_RINVSCHED),
        time_field("validity_period", S.ESME_RINVEXPIRY),
        u8("registered_delivery", S.ESME_RINVREGDLVFLG),
        u8("sm_default_msg_id", S.ESME_RINVDFTMSGID),
        Field("short_message", "short_message", S.ESME_RINVMSGLEN),
    )
)


class ReplaceSm(PDU):
    __slots__ = tuple(f.name for f in _REPLACE_FIELDS)
    command_id = CommandId.REPLACE_SM
    FIELDS = _REPLACE_FIELDS


class ReplaceSmResp(PDU):
    __slots__ = ()
    command_id = CommandId.REPLACE_SM_RESP


_ALERT_FIELDS = (
    *_source(65),
    u8("esme_addr_ton", S.ESME_RINVDSTTON, _TONS),
    u8("esme_addr_npi", S.ESME_RINVDSTNPI, _NPIS),
    cstr("esme_addr", 65, S.ESME_RINVDSTADR),
)


class AlertNotification(PDU):
    __slots__ = tuple(f.name for f in _ALERT_FIELDS)
    command_id = CommandId.ALERT_NOTIFICATION
    FIELDS = _ALERT_FIELDS


PDU_CLASSES: dict[int, type[PDU]] = {
    int(cls.command_id): cls
    for cls in (
        BindTransmitter, BindTransmitterResp, BindReceiver, BindReceiverResp,
        BindTransceiver, BindTransceiverResp, Outbind, Unbind, UnbindResp,
        EnquireLink, EnquireLinkResp, GenericNack, SubmitSm, SubmitSmResp,
        DeliverSm, DeliverSmResp, SubmitMulti, SubmitMultiResp, DataSm, DataSmResp,
        QuerySm, QuerySmResp, CancelSm, CancelSmResp, ReplaceSm, ReplaceSmResp,
        AlertNotification,
    )
}  # fmt: skip


def _link_responses() -> None:
    for command_id, cls in PDU_CLASSES.items():
        if not command_id & RESPONSE_BIT:
            cls.response_class = PDU_CLASSES.get(command_id | RESPONSE_BIT)


_link_responses()
