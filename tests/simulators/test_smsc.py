"""Our ESME against the simulator in memory: binds, submits, receipts, MO, query/cancel/replace."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from simulators.receipts import parse_receipt
from smscore.concat import Reassembler, concat_info
from smscore.constants import MessageState
from smscore.esme import BindError, BindType, ESMEProtocol
from smscore.pdu import CancelSm, DataSm, DestAddress, QuerySm, ReplaceSm, SubmitMulti
from smscore.status import CommandStatus as S
from smscore.text import DataCoding, decode_text
from tests.simulators.harness import (
    Inbox,
    Network,
    bound_esme,
    esme_config,
    make_simulator,
    submit_pdu,
)


def _bind_status(network: Network, simulator, **config) -> int:  # type: ignore[no-untyped-def]
    esme = ESMEProtocol(network.clock, esme_config(**config))
    failures: list = []
    esme.when_bound.addErrback(failures.append)
    network.connect(simulator.factory, esme)
    network.run(0.1)
    if esme.session.is_bound:
        return S.ESME_ROK
    return failures[0].value.status if failures[0].check(BindError) else -1


def test_bind_statuses_like_a_real_smsc(network: Network, clock: Clock) -> None:
    simulator = make_simulator(
        clock,
        account=[
            {"system_id": "esme", "password": "secret", "max_binds": 1},
            {"system_id": "rx", "password": "pw", "bind_types": ["receiver"],
             "max_binds": 1, "max_binds_status": "ESME_RBINDFAIL"},
        ],
    )  # fmt: skip
    assert _bind_status(network, simulator, system_id="nobody") == S.ESME_RINVSYSID
    assert _bind_status(network, simulator, password="wrong") == S.ESME_RINVPASWD
    assert _bind_status(network, simulator, system_id="rx", password="pw") == S.ESME_RBINDFAIL
    assert _bind_status(network, simulator) == S.ESME_ROK
    assert _bind_status(network, simulator) == S.ESME_RALYBND  # max_binds 1
    rx = {"system_id": "rx", "password": "pw", "bind_type": BindType.RECEIVER}
    assert _bind_status(network, simulator, **rx) == S.ESME_ROK
    assert _bind_status(network, simulator, **rx) == S.ESME_RBINDFAIL  # configured status
    assert simulator.stats()["bind_refusals"] == 5


def test_submit_gets_an_id_and_a_matching_receipt(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 2.0})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    responses: list = []
    esme.submit(submit_pdu("254711000001", "Hello there, subscriber")).addCallback(responses.append)
    network.run(1.0)
    assert responses[0].command_status == 0 and inbox.receipts() == []
    network.run(1.5)
    [receipt] = inbox.receipts()
    message_id = responses[0].message_id
    assert receipt.tlvs["receipted_message_id"] == message_id
    assert receipt.tlvs["message_state"] == MessageState.DELIVERED
    assert (receipt.source_addr, receipt.destination_addr) == ("254711000001", "3456")
    fields = parse_receipt(receipt.short_message.decode())
    assert fields["id"] == message_id and fields["stat"] == "DELIVRD" and fields["dlvrd"] == "001"
    assert fields["submit date"] == "2311142213" and fields["err"] == "000"
    assert fields["text"] == "Hello there, subscri"
    [on_phone] = simulator.handset_inbox("254711000001")
    assert on_phone.text == "Hello there, subscriber" and on_phone.sender == "3456"


def test_per_destination_rules_and_failure_receipts(network: Network, clock: Clock) -> None:
    rule = {"prefix": "2547999", "outcome": "UNDELIV", "err": 11, "delay_s": 0.5}
    simulator = make_simulator(clock, dlr={"delay_s": 1.0, "rule": [rule]})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    esme.submit(submit_pdu("254799900000", "x"))
    network.run(0.7)
    [receipt] = inbox.receipts()
    assert receipt.tlvs["message_state"] == MessageState.UNDELIVERABLE
    assert receipt.tlvs["network_error_code"].error_code == 11
    assert "stat:UNDELIV err:011" in receipt.short_message.decode()
    assert simulator.handset_inbox("254799900000") == []  # never reached the phone


@pytest.mark.parametrize(
    ("registered_delivery", "outcome", "receipt_expected"),
    [
        (0, "DELIVRD", False),
        (0, "UNDELIV", False),
        (1, "DELIVRD", True),
        (1, "EXPIRED", True),
        (2, "DELIVRD", False),  # failure-only
        (2, "REJECTD", True),
        (3, "DELIVRD", True),  # success-only (SMPP 5.0 meaning of the reserved value)
        (3, "UNDELIV", False),
    ],
)
def test_registered_delivery_semantics(
    network: Network, clock: Clock, registered_delivery: int, outcome: str, receipt_expected: bool
) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.1, "outcomes": {outcome: 1}})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    esme.submit(submit_pdu("254711000001", "x", registered_delivery=registered_delivery))
    network.run(1.0)
    assert len(inbox.receipts()) == int(receipt_expected)


def test_outcome_mix_is_replayable_from_the_seed(network: Network, clock: Clock) -> None:
    def outcomes(seed: int) -> list[int]:
        mix = {"DELIVRD": 1, "UNDELIV": 1, "EXPIRED": 1}
        simulator = make_simulator(clock, seed=seed, dlr={"delay_s": 0.1, "outcomes": mix})
        inbox = Inbox()
        esme = bound_esme(network, simulator, inbox=inbox)
        for n in range(30):
            esme.submit(submit_pdu("254711000001", f"m{n}"))
        network.run(1.0)
        return [pdu.tlvs["message_state"] for pdu in inbox.receipts()]

    first = outcomes(7)
    assert first == outcomes(7) and len(set(first)) == 3 and first != outcomes(8)


def test_query_cancel_replace(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 10.0})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    answers: list = []
    for text in ("first", "second"):
        esme.submit(submit_pdu("254711000001", text)).addCallback(answers.append)
    network.run(0.1)
    first_id, second_id = (answer.message_id for answer in answers)

    def ask(pdu):  # type: ignore[no-untyped-def]
        got: list = []
        esme.submit(pdu).addCallback(got.append)
        network.run(0.1)
        return got[0]

    assert (
        ask(QuerySm(message_id=first_id, source_addr="3456")).message_state == MessageState.ENROUTE
    )
    assert ask(QuerySm(message_id="nope", source_addr="3456")).command_status == S.ESME_RQUERYFAIL
    assert ask(CancelSm(message_id=first_id, source_addr="3456")).command_status == 0
    assert (
        ask(CancelSm(message_id=first_id, source_addr="3456")).command_status == S.ESME_RCANCELFAIL
    )
    replace = ReplaceSm(message_id=second_id, source_addr="3456", short_message=b"replaced")
    assert ask(replace).command_status == 0
    network.run(10.0)
    assert [m.text for m in simulator.handset_inbox("254711000001")] == ["replaced"]
    deleted, delivered = inbox.receipts()  # the cancelled one's receipt says so, at once
    assert deleted.tlvs["receipted_message_id"] == first_id
    assert deleted.tlvs["message_state"] == MessageState.DELETED
    assert "stat:DELETED" in deleted.short_message.decode()
    assert delivered.tlvs["receipted_message_id"] == second_id
    done = ask(QuerySm(message_id=second_id, source_addr="3456"))
    assert done.message_state == MessageState.DELIVERED and done.final_date.startswith("231114")
    assert (
        ask(QuerySm(message_id=first_id, source_addr="3456")).message_state == MessageState.DELETED
    )
    late = ReplaceSm(message_id=second_id, source_addr="3456", short_message=b"late")
    assert ask(late).command_status == S.ESME_RREPLACEFAIL


def test_data_sm_and_submit_multi(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    answers: list = []
    data = DataSm(source_addr="3456", destination_addr="254711000001", registered_delivery=1,
                  tlvs={"message_payload": b"via data sm"})  # fmt: skip
    esme.submit(data).addCallback(answers.append)
    dests = [DestAddress(1, 1, "254711000002"), DestAddress(1, 1, "254711000003")]
    multi = SubmitMulti(source_addr="3456", dest_addresses=dests, registered_delivery=1,
                        short_message=b"to many")  # fmt: skip
    esme.submit(multi).addCallback(answers.append)
    network.run(0.5)
    assert [a.command_status for a in answers] == [0, 0] and answers[1].unsuccess_smes == []
    assert simulator.handset_inbox("254711000001")[0].text == "via data sm"
    assert [simulator.handset_inbox(n)[0].text for n in ("254711000002", "254711000003")] == [
        "to many",
        "to many",
    ]
    receipted = [pdu.tlvs["receipted_message_id"] for pdu in inbox.receipts()]
    assert receipted.count(answers[1].message_id) == 2  # one receipt per destination, same id


@pytest.mark.parametrize("method", ["udh8", "udh16", "sar", "payload"])
@pytest.mark.parametrize(
    ("text", "coding"),
    [("Habari! " * 60, DataCoding.SMSC_DEFAULT), ("Привет, 你好 — " * 30, DataCoding.UCS2)],
)
def test_long_mo_reaches_the_esme_in_parts_that_reassemble(
    network: Network, clock: Clock, method: str, text: str, coding: int
) -> None:
    simulator = make_simulator(clock, mo_concat=method)
    inbox = Inbox()
    bound_esme(network, simulator, inbox=inbox)
    results: list = []
    simulator.inject_mo("254711000001", "3456", text).addCallback(results.append)
    network.run(0.5)
    parts = inbox.mos()
    assert results[0].parts == len(parts) and (len(parts) > 1) == (method != "payload")
    assert {pdu.data_coding for pdu in parts} == {coding}
    assert all(pdu.source_addr == "254711000001" for pdu in parts)
    assembler = Reassembler(clock)
    whole = None
    for pdu in reversed(parts):  # order must not matter
        info, body = concat_info(pdu.esm_class, pdu.short_message, pdu.tlvs)
        whole = body if info is None else assembler.add("k", info, body)
    assert whole is not None and decode_text(whole, coding) == text


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=600).filter(lambda t: "\x00" not in t))
def test_any_mo_text_arrives_intact(text: str) -> None:
    clock = Clock()
    network = Network(clock)
    simulator = make_simulator(clock)
    inbox = Inbox()
    bound_esme(network, simulator, inbox=inbox)
    simulator.inject_mo("254711000001", "3456", text)
    network.run(0.2)
    assembler = Reassembler(clock)
    whole = None
    for pdu in inbox.mos():
        info, body = concat_info(pdu.esm_class, pdu.short_message, pdu.tlvs)
        whole = body if info is None else assembler.add("k", info, body)
    assert decode_text(whole, inbox.mos()[0].data_coding) == text


def test_mo_waits_for_a_receiver_then_goes_to_the_routed_account(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(
        clock,
        account=[
            {"system_id": "esme", "password": "secret", "mo_prefixes": ["3456"]},
            {"system_id": "other", "password": "pw"},
        ],
    )
    results: list = []
    simulator.inject_mo("254711000001", "3456", "BAL").addCallback(results.append)
    other_inbox, esme_inbox = Inbox(), Inbox()
    bound_esme(network, simulator, esme_config(system_id="other", password="pw"), other_inbox)
    network.run(2.0)
    assert results == [] and simulator.delivery.pending == 1
    bound_esme(network, simulator, inbox=esme_inbox)
    network.run(0.1)
    assert len(results) == 1 and [p.short_message for p in esme_inbox.mos()] == [b"BAL"]
    assert other_inbox.pdus == []


def test_mo_refused_permanently_fails_and_temporarily_is_retried(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(clock)
    inbox = Inbox(status=S.ESME_RX_T_APPN)
    bound_esme(network, simulator, inbox=inbox)
    results: list = []
    simulator.inject_mo("254711000001", "3456", "hi").addBoth(results.append)
    network.run(0.1)
    inbox.status = S.ESME_ROK
    network.run(1.0)
    assert len(inbox.mos()) == 2 and results[0].parts == 1
    inbox.status = S.ESME_RX_P_APPN
    simulator.inject_mo("254711000001", "3456", "no").addBoth(results.append)
    network.run(3.0)
    assert "refused" in results[1].getErrorMessage() and simulator.stats()["mo_failed"] == 1
