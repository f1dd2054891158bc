"""The SMSC's answers to what an ESME sends: submit_sm, data_sm, submit_multi, query/cancel/replace."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IReactorTime

from simulators.accounts import Accounts
from simulators.addresses import MAX_ADDRESS_LENGTH
from simulators.store import MessageNotFound, MessageStore, SourceMismatch, StoredMessage
from simulators.timing import smpp_time_s
from smscore.constants import CommandId as C
from smscore.constants import Npi, Ton
from smscore.pdu import PDU, DestAddress, UnsuccessSme
from smscore.smpptime import format_absolute
from smscore.status import CommandStatus as S

if TYPE_CHECKING:
    from smscore.smsc import SMSCProtocol

_SUBMITS = frozenset({C.SUBMIT_SM, C.DATA_SM, C.SUBMIT_MULTI})


def _time_s(pdu: PDU, name: str, now_s: float) -> float | None:
    """The PDU's time field `name` as reactor seconds (None: empty or absent). The codec checked
    it when decoding (ESME_RINVSCHED / ESME_RINVEXPIRY there), so it names a moment."""
    return smpp_time_s(getattr(pdu, name, ""), now_s)


# query_sm_resp's error_code is one octet (spec 4.8.2); a larger receipt err: is reported as its maximum.
MAX_QUERY_ERROR_CODE = 0xFF


class SMSCLogic:
    """Stores what is submitted and answers like an SMSC; `accepted(message)` schedules its fate."""

    def __init__(
        self,
        reactor: IReactorTime,
        accounts: Accounts,
        store: MessageStore,
        accepted: Callable[[StoredMessage], None],
        cancelled: Callable[[StoredMessage], None],
        ussd: Callable[[str, PDU], PDU | None] = lambda system_id, pdu: None,
        replaced: Callable[[StoredMessage, bool], None] = lambda message, rescheduled: None,
    ) -> None:
        self.reactor = reactor
        self.ussd = ussd  # a USSD screen's answer (simulators.ussd); None: not USSD
        self.accounts = accounts
        self.store = store
        self.accepted = accepted
        self.cancelled = cancelled
        self.replaced = replaced  # (message, its schedule or validity changed)
        self.counters = {
            "submitted": 0,
            "throttled": 0,
            "queried": 0,
            "cancelled": 0,
            "replaced": 0,
        }
        self._answer = {
            C.SUBMIT_SM: self._submit_sm,
            C.DATA_SM: self._data_sm,
            C.SUBMIT_MULTI: self._submit_multi,
            C.QUERY_SM: self._query_sm,
            C.CANCEL_SM: self._cancel_sm,
            C.REPLACE_SM: self._replace_sm,
        }

    def answer(self, protocol: "SMSCProtocol", pdu: PDU) -> PDU | None:
        handler = self._answer.get(pdu.command_id)
        if handler is None:
            return pdu.make_response(S.ESME_RINVCMDID) if pdu.response_class else None
        if pdu.command_id in _SUBMITS and not self.accounts.within_tps(
            protocol.system_id, self.reactor.seconds()
        ):
            self.counters["throttled"] += 1
            return pdu.make_response(S.ESME_RTHROTTLED)
        return handler(protocol.system_id, pdu)

    def _store(
        self, system_id: str, pdu: PDU, destination: str, message_id: str, receipted_id: str = ""
    ) -> None:
        now_s = self.reactor.seconds()
        message = StoredMessage(
            message_id=message_id,
            system_id=system_id,
            source_addr=pdu.source_addr,
            destination_addr=destination,
            esm_class=pdu.esm_class,
            data_coding=pdu.data_coding,
            registered_delivery=pdu.registered_delivery,
            short_message=getattr(pdu, "short_message", b""),
            tlvs=pdu.tlvs,
            submitted_at_s=now_s,
            receipted_id=receipted_id,
            service_type=pdu.service_type,
        )
        # Nearly every submit has neither time: no parsing on the hot path. data_sm has neither
        # field: it is delivered at once, valid for the SMSC's default.
        if getattr(pdu, "schedule_delivery_time", "") or getattr(pdu, "validity_period", ""):
            message.scheduled_at_s = _time_s(pdu, "schedule_delivery_time", now_s)
            message.expires_at_s = _time_s(pdu, "validity_period", now_s)
        self.store.add(message)
        self.counters["submitted"] += 1
        self.accepted(message)

    def _submit_sm(self, system_id: str, pdu: PDU) -> PDU:
        if not pdu.destination_addr:
            return pdu.make_response(S.ESME_RINVDSTADR)
        if pdu.short_message and "message_payload" in pdu.tlvs:
            return pdu.make_response(S.ESME_RINVMSGLEN)  # spec 5.3.2.32: one or the other
        screen_answer = self.ussd(system_id, pdu)
        if screen_answer is not None:  # a screen: not stored, no fate, no receipt
            return screen_answer
        message_id = self.store.next_id()
        self._store(system_id, pdu, pdu.destination_addr, message_id)
        return pdu.make_response(message_id=message_id)

    def _data_sm(self, system_id: str, pdu: PDU) -> PDU:
        if not pdu.destination_addr:
            return pdu.make_response(S.ESME_RINVDSTADR)
        message_id = self.store.next_id()
        self._store(system_id, pdu, pdu.destination_addr, message_id)
        return pdu.make_response(message_id=message_id)

    def _submit_multi(self, system_id: str, pdu: PDU) -> PDU:
        message_id = self.store.next_id()
        unsuccessful = []
        for index, dest in enumerate(pdu.dest_addresses):
            if not isinstance(dest, DestAddress):
                # A distribution list name, echoed in the address field: cut to fit it.
                name = dest.name[:MAX_ADDRESS_LENGTH]
                unsuccessful.append(UnsuccessSme(Ton.UNKNOWN, Npi.UNKNOWN, name, S.ESME_RINVDLNAME))
                continue
            # Each destination is its own message; the first keeps the id the ESME was given.
            stored_id = message_id if index == 0 else f"{message_id}.{index}"
            self._store(system_id, pdu, dest.addr, stored_id, message_id)
        return pdu.make_response(message_id=message_id, unsuccess_smes=unsuccessful)

    def _query_sm(self, system_id: str, pdu: PDU) -> PDU:
        self.counters["queried"] += 1
        try:
            message = self.store.get(pdu.message_id, pdu.source_addr)
        except MessageNotFound:
            return pdu.make_response(S.ESME_RQUERYFAIL)
        except SourceMismatch:
            return pdu.make_response(S.ESME_RINVSRCADR)
        return pdu.make_response(**_query_fields(message))

    def _cancel_sm(self, system_id: str, pdu: PDU) -> PDU:
        try:
            targets = (
                [self.store.get(pdu.message_id, pdu.source_addr)]
                if pdu.message_id
                else self.store.pending_between(
                    pdu.source_addr, pdu.destination_addr, pdu.service_type
                )
            )
        except MessageNotFound:
            return pdu.make_response(S.ESME_RINVMSGID)
        except SourceMismatch:
            return pdu.make_response(S.ESME_RINVSRCADR)
        if not targets or any(message.state.is_final for message in targets):
            return pdu.make_response(S.ESME_RCANCELFAIL)
        for message in targets:
            self.cancelled(message)
        self.counters["cancelled"] += len(targets)
        return pdu.make_response()

    def _replace_sm(self, system_id: str, pdu: PDU) -> PDU:
        try:
            message = self.store.get(pdu.message_id, pdu.source_addr)
        except MessageNotFound:
            return pdu.make_response(S.ESME_RINVMSGID)
        except SourceMismatch:
            return pdu.make_response(S.ESME_RINVSRCADR)
        if message.state.is_final:
            return pdu.make_response(S.ESME_RREPLACEFAIL)
        now_s = self.reactor.seconds()
        # Empty fields keep what the message had (spec 4.10.1 for the times; for the text and
        # registered_delivery as SMSCs do, so a replace may move only the schedule).
        scheduled_at_s = _time_s(pdu, "schedule_delivery_time", now_s)
        expires_at_s = _time_s(pdu, "validity_period", now_s)
        if pdu.short_message:
            message.short_message = pdu.short_message
            message.tlvs = {k: v for k, v in message.tlvs.items() if k != "message_payload"}
        if pdu.registered_delivery:
            message.registered_delivery = pdu.registered_delivery
        rescheduled = scheduled_at_s is not None or expires_at_s is not None
        if scheduled_at_s is not None:
            message.scheduled_at_s = scheduled_at_s
        if expires_at_s is not None:
            message.expires_at_s = expires_at_s
        message.replaced += 1
        self.counters["replaced"] += 1
        self.replaced(message, rescheduled)
        return pdu.make_response()


def _query_fields(message: StoredMessage) -> dict[str, Any]:
    final_date = ""
    if message.done_at_s is not None:
        final_date = format_absolute(datetime.fromtimestamp(message.done_at_s, UTC))
    return {
        "message_id": message.message_id,
        "final_date": final_date,
        "message_state": int(message.state),
        "error_code": min(message.error_code, MAX_QUERY_ERROR_CODE),
    }
