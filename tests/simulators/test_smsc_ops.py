"""Stored messages acted on over SMPP: intermediate notifications, query_sm, cancel_sm and
replace_sm with the receipts they imply, scheduled delivery, validity, the hold fault."""

from twisted.internet.task import Clock

from daemon.receipts import ReceiptOutcome, receipt_from_pdu
from simulators.receipts import parse_receipt
from smscore.constants import EsmClass, MessageState
from smscore.esme import ESMEProtocol
from smscore.pdu import PDU, CancelSm, QuerySm, ReplaceSm
from smscore.status import CommandStatus as S
from tests.simulators.harness import Inbox, Network, bound_esme, make_simulator, submit_pdu

PHONE = "254711000001"
ONE_MINUTE = "000000000100000R"  # relative SMPP times (spec 7.1.1.2)
TWO_MINUTES = "000000000200000R"
HALF_MINUTE = "000000000030000R"
INTERMEDIATE = int(EsmClass.TYPE_INTERMEDIATE_NOTIFICATION)


def _ask(network: Network, esme: ESMEProtocol, pdu: PDU) -> PDU:
    got: list = []
    esme.submit(pdu).addCallback(got.append)
    network.run(0.1)
    return got[0]


def _notes(inbox: Inbox) -> list[PDU]:
    return [pdu for pdu in inbox.pdus if pdu.esm_class & INTERMEDIATE == INTERMEDIATE]


def test_an_intermediate_notification_comes_first_when_asked_for(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 2.0})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    asked = _ask(network, esme, submit_pdu(PHONE, "with a note", registered_delivery=0x11))
    _ask(network, esme, submit_pdu(PHONE, "without", registered_delivery=0x01))
    [note] = _notes(inbox)
    assert inbox.receipts() == []  # nothing final yet
    assert note.tlvs["receipted_message_id"] == asked.message_id
    assert note.tlvs["message_state"] == MessageState.ENROUTE
    fields = parse_receipt(note.short_message.decode())
    assert fields["stat"] == "ENROUTE" and fields["id"] == asked.message_id
    # The daemon's matcher takes it for what it is: the message is on its way, not final.
    assert receipt_from_pdu(note, "sim").outcome is ReceiptOutcome.INTERMEDIATE
    network.run(2.5)
    assert len(_notes(inbox)) == 1
    assert [r.tlvs["message_state"] for r in inbox.receipts()] == [MessageState.DELIVERED] * 2


def test_query_answers_state_final_date_and_error_code(network: Network, clock: Clock) -> None:
    rule = {"prefix": "2547999", "outcome": "UNDELIV", "err": 11, "delay_s": 1.0}
    simulator = make_simulator(clock, dlr={"delay_s": 1.0, "rule": [rule]})
    esme = bound_esme(network, simulator)
    failing = _ask(network, esme, submit_pdu("254799900000", "x")).message_id
    pending = _ask(network, esme, QuerySm(message_id=failing, source_addr="3456"))
    assert pending.message_state == MessageState.ENROUTE and pending.final_date == ""
    network.run(1.5)
    done = _ask(network, esme, QuerySm(message_id=failing, source_addr="3456"))
    assert done.message_state == MessageState.UNDELIVERABLE and done.error_code == 11
    assert done.final_date.startswith("231114221")  # 2023-11-14 22:1x UTC, the clock's day
    anyone = _ask(network, esme, QuerySm(message_id=failing, source_addr=""))
    assert anyone.command_status == S.ESME_ROK  # no source given: not checked


