"""Optional parameters (TLVs) of SMPP 3.4 (spec 5.3.2).

A PDU keeps its TLVs in a dict, in wire order: known tags under their spec name with a typed value,
unknown tags under their integer tag with the raw value bytes, so they re-encode byte for byte.
"""

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from smscore.errors import PDUDecodeError, PDUEncodeError
from smscore.status import CommandStatus

_TAG_LEN = struct.Struct(">HH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_NETWORK_ERROR = struct.Struct(">BH")


class NetworkErrorCode(NamedTuple):
    """network_error_code: which network (1 ANSI-136, 2 IS-95, 3 GSM, ...) and its error code."""

    network_type: int
    error_code: int


class TlvSpec(NamedTuple):
    tag: int
    name: str
    kind: str  # u8 | u16 | u32 | cstr | octets | flag | network_error
    min_length: int
    max_length: int


def _spec(tag: int, name: str, kind: str, min_length: int = 0, max_length: int = 0) -> TlvSpec:
    fixed = {"u8": 1, "u16": 2, "u32": 4, "flag": 0, "network_error": 3}.get(kind)
    if fixed is not None:
        min_length = max_length = fixed
    return TlvSpec(tag, name, kind, min_length, max_length)


TLV_SPECS: tuple[TlvSpec, ...] = (
    _spec(0x0005, "dest_addr_subunit", "u8"),
    _spec(0x0006, "dest_network_type", "u8"),
    _spec(0x0007, "dest_bearer_type", "u8"),
    _spec(0x0008, "dest_telematics_id", "u16"),
    _spec(0x000D, "source_addr_subunit", "u8"),
    _spec(0x000E, "source_network_type", "u8"),
    _spec(0x000F, "source_bearer_type", "u8"),
    _spec(0x0010, "source_telematics_id", "u8"),
    _spec(0x0017, "qos_time_to_live", "u32"),
    _spec(0x0019, "payload_type", "u8"),
    _spec(0x001D, "additional_status_info_text", "cstr", 1, 256),
    _spec(0x001E, "receipted_message_id", "cstr", 1, 65),
    _spec(0x0030, "ms_msg_wait_facilities", "u8"),
    _spec(0x0201, "privacy_indicator", "u8"),
    _spec(0x0202, "source_subaddress", "octets", 2, 23),
    _spec(0x0203, "dest_subaddress", "octets", 2, 23),
    _spec(0x0204, "user_message_reference", "u16"),
    _spec(0x0205, "user_response_code", "u8"),
    _spec(0x020A, "source_port", "u16"),
    _spec(0x020B, "destination_port", "u16"),
    _spec(0x020C, "sar_msg_ref_num", "u16"),
    _spec(0x020D, "language_indicator", "u8"),
    _spec(0x020E, "sar_total_segments", "u8"),
    _spec(0x020F, "sar_segment_seqnum", "u8"),
    _spec(0x0210, "sc_interface_version", "u8"),
    _spec(0x0302, "callback_num_pres_ind", "u8"),
    _spec(0x0303, "callback_num_atag", "octets", 0, 65),
    _spec(0x0304, "number_of_messages", "u8"),
    _spec(0x0381, "callback_num", "octets", 4, 19),
    _spec(0x0420, "dpf_result", "u8"),
    _spec(0x0421, "set_dpf", "u8"),
    _spec(0x0422, "ms_availability_status", "u8"),
    _spec(0x0423, "network_error_code", "network_error"),
    _spec(0x0424, "message_payload", "octets", 0, 0xFFFF),
    _spec(0x0425, "delivery_failure_reason", "u8"),
    _spec(0x0426, "more_messages_to_send", "u8"),
    _spec(0x0427, "message_state", "u8"),
    _spec(0x0501, "ussd_service_op", "u8"),
    _spec(0x1201, "display_time", "u8"),
    _spec(0x1203, "sms_signal", "u16"),
    _spec(0x1204, "ms_validity", "u8"),
    _spec(0x130C, "alert_on_message_delivery", "flag"),
    _spec(0x1380, "its_reply_type", "u8"),
    _spec(0x1383, "its_session_info", "octets", 2, 2),
)

TLV_BY_TAG: dict[int, TlvSpec] = {spec.tag: spec for spec in TLV_SPECS}
TLV_BY_NAME: dict[str, TlvSpec] = {spec.name: spec for spec in TLV_SPECS}


def _decode_cstr(raw: bytes) -> str | bytes:
    # Some SMSCs omit the terminating NUL; keep such values as raw bytes so they re-encode unchanged.
    if raw.endswith(b"\x00") and raw.find(b"\x00") == len(raw) - 1:
        return raw[:-1].decode("latin-1")
    return raw


_VALUE_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "u8": lambda raw: raw[0],
    "u16": lambda raw: _U16.unpack(raw)[0],
    "u32": lambda raw: _U32.unpack(raw)[0],
    "cstr": _decode_cstr,
    "octets": bytes,
    "flag": lambda raw: True,
    "network_error": lambda raw: NetworkErrorCode(*_NETWORK_ERROR.unpack(raw)),
}


