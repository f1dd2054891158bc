"""The codec of each USSD dialect: a PDU's optional parameters <-> a dialect-free UssdMessage.

Both directions serve both sides: the daemon reads deliver_sm and writes submit_sm, the simulator
reads submit_sm and writes deliver_sm, with the same two functions:

    read_ussd(dialect, pdu) -> UssdMessage | None      (None: the PDU is no USSD)
    ussd_submit_params(dialect, msg) -> dict           (keyword arguments of SubmitSm / DeliverSm)

The dialects (smscore.ussd.Dialect):

- smpp34: SMPP 3.4's own TLVs. `ussd_service_op` (5.3.2.44) carries the operation,
  `its_session_info` (5.3.2.43) the dialogue: octet 1 is the session number (0-255, the session
  key as text), octet 2 bits 7..1 the sequence number of the dialogue unit, bit 0 the end of session
  indicator. The sequence number changes per step, so it is not part of the key; this codec writes
  0 (the gateways we know key the dialogue on the session number and the MSISDN).
- dialog: `ussd_service_op` and two vendor TLVs (tags in 3.4's vendor range 0x1400-0x3FFF):
  DIALOG_ID_TAG 0x1501, 4 octets big-endian, the dialogue id (0..2**32-1, the session key as
  text); DIALOG_END_TAG 0x1502, 1 octet, 1 = this PDU ends the dialogue, 0 = it goes on. The same
  two TLVs in both directions; written always, an absent end TLV reads as 0.
- umr: `service_type` "USSD", the session in `user_message_reference` (0..65535), the operation
  in `ussd_service_op`. The end travels in the operation: PSSR response (17) is the application's
  last screen, UMR_RELEASE_OP (0x20, a vendor value) the network's release (the subscriber hung up
  or the network timed the dialogue out). A message whose `end` disagrees with its op cannot be
  written in this dialect.

A USSD PDU whose session field is missing or malformed raises UssdFieldError, whose `status` is
the deliver_sm_resp to answer (ESME_RMISSINGOPTPARAM, ESME_RINVPARLEN, ESME_RINVOPTPARAMVAL).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from smscore.errors import PDUDecodeError, PDUEncodeError
from smscore.status import CommandStatus
from smscore.ussd import Dialect, UssdMessage, UssdOp

__all__ = [
    "DIALOG_END_TAG",
    "DIALOG_ID_TAG",
    "UMR_END_OPS",
    "UMR_RELEASE_OP",
    "UMR_SERVICE_TYPE",
    "UssdFieldError",
    "UssdParamsError",
    "has_ussd_fields",
    "read_ussd",
    "ussd_submit_params",
]

DIALOG_ID_TAG = 0x1501
DIALOG_END_TAG = 0x1502
UMR_SERVICE_TYPE = "USSD"
UMR_RELEASE_OP = 0x20
UMR_END_OPS = frozenset({int(UssdOp.PSSR_RESPONSE), UMR_RELEASE_OP})

_SESSION_LIMIT = {Dialect.SMPP34: 0xFF, Dialect.DIALOG: 0xFFFF_FFFF, Dialect.UMR: 0xFFFF}
_END_BIT = 0x01
_DIALOG_ID = struct.Struct(">I")
_OP_NAME = "ussd_service_op"


class UssdFieldError(PDUDecodeError):
    """A USSD PDU from the peer whose dialogue fields are missing or malformed; `status` is the answer."""


class UssdParamsError(PDUEncodeError):
    """A UssdMessage this dialect cannot carry (a bad session key, an op out of range)."""


def has_ussd_fields(pdu: Any) -> bool:
    """Whether a PDU carries USSD at all, in any dialect (for a bind configured without one)."""
    return _OP_NAME in pdu.tlvs or pdu.service_type == UMR_SERVICE_TYPE


# --- reading --------------------------------------------------------------------------------------


def read_ussd(dialect: Dialect, pdu: Any) -> UssdMessage | None:
    """The dialogue fields of a submit_sm / deliver_sm in `dialect`; None when it carries no USSD."""
    return _READERS[Dialect(dialect)](pdu)


def _op_of(value: Any) -> UssdOp | int:
    if not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise _field_error(f"ussd_service_op {value!r} is not one octet", "INVOPTPARAMVAL")
    try:
        return UssdOp(value)
    except ValueError:
        return value  # a vendor's value: kept, the session layer decides what it means


def _read_smpp34(pdu: Any) -> UssdMessage | None:
    if _OP_NAME not in pdu.tlvs:
        return None
    op = _op_of(pdu.tlvs[_OP_NAME])
    info = pdu.tlvs.get("its_session_info")
    if info is None:
        raise _field_error("a USSD PDU without its_session_info", "MISSINGOPTPARAM")
    if not isinstance(info, bytes | bytearray) or len(info) != 2:
        raise _field_error(f"its_session_info {info!r} is not 2 octets", "INVPARLEN")
    return UssdMessage(op, str(info[0]), bool(info[1] & _END_BIT))


def _read_dialog(pdu: Any) -> UssdMessage | None:
    if _OP_NAME not in pdu.tlvs:
        return None
    op = _op_of(pdu.tlvs[_OP_NAME])
    raw_id = pdu.tlvs.get(DIALOG_ID_TAG)
    if raw_id is None:
        raise _field_error(
            f"a USSD PDU without the dialogue id TLV 0x{DIALOG_ID_TAG:04X}", "MISSINGOPTPARAM"
        )
    if not isinstance(raw_id, bytes | bytearray) or len(raw_id) != _DIALOG_ID.size:
        raise _field_error(f"dialogue id TLV 0x{DIALOG_ID_TAG:04X} is not 4 octets", "INVPARLEN")
    raw_end = pdu.tlvs.get(DIALOG_END_TAG, b"\x00")
    if not isinstance(raw_end, bytes | bytearray) or len(raw_end) != 1:
        raise _field_error(f"dialogue end TLV 0x{DIALOG_END_TAG:04X} is not 1 octet", "INVPARLEN")
    if raw_end[0] not in (0, 1):
        raise _field_error(
            f"dialogue end TLV value {raw_end[0]} is neither 0 nor 1", "INVOPTPARAMVAL"
        )
    return UssdMessage(op, str(_DIALOG_ID.unpack(raw_id)[0]), raw_end[0] == 1)


def _read_umr(pdu: Any) -> UssdMessage | None:
    if _OP_NAME not in pdu.tlvs:
        if pdu.service_type == UMR_SERVICE_TYPE:
            raise _field_error("a USSD PDU without ussd_service_op", "MISSINGOPTPARAM")
        return None
    op = _op_of(pdu.tlvs[_OP_NAME])
    reference = pdu.tlvs.get("user_message_reference")
    if reference is None:
        raise _field_error("a USSD PDU without user_message_reference", "MISSINGOPTPARAM")
    if not isinstance(reference, int) or not 0 <= reference <= 0xFFFF:
        raise _field_error(f"user_message_reference {reference!r} is not 16 bits", "INVOPTPARAMVAL")
    return UssdMessage(op, str(reference), int(op) in UMR_END_OPS)


def _field_error(detail: str, status: str) -> UssdFieldError:
    return UssdFieldError(detail, CommandStatus[f"ESME_R{status}"])


_READERS: Mapping[Dialect, Callable[[Any], UssdMessage | None]] = {
    Dialect.SMPP34: _read_smpp34,
    Dialect.DIALOG: _read_dialog,
    Dialect.UMR: _read_umr,
}


# --- writing --------------------------------------------------------------------------------------


def ussd_submit_params(dialect: Dialect, msg: UssdMessage) -> dict[str, Any]:
    """service_type, esm_class, registered_delivery and tlvs of a submit_sm / deliver_sm carrying
    `msg` in `dialect` (USSD asks no receipt and has no UDH). Raises UssdParamsError for a message
    the dialect cannot carry."""
    dialect = Dialect(dialect)
    op = int(msg.op)
    if not 0 <= op <= 0xFF:
        raise _params_error(f"ussd_service_op {op} is not one octet")
    session = _session_number(dialect, msg.session_key)
    tlvs: dict[str | int, Any] = {_OP_NAME: op}
    service_type = ""
    if dialect is Dialect.SMPP34:
        tlvs["its_session_info"] = bytes((session, _END_BIT if msg.end else 0))
    elif dialect is Dialect.DIALOG:
        tlvs[DIALOG_ID_TAG] = _DIALOG_ID.pack(session)
        tlvs[DIALOG_END_TAG] = b"\x01" if msg.end else b"\x00"
    else:
        if msg.end != (op in UMR_END_OPS):
            raise _params_error(
                f"umr carries the end in the op: end={msg.end} contradicts ussd_service_op {op}"
            )
        tlvs["user_message_reference"] = session
        service_type = UMR_SERVICE_TYPE
    return {"service_type": service_type, "esm_class": 0, "registered_delivery": 0, "tlvs": tlvs}


def _session_number(dialect: Dialect, session_key: str) -> int:
    limit = _SESSION_LIMIT[dialect]
    # Canonical decimal only: "007" would come back as "7", another session.
    if (
        not (session_key.isascii() and session_key.isdigit())
        or str(int(session_key)) != session_key
    ):
        raise _params_error(f"{dialect} session key {session_key!r} is not a decimal number")
    number = int(session_key)
    if number > limit:
        raise _params_error(f"{dialect} session key {number} is above {limit}")
    return number


def _params_error(detail: str) -> UssdParamsError:
    return UssdParamsError(detail, CommandStatus.ESME_RINVOPTPARAMVAL)
