"""Compiles a PDU class's field table into its `__init__`, encoder and decoders, once, at import.

The functions are generated as straight-line Python source (no per-field objects, no loops over field
descriptors per PDU) and `exec`-ed with the helpers of smscore.pdu_fields in their namespace: that is
what makes the codec fast while it still checks every limit of the spec. The table itself lives in
smscore.pdu.
"""

import re
import struct
from typing import TYPE_CHECKING, Any

from smscore import tlv
from smscore.constants import HEADER, HEADER_LENGTH, INTERFACE_VERSION_34
from smscore.errors import PDUDecodeError, PDUEncodeError
from smscore.pdu_fields import (
    EMPTY_VALUES,
    MAX_SHORT_MESSAGE_LENGTH,
    Field,
    check_time,
    decode_dests,
    decode_unsuccess,
    encode_dests,
    encode_unsuccess,
    field_error,
    short_body,
    tlv_bytes,
    with_header,
)
from smscore.status import CommandStatus as S

if TYPE_CHECKING:
    from smscore.pdu import PDU

# Runs of this many one-octet fields or more are read with one struct call: measured, one C call
# beats three or more index operations.
_MIN_STRUCT_RUN = 3


def compile_pdu_class(cls: "type[PDU]") -> None:
    """Give `cls` its compiled `__init__`, `encode_pdu`, `decode_body` and `decode_body_careful`."""
    namespace: dict[str, Any] = {
        "cls": cls,
        "PDUDecodeError": PDUDecodeError,
        "PDUEncodeError": PDUEncodeError,
        "decode_tlvs": tlv.decode_tlvs,
        "encode_tlvs": tlv.encode_tlvs,
        "decode_dests": decode_dests,
        "encode_dests": encode_dests,
        "decode_unsuccess": decode_unsuccess,
        "encode_unsuccess": encode_unsuccess,
        "field_error": field_error,
        "short_body": short_body,
        "check_time": check_time,
        "with_header": with_header,
        "tlv_bytes": tlv_bytes,
        "pack_header": HEADER.pack,
        "struct_error": struct.error,
        "CMD": int(cls.command_id),
        "new": object.__new__,
    }
    for run in _u8_runs(cls.FIELDS):
        namespace[f"unpack_from_{run}B"] = struct.Struct(f">{run}B").unpack_from
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


def _fast_decode_source(cls: "type[PDU]") -> str:
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


def _init_source(cls: "type[PDU]") -> str:
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
        default = repr(EMPTY_VALUES[field.kind])
        if field.name == "interface_version":
            default = f"{INTERFACE_VERSION_34:#x}"  # a bind says which version it speaks
        params.append(f"{field.name}={default}")
        body.append(f"    self.{field.name} = {field.name}")
    params.append("tlvs=None")
    body.append("    self.tlvs = {} if tlvs is None else dict(tlvs)")
    return f"def __init__(self, *, {', '.join(params)}):\n" + "\n".join(body)


def _encode_source(cls: "type[PDU]") -> str:
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
    lines.append(f"        raise PDUEncodeError(f'{{cls.name}}: {{exc}}', {int(S.ESME_RSYSERR)},")
    lines.append("                             command_id=CMD,")
    lines.append("                             sequence_number=self.sequence_number) from exc")
    lines.append("    if self.tlvs:")
    lines.append("        body += tlv_bytes(self)")
    lines.append("    try:")
    lines.append(
        f"        return pack_header({HEADER_LENGTH} + len(body), CMD, self.command_status,"
        " self.sequence_number) + body"
    )
    lines.append("    except struct_error:")
    lines.append("        return with_header(self, body)  # raises the typed error")
    return "\n".join(lines)


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


def _decode_source(cls: "type[PDU]") -> str:
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


def _u8_runs(fields: tuple[Field, ...]) -> set[int]:
    """The lengths of the runs of one-octet fields the decoder reads with one struct call."""
    runs, index = set(), 0
    while index < len(fields):
        run = _u8_run(fields, index)
        if run >= _MIN_STRUCT_RUN:
            runs.add(run)
        index += max(run, 1)
    return runs


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
    if run >= _MIN_STRUCT_RUN:
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