def decode_tlvs(
    buf: bytes, pos: int, end: int, command_id: int, sequence_number: int
) -> dict[str | int, Any]:
    """Decode the TLVs in buf[pos:end] into a dict (known tags by name, unknown by int tag)."""
    tlvs: dict[str | int, Any] = {}
    while pos < end:
        if end - pos < 4:
            raise _stream_error("truncated TLV header", command_id, sequence_number)
        tag, length = _TAG_LEN.unpack_from(buf, pos)
        pos += 4
        if pos + length > end:
            raise _stream_error(f"TLV 0x{tag:04X} overruns the PDU", command_id, sequence_number)
        raw = bytes(buf[pos : pos + length])
        pos += length
        spec = TLV_BY_TAG.get(tag)
        if spec is None:
            tlvs[tag] = raw
            continue
        if not spec.min_length <= length <= spec.max_length:
            raise PDUDecodeError(
                f"TLV {spec.name} has length {length}, allowed {spec.min_length}..{spec.max_length}",
                CommandStatus.ESME_RINVPARLEN,
                command_id=command_id,
                sequence_number=sequence_number,
            )
        tlvs[spec.name] = _VALUE_DECODERS[spec.kind](raw)
    return tlvs


def _stream_error(detail: str, command_id: int, sequence_number: int) -> PDUDecodeError:
    return PDUDecodeError(
        detail,
        CommandStatus.ESME_RINVOPTPARSTREAM,
        command_id=command_id,
        sequence_number=sequence_number,
    )


def encode_tlvs(tlvs: dict[str | int, Any]) -> bytes:
    """Encode a TLV dict in its order; raises PDUEncodeError for unknown names or bad values."""
    out = []
    for key, value in tlvs.items():
        if isinstance(key, int):
            tag, raw = key, _raw_bytes(key, value)
        else:
            spec = TLV_BY_NAME.get(key)
            if spec is None:
                raise _value_error(f"unknown TLV name {key!r}")
            tag, raw = spec.tag, _encode_value(spec, value)
        out.append(_TAG_LEN.pack(tag, len(raw)))
        out.append(raw)
    return b"".join(out)


def _raw_bytes(tag: int, value: Any) -> bytes:
    if not 0 <= tag <= 0xFFFF or not isinstance(value, bytes | bytearray) or len(value) > 0xFFFF:
        raise _value_error(f"TLV 0x{tag:X} needs a 16-bit tag and at most 65535 raw bytes")
    return bytes(value)


def _encode_value(spec: TlvSpec, value: Any) -> bytes:
    try:
        raw = _VALUE_ENCODERS[spec.kind](value)
    except (struct.error, TypeError, ValueError, OverflowError, IndexError) as exc:
        raise _value_error(f"TLV {spec.name}: bad value {value!r} ({exc})") from exc
    if not spec.min_length <= len(raw) <= spec.max_length:
        raise _value_error(
            f"TLV {spec.name}: encoded length {len(raw)} outside "
            f"{spec.min_length}..{spec.max_length}"
        )
    return raw


def _encode_cstr(value: str | bytes) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if "\x00" in value:
        raise ValueError("a C-Octet String cannot contain NUL")
    return value.encode("latin-1") + b"\x00"


def _require_bytes(value: Any) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError("an octet-string TLV needs bytes")
    return bytes(value)


def _encode_flag(value: Any) -> bytes:
    if value is not True:
        raise ValueError("a flag TLV has the value True (present)")
    return b""


_VALUE_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "u8": lambda value: bytes((value,)),
    "u16": _U16.pack,
    "u32": _U32.pack,
    "cstr": _encode_cstr,
    "octets": _require_bytes,
    "flag": _encode_flag,
    "network_error": lambda value: _NETWORK_ERROR.pack(*value),
}


def _value_error(detail: str) -> PDUEncodeError:
    return PDUEncodeError(detail, CommandStatus.ESME_RINVOPTPARAMVAL)