def test_another_source_addr_is_refused_by_query_cancel_and_replace(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(clock, faults={"hold": {"hold_s": 30}})
    esme = bound_esme(network, simulator)
    message_id = _ask(network, esme, submit_pdu(PHONE, "mine")).message_id
    for pdu in (
        QuerySm(message_id=message_id, source_addr="9999"),
        CancelSm(message_id=message_id, source_addr="9999"),
        ReplaceSm(message_id=message_id, source_addr="9999", short_message=b"theirs"),
    ):
        assert _ask(network, esme, pdu).command_status == S.ESME_RINVSRCADR
    assert simulator.store.get(message_id).short_message == b"mine"
    assert simulator.store.get(message_id).state is MessageState.ENROUTE


def test_cancel_of_a_held_message_says_deleted_and_a_delivered_one_cannot_be(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 1.0}, faults={"hold": {"hold_s": 30}})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    held = _ask(network, esme, submit_pdu(PHONE, "held")).message_id
    network.run(5.0)  # well past the receipt delay: the hold keeps it pending
    assert inbox.receipts() == [] and simulator.stats()["fault_actions"]["hold"] == 1
    assert _ask(network, esme, CancelSm(message_id=held, source_addr="3456")).command_status == 0
    [deleted] = inbox.receipts()
    assert deleted.tlvs["message_state"] == MessageState.DELETED
    assert parse_receipt(deleted.short_message.decode())["stat"] == "DELETED"
    simulator.faults.configure({"hold": None})
    quick = _ask(network, esme, submit_pdu(PHONE, "quick")).message_id
    network.run(40.0)
    assert [m.text for m in simulator.handset_inbox(PHONE)] == ["quick"]  # never the cancelled
    late = _ask(network, esme, CancelSm(message_id=quick, source_addr="3456"))
    assert late.command_status == S.ESME_RCANCELFAIL
    assert len(inbox.receipts()) == 2  # DELETED, DELIVRD: the cancelled one got no second


def test_cancel_without_an_id_takes_the_pending_ones_of_that_service_type(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(clock, faults={"hold": {"hold_s": 30}})
    esme = bound_esme(network, simulator)
    ids = {
        (service, n): _ask(network, esme, submit_pdu(PHONE, f"{service}{n}", service_type=service))
        for service in ("WAP", "CMT")
        for n in range(2)
    }
    cancel = CancelSm(service_type="WAP", source_addr="3456", destination_addr=PHONE)
    assert _ask(network, esme, cancel).command_status == 0
    states = {key: simulator.store.get(resp.message_id).state for key, resp in ids.items()}
    assert states == {
        ("WAP", 0): MessageState.DELETED,
        ("WAP", 1): MessageState.DELETED,
        ("CMT", 0): MessageState.ENROUTE,
        ("CMT", 1): MessageState.ENROUTE,
    }
    assert simulator.stats()["cancelled"] == 2


def test_replace_moves_a_scheduled_message_and_its_receipt_shows_the_new_text(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 1.0})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    submit = submit_pdu(PHONE, "old text", schedule_delivery_time=ONE_MINUTE)
    message_id = _ask(network, esme, submit).message_id
    replace = ReplaceSm(message_id=message_id, source_addr="3456", short_message=b"new text",
                        schedule_delivery_time=TWO_MINUTES)  # fmt: skip
    assert _ask(network, esme, replace).command_status == 0
    network.run(90.0)  # past the first schedule: the replaced one no longer holds
    assert simulator.handset_inbox(PHONE) == [] and inbox.receipts() == []
    network.run(40.0)
    assert [m.text for m in simulator.handset_inbox(PHONE)] == ["new text"]
    [receipt] = inbox.receipts()
    assert parse_receipt(receipt.short_message.decode())["text"] == "new text"
    again = ReplaceSm(message_id=message_id, source_addr="3456", short_message=b"too late")
    assert _ask(network, esme, again).command_status == S.ESME_RREPLACEFAIL
    assert simulator.stats()["replaced"] == 1


def test_a_message_scheduled_beyond_its_validity_expires(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 1.0})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    late = submit_pdu(PHONE, "x", schedule_delivery_time=ONE_MINUTE, validity_period=HALF_MINUTE)
    _ask(network, esme, late)
    network.run(29.0)
    assert inbox.receipts() == []
    network.run(2.0)
    [receipt] = inbox.receipts()
    assert receipt.tlvs["message_state"] == MessageState.EXPIRED
    assert simulator.handset_inbox(PHONE) == []
