"""SMPP 3.4 PDUs: one class per command, declared as a table of mandatory fields.

This module is the table (spec chapter 4). Each class's `__init__`, body encoder and body decoder are
compiled from its field table once, at import time, by smscore.pdu_compiler; the field vocabulary
(`Field`, `cstr`, `u8`, ...) and the submit_multi entry types live in smscore.pdu_fields and are
re-exported here, so `from smscore.pdu import ...` keeps working for all of them.

Optional parameters live in `pdu.tlvs`, a dict in wire order (see smscore.tlv).
"""

from typing import Any, ClassVar

from smscore.constants import RESPONSE_BIT, VALID_NPIS, VALID_TONS, CommandId
from smscore.pdu_compiler import compile_pdu_class
from smscore.pdu_fields import EMPTY_VALUES, Field, cstr, time_field, u8
from smscore.pdu_fields import MAX_SHORT_MESSAGE_LENGTH as MAX_SHORT_MESSAGE_LENGTH
from smscore.pdu_fields import DestAddress as DestAddress
from smscore.pdu_fields import DistributionList as DistributionList
from smscore.pdu_fields import UnsuccessSme as UnsuccessSme
from smscore.status import CommandStatus as S


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
        compile_pdu_class(cls)

    def encode_pdu(self) -> bytes:  # replaced per class by compile_pdu_class
        """The whole PDU on the wire, header included (see smscore.codec.encode)."""
        raise NotImplementedError

    @staticmethod
    def decode_body(sequence_number: int, status: int, buf: bytes, pos: int, end: int) -> "PDU":
        raise NotImplementedError  # replaced per class by compile_pdu_class

    def make_response(self, status: int = S.ESME_ROK, **fields: Any) -> "PDU":
        """The response to this request, with the same sequence_number."""
        if self.response_class is None:
            raise TypeError(f"{self.name} has no response PDU")
        return self.response_class(
            sequence_number=self.sequence_number, command_status=int(status), **fields
        )

    def has_default_body(self) -> bool:
        return not self.tlvs and all(
            getattr(self, name) == EMPTY_VALUES[field.kind]
            for name, field in zip(self.field_names, self.FIELDS, strict=True)
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._all_names())

    def __hash__(self) -> int:
        return hash((type(self), self.sequence_number))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={self._shown(name)}" for name in self._all_names())
        return f"{type(self).__name__}({shown})"

    def _shown(self, name: str) -> str:
        value = getattr(self, name)
        if name == "password" and value:  # a bind's: never in a log line or a traceback
            return "'********'"
        return repr(value)

    def _all_names(self) -> tuple[str, ...]:
        return ("sequence_number", "command_status", *self.field_names, "tlvs")


# --- the PDUs of SMPP 3.4 (spec chapter 4) ----------------------------------------------------
#
# Every C-Octet String length below is the spec's maximum for that field, its terminating NUL
# included (chapter 4's tables); the status is what chapter 5 answers a bad value with.

SYSTEM_ID_LENGTH = 16  # system_id: 15 characters and the NUL
PASSWORD_LENGTH = 9  # password: 8 characters and the NUL
_TONS, _NPIS = VALID_TONS, VALID_NPIS
_BIND_FIELDS = (
    cstr("system_id", SYSTEM_ID_LENGTH, S.ESME_RINVSYSID),
    cstr("password", PASSWORD_LENGTH, S.ESME_RINVPASWD),
    cstr("system_type", 13, S.ESME_RINVSYSTYP),
    u8("interface_version"),
    u8("addr_ton", S.ESME_RINVSRCTON, _TONS),
    u8("addr_npi", S.ESME_RINVSRCNPI, _NPIS),
    cstr("address_range", 41, S.ESME_RINVSRCADR),
)
_BIND_RESP_FIELDS = (cstr("system_id", SYSTEM_ID_LENGTH, S.ESME_RINVSYSID),)
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
    FIELDS = (
        cstr("system_id", SYSTEM_ID_LENGTH, S.ESME_RINVSYSID),
        cstr("password", PASSWORD_LENGTH, S.ESME_RINVPASWD),
    )


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
