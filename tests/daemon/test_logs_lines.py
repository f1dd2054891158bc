"""daemon.log_lines: one line per MO, posting, MT and receipt, each with the correlation id of
its message chain; never a PIN (both databases). When they are written: test_logs_commit.py."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.logger import globalLogPublisher

from daemon import log_lines
from daemon.db import transaction
from daemon.log_lines import mt_lines
from daemon.logs import json_line
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.outbox.claims import AcceptedPart, SmsOutcome, claim_outbox_txn, record_outcomes_txn
from daemon.outbox.disposition import Disposition
from daemon.receipts import apply_receipts_txn, make_receipt
from tests.daemon.money_world import World

ALICE, BOB = "254712000001", "254712000002"
PIN = "8642"  # not "1234": the short code 12345 holds that
KES = 100


@pytest.fixture
def lines():
    """The message lines logged while the test runs, as their JSON objects."""
    captured: list[dict] = []

    def observe(event):
        if event.get("event") in ("mo", "posting", "mt", "receipt"):
            captured.append(json.loads(json_line(event)))

    log_lines.activate()
    globalLogPublisher.addObserver(observe)
    yield captured
    globalLogPublisher.removeObserver(observe)
    log_lines.deactivate()


class CommittingEngine:
    """The engine as the daemon uses it: each transaction through daemon.db.transaction, which
    writes the lines once the COMMIT returned (World itself opens `engine.begin()`)."""

    def __init__(self, engine):
        self._engine = engine

    def begin(self):
        return transaction(self._engine)

    def __getattr__(self, name):
        return getattr(self._engine, name)


@pytest.fixture
def world(engine, lines):
    world = World(CommittingEngine(engine))
    world.add(ALICE, pin=PIN, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.check()


def of(lines, kind):
    return [line for line in lines if line["event"] == kind]


# --- one chain, one id -----------------------------------------------------------------------


def submit_and_record(world, message_id_of):
    """What the sender does: claim the due rows, 'submit' them, record the answers, log."""
    with world.engine.begin() as conn:
        claimed = claim_outbox_txn(conn, 50, world.now_ns, None)
    outcomes = [
        SmsOutcome(sms, 0, 1, "smsc1", (AcceptedPart(1, message_id_of(sms)),), Disposition.SUBMITTED, "")
        for sms in claimed
    ]  # fmt: skip
    with world.engine.begin() as conn:
        record_outcomes_txn(conn, outcomes, world.now_ns, world.config.sender)
    mt_lines(outcomes)
    return claimed


def test_a_send_is_followed_from_the_mo_to_the_receipt(world, lines):
    world.sms(ALICE, f"SEND 0712000002 500 {PIN}")
    [mo] = of(lines, "mo")
    chain = mo["correlation_id"]
    assert chain == f"mo-{mo['inbox_id']}"
    assert mo["command"] == "SEND" and mo["result"] == "ok" and mo["bind"] == "smsc1"
    assert mo["source"] == "254******001" and mo["short_code"] == "12345"
    [reserved] = of(lines, "posting")
    assert reserved["correlation_id"] == chain and reserved["kind"] == "send"
    assert reserved["amount_minor"] == 500 * KES and reserved["result"] in ("pending", "confirming")
    assert reserved["transfer_ids"] and reserved["payee"] == "254******002"

    claimed = submit_and_record(world, lambda sms: f"M{sms.id}")
    [mt] = of(lines, "mt")
    [reply] = [sms for sms in claimed if sms.destination_addr == ALICE]
    assert mt["correlation_id"] == chain and reply.inbox_id == mo["inbox_id"]
    assert mt["message_id"] == f"M{reply.id}" and mt["status"] == "ESME_ROK"

    with world.engine.begin() as conn:
        apply_receipts_txn(conn, [make_receipt("smsc1", f"M{reply.id}", "DELIVRD")], world.now_ns)
    [receipt] = of(lines, "receipt")
    assert receipt["correlation_id"] == chain and receipt["outcome"] == "delivered"
    assert receipt["message_id"] == f"M{reply.id}"

    world.settle()
    posted = of(lines, "posting")[-1]
    assert posted["correlation_id"] == chain and posted["result"] == "posted"
    assert posted["previous"] == reserved["result"]
    assert set(posted["transfer_ids"]).isdisjoint(reserved["transfer_ids"])


def test_the_payees_notice_is_in_the_chain_and_an_sms_no_mo_asked_for_has_its_own_id(world, lines):
    world.sms(ALICE, f"SEND 0712000002 500 {PIN}")
    [mo] = of(lines, "mo")
    submit_and_record(world, lambda sms: f"A{sms.id}")
    receipts = [make_receipt("smsc1", f"A{sms.id}", "DELIVRD") for sms in world.outbox()]
    with world.engine.begin() as conn:
        apply_receipts_txn(conn, receipts, world.now_ns)
    world.settle()  # posts the send and tells Bob
    with world.engine.begin() as conn:
        queue_sms_txn(conn, [OutgoingSms(BOB, "Service notice", "12345")], world.now_ns)
    notice, staff = sorted(submit_and_record(world, lambda sms: f"N{sms.id}"), key=lambda s: s.id)
    by_outbox = {line["outbox_id"]: line for line in of(lines, "mt")}
    assert notice.destination_addr == BOB
    assert by_outbox[notice.id]["correlation_id"] == mo["correlation_id"]
    assert staff.inbox_id is None and by_outbox[staff.id]["correlation_id"] == f"mt-{staff.id}"
    assert by_outbox[staff.id]["destination"] == "254******002"


def test_a_refusal_is_a_code_and_a_failed_batch_logs_nothing(world, lines):
    world.sms(ALICE, "SEND 0712000002 500 9999")  # the wrong PIN
    [mo] = of(lines, "mo")
    assert mo["command"] == "SEND" and mo["result"] == "pin_wrong"
    assert of(lines, "posting") == []
    world.mo(ALICE, f"BAL {PIN}")
    with pytest.raises(RuntimeError), world.engine.begin() as conn:
        from daemon.tranproc import process_batch_txn

        process_batch_txn(conn, world.env, world.now_ns, 10)
        raise RuntimeError("the batch's transaction fails after the handlers ran")
    assert len(of(lines, "mo")) == 1


# --- never a PIN -----------------------------------------------------------------------------

words = st.sampled_from(["SEND", "BAL", "MINI", "0712000002", "500", "YES", "PIN", "x", "#", ""])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.lists(words, max_size=3), after=st.lists(words | st.text(max_size=6), max_size=3))
def test_no_line_holds_the_pin_whatever_the_text(world, lines, before, after):
    lines.clear()
    text = " ".join([*before, PIN, *after])
    world.mo(ALICE, text)
    world.run_tranproc()
    world.receipts()
    assert of(lines, "mo"), text
    for line in lines:  # every text in it (numbers are ids and amounts: digits by chance)
        shown = [value for key, value in line.items() if isinstance(value, str) and key != "time"]
        assert not any(PIN in value for value in shown), (text, shown)


def test_lines_of_a_component_logging_above_info_are_not_built(world, lines):
    log_lines.activate({"ledger"})  # as start_logging does for levels = {inbox = "warn", ...}
    world.sms(ALICE, f"SEND 0712000002 500 {PIN}")
    assert of(lines, "mo") == [] and len(of(lines, "posting")) == 1
    log_lines.activate()
    world.sms(ALICE, f"BAL {PIN}")
    assert len(of(lines, "mo")) == 1
