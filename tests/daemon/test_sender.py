"""The sender with a hand-driven fake pool, task.Clock and InlineDatabase, on SQLite and PostgreSQL."""

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from daemon.clock import now_ns
from daemon.config import BindConfig, SenderConfig, SweeperConfig
from daemon.db import InlineDatabase
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.receipts import apply_receipts_txn, make_receipt, receipt_from_pdu
from daemon.schema import early_receipts, outbox, outbox_parts
from daemon.sender import Sender
from daemon.submit import address_type
from daemon.sweeper import Sweeper
from smscore.client import NoBindAvailable
from smscore.codec import decode
from smscore.concat import concat_info
from smscore.constants import EsmClass, Npi, Ton
from smscore.pdu import SubmitSm, SubmitSmResp
from smscore.protocol import ConnectionLostError, NotSent, QueueFull, ResponseTimeout
from smscore.status import CommandStatus as S
from tests.interop import INTEROP_PATH

RECORDS = [json.loads(line) for line in INTEROP_PATH.read_text().splitlines()]
LONG_TEXT = "Confirmed. " + "You have received KES 1,000.00 from JOHN DOE 254712000001. " * 4


@dataclass
class Sent:
    pdu: SubmitSm
    prefer: str | None
    answer: Deferred


class FakeBind:
    def __init__(self, name):
        self.name = name


class FakePool:
    """Records every submit; the test fires the answers by hand."""

    def __init__(self, *names):
        self.up = list(names or ["smsc1"])
        self.sent: list[Sent] = []
        self.refuse: Exception | None = None

    def transmitters(self):
        return [FakeBind(name) for name in self.up]

    def submit(self, pdu, prefer=None):
        if self.refuse is not None:
            raise self.refuse
        answer = Deferred()
        self.sent.append(Sent(pdu, prefer, answer))
        return answer

    def accept(self, index, message_id):
        self.sent[index].answer.callback(SubmitSmResp(message_id=message_id))

    def refuse_with(self, index, status):
        self.sent[index].answer.callback(SubmitSmResp(command_status=status))

    def fail(self, index, error):
        self.sent[index].answer.errback(error)


def make_sender(db, clock, pool, binds=None, **config):
    settings = {"retry_delay_s": 30.0, **config}
    sender = Sender(clock, db, pool, binds or {}, SenderConfig(**settings))
    sender.start()
    return sender


def queue(db, clock, *texts, **fields):
    fields.setdefault("source_addr", "12345")
    messages = [
        OutgoingSms(fields.pop("destination_addr", "254712000001"), t, **fields) for t in texts
    ]
    db.run_sync("queue", queue_sms_txn, messages, now_ns(clock))


def rows(db):
    with db.engine.begin() as conn:
        return conn.execute(select(outbox).order_by(outbox.c.id)).all()


def parts(db):
    with db.engine.begin() as conn:
        query = select(outbox_parts).order_by(outbox_parts.c.outbox_id, outbox_parts.c.part_no)
        return conn.execute(query).all()


def receive(db, clock, *receipts):
    return db.run_sync("lis", apply_receipts_txn, list(receipts), now_ns(clock))


def interop(scenario, command):
    return [
        decode(bytes.fromhex(r["hex"]))
        for r in RECORDS
        if r["scenario"] == scenario and r["command"] == command
    ]


# --- the happy path ----------------------------------------------------------------------------


def test_claim_submit_record_then_receipt_delivers(db, clock):
    pool = FakePool("smsc1")
    queue(db, clock, "Confirmed. Ksh1,000.", bind_name="smsc1")
    make_sender(db, clock, pool)
    clock.advance(0)
    assert [row.status for row in rows(db)] == ["in_flight"]
    [sent] = pool.sent
    assert sent.prefer == "smsc1"
    assert (sent.pdu.destination_addr, sent.pdu.source_addr) == ("254712000001", "12345")
    assert sent.pdu.registered_delivery == 1
    assert sent.pdu.esm_class == 0
    pool.accept(0, "047D0AC001")
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.attempts, row.parts_total, row.claimed_at_ns) == (
        "submitted",
        1,
        1,
        None,
    )
    [part] = parts(db)
    assert (part.message_id, part.message_key, part.status) == (
        "047D0AC001",
        str(0x047D0AC001),
        "submitted",
    )
    receipt = receipt_from_pdu(interop("mt-gsm-dlr", "deliver_sm")[0], "smsc1")
    receive(db, clock, receipt)
    assert rows(db)[0].status == "delivered"


def test_a_round_is_recorded_in_one_interaction(db, clock):
    pool = FakePool()
    queue(db, clock, *[f"reply {n}" for n in range(5)])
    make_sender(db, clock, pool)
    clock.advance(0)
    assert db.calls.count("sender.claim") == 1
    for index in range(5):
        pool.accept(index, f"{index:X}")
    clock.advance(0)
    assert db.calls.count("sender.record") == 1
    assert [row.status for row in rows(db)] == ["submitted"] * 5
    assert len(parts(db)) == 5


def test_slow_answers_do_not_hold_back_the_others_longer_than_the_wait(db, clock):
    pool = FakePool()
    queue(db, clock, "one", "two", "three")
    make_sender(db, clock, pool, record_max_wait_ms=20)
    clock.advance(0)
    pool.accept(0, "A")
    pool.accept(1, "B")
    clock.advance(0.01)
    assert db.calls.count("sender.record") == 0
    clock.advance(0.01)
    assert db.calls.count("sender.record") == 1
    assert [row.status for row in rows(db)] == ["submitted", "submitted", "in_flight"]


def test_request_receipts_off_and_default_source(db, clock):
    pool = FakePool()
    queue(db, clock, "hi", source_addr="")
    make_sender(db, clock, pool, request_receipts=False, source_addr="MPESA")
    clock.advance(0)
    pdu = pool.sent[0].pdu
    assert pdu.registered_delivery == 0
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("MPESA", 5, 0)


def test_address_types():
    assert address_type("+254712000001") == (Ton.INTERNATIONAL, Npi.ISDN, "254712000001")
    assert address_type("254712000001") == (Ton.INTERNATIONAL, Npi.ISDN, "254712000001")
    assert address_type("0712000001") == (Ton.NATIONAL, Npi.ISDN, "0712000001")
    assert address_type("12345") == (Ton.UNKNOWN, Npi.ISDN, "12345")
    assert address_type("MPESA") == (Ton.ALPHANUMERIC, Npi.UNKNOWN, "MPESA")


# --- long messages -------------------------------------------------------------------------------


def test_multi_part_row_uses_one_reference_and_rolls_up(db, clock):
    pool = FakePool()
    binds = {"smsc1": BindConfig(name="smsc1", host="h", system_id="s", concat_method="udh16")}
    queue(db, clock, LONG_TEXT, bind_name="smsc1")
    make_sender(db, clock, pool, binds)
    clock.advance(0)
    assert len(pool.sent) == 2
    infos = [concat_info(s.pdu.esm_class, s.pdu.short_message, s.pdu.tlvs)[0] for s in pool.sent]
    assert all(s.pdu.esm_class & EsmClass.UDHI for s in pool.sent)
    assert len({info.reference for info in infos}) == 1
    assert [(info.total, info.sequence) for info in infos] == [(2, 1), (2, 2)]
    pool.accept(0, "0198813001")
    pool.accept(1, "0198813002")
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.parts_total, row.concat_reference) == (
        "submitted",
        2,
        infos[0].reference,
    )
    receive(db, clock, make_receipt("smsc1", "0198813001", "DELIVRD"))
    assert rows(db)[0].status == "submitted"
    # The interop SMSC reports these ids in decimal.
    receive(
        db,
        clock,
        *[receipt_from_pdu(p, "smsc1") for p in interop("mt-ucs2-long-dlr-dec", "deliver_sm")],
    )
    assert [p.status for p in parts(db)] == ["delivered", "failed"]  # the first final state wins
    assert (rows(db)[0].status, rows(db)[0].last_error) == ("failed", "stat:UNDELIV err:001")


def test_two_messages_get_different_references(db, clock):
    pool = FakePool()
    queue(db, clock, LONG_TEXT, LONG_TEXT)
    make_sender(db, clock, pool)
    clock.advance(0)
    references = {
        concat_info(s.pdu.esm_class, s.pdu.short_message, {})[0].reference for s in pool.sent
    }
    assert len(references) == 2


def test_retry_resends_only_the_missing_part_with_the_same_reference(db, clock):
    pool = FakePool()
    queue(db, clock, LONG_TEXT)
    make_sender(db, clock, pool)
    clock.advance(0)
    first = [concat_info(s.pdu.esm_class, s.pdu.short_message, {})[0] for s in pool.sent]
    pool.accept(0, "AA01")
    pool.refuse_with(1, S.ESME_RTHROTTLED)
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "ESME_RTHROTTLED")
    clock.advance(30)
    assert len(pool.sent) == 3
    again = concat_info(pool.sent[2].pdu.esm_class, pool.sent[2].pdu.short_message, {})[0]
    assert (again.reference, again.sequence) == (first[1].reference, 2)
    pool.accept(2, "AA02")
    clock.advance(0)
    assert rows(db)[0].status == "submitted"
    assert [(p.part_no, p.message_id) for p in parts(db)] == [(1, "AA01"), (2, "AA02")]


# --- receipts racing the response ---------------------------------------------------------------


def test_receipt_before_the_response_is_applied_when_the_part_is_recorded(db, clock):
    pool = FakePool()
    queue(db, clock, "Confirmed.")
    make_sender(db, clock, pool)
    clock.advance(0)
    result = receive(db, clock, make_receipt("smsc1", "6853570561", "UNDELIV", "001"))
    assert result.kept_early == 1
    pool.accept(0, "0198813001")
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.last_error) == ("failed", "stat:UNDELIV err:001")
    with db.engine.begin() as conn:
        assert conn.execute(select(early_receipts)).all() == []


def test_duplicate_receipts_after_delivery_change_nothing(db, clock):
    pool = FakePool()
    queue(db, clock, "x")
    make_sender(db, clock, pool)
    clock.advance(0)
    pool.accept(0, "0297E26001")
    clock.advance(0)
    receipt = receipt_from_pdu(interop("kannel", "deliver_sm")[0], "smsc1")
    assert receive(db, clock, receipt).applied == 1
    before = rows(db), parts(db)
    assert receive(db, clock, receipt, receipt).unchanged == 2
    assert (rows(db), parts(db)) == before


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RX_T_APPN, S.ESME_RSYSERR]
)
def test_temporary_status_requeues_with_the_attempt_counted(db, clock, status):
    pool = FakePool()
    queue(db, clock, "x")
    make_sender(db, clock, pool)
    clock.advance(0)
    pool.refuse_with(0, status)
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, status.name)
    assert row.next_attempt_at_ns == now_ns(clock) + 30 * 10**9
    assert parts(db) == []


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (S.ESME_RINVDSTADR, "ESME_RINVDSTADR"),
        (S.ESME_RX_P_APPN, "ESME_RX_P_APPN"),
        (0x401, "0x00000401"),
    ],
)
def test_permanent_status_makes_the_row_undeliverable(db, clock, status, name):
    pool = FakePool()
    queue(db, clock, "x")
    make_sender(db, clock, pool)
    clock.advance(0)
    pool.refuse_with(0, status)
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.last_error, row.final_at_ns) == ("undeliverable", name, now_ns(clock))


@pytest.mark.parametrize("error", [ResponseTimeout(SubmitSm()), ConnectionLostError("gone")])
def test_unknown_outcome_requeues_with_the_attempt_counted(db, clock, error):
    pool = FakePool()
    queue(db, clock, "x")
    make_sender(db, clock, pool)
    clock.advance(0)
    pool.fail(0, error)
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, type(error).__name__)


def test_not_sent_requeues_without_counting(db, clock):
    pool = FakePool()
    queue(db, clock, "x")
    make_sender(db, clock, pool)
    clock.advance(0)
    pool.fail(0, NotSent("queued when the link closed"))
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.attempts, row.last_error) == ("queued", 0, "NotSent")
    assert row.next_attempt_at_ns == now_ns(clock) + 30 * 10**9


@pytest.mark.parametrize("error", [NoBindAvailable("none up"), QueueFull("full")])
def test_refused_by_the_pool_requeues_without_counting(db, clock, error):
    pool = FakePool()
    pool.refuse = error
    queue(db, clock, "x")
    make_sender(db, clock, pool)
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.attempts, row.last_error) == ("queued", 0, type(error).__name__)


def test_nothing_is_claimed_while_no_bind_is_up(db, clock):
    pool = FakePool()
    pool.up = []
    queue(db, clock, "x")
    make_sender(db, clock, pool, poll_interval_s=1)
    clock.advance(5)
    assert "sender.claim" not in db.calls
    assert rows(db)[0].status == "queued"
    pool.up = ["smsc1"]
    clock.advance(1)
    assert rows(db)[0].status == "in_flight"


def test_attempts_run_out(db, clock):
    pool = FakePool()
    queue(db, clock, "x")
    make_sender(db, clock, pool, max_attempts=2)
    clock.advance(0)
    pool.fail(0, ResponseTimeout(SubmitSm()))
    clock.advance(0)
    clock.advance(30)
    pool.refuse_with(1, S.ESME_RTHROTTLED)
    clock.advance(0)
    [row] = rows(db)
    assert (row.status, row.attempts) == ("undeliverable", 2)
    assert row.last_error == "gave up after 2 attempts: ESME_RTHROTTLED"
    clock.advance(60)
    assert len(pool.sent) == 2


def test_bad_address_or_text_is_undeliverable_without_submitting(db, clock):
    pool = FakePool()
    queue(db, clock, "x", destination_addr="2" * 21)  # the column allows 21, SMPP 20
    queue(db, clock, "y" * 40_000)
    make_sender(db, clock, pool)
    clock.advance(0)
    assert pool.sent == []
    first, second = rows(db)
    assert first.status == second.status == "undeliverable"
    assert "not an SMPP address" in first.last_error
    assert "cannot split" in second.last_error


def test_rows_past_deliver_by_are_not_sent(db, clock):
    pool = FakePool()
    queue(db, clock, "late", deliver_by_ns=now_ns(clock) - 1)
    make_sender(db, clock, pool)
    clock.advance(0)
    assert pool.sent == []
    assert rows(db)[0].status == "queued"  # the sweeper gives up on it and calls its hook


# --- pacing --------------------------------------------------------------------------------------


def test_in_flight_is_bounded(db, clock):
    pool = FakePool()
    queue(db, clock, *[f"m{n}" for n in range(10)])
    sender = make_sender(db, clock, pool, max_in_flight=3)
    clock.advance(0)
    clock.advance(1)
    assert len(pool.sent) == 3
    assert sender.in_flight_parts == 3
    for index in range(3):
        pool.accept(index, f"{index}")
    clock.advance(0)
    assert len(pool.sent) == 6
    assert sender.in_flight_parts == 3


def test_capacity_follows_bound_windows_and_tps():
    pool = FakePool("fast", "slow")
    binds = {
        "fast": BindConfig(name="fast", host="h", system_id="s", window=5),
        "slow": BindConfig(name="slow", host="h", system_id="s", window=5, tps_limit=2),
    }
    config = SenderConfig(in_flight_timeout_s=40, max_in_flight=10_000)
    sender = Sender(Clock(), None, pool, binds, config)
    assert sender.capacity() == 5 * 20 + 2 * 40 // 4
    pool.up = ["slow"]
    assert sender.capacity() == 20
    pool.up = []
    assert sender.capacity() == 0


def test_wakes_coalesce_and_polling_is_the_fallback(db, clock):
    pool = FakePool()
    sender = make_sender(db, clock, pool, poll_interval_s=0.5)
    clock.advance(0)
    claims = db.calls.count("sender.claim")
    queue(db, clock, "a")
    for _ in range(10):
        sender.wake()
    clock.advance(0)
    assert db.calls.count("sender.claim") == claims + 1
    assert len(pool.sent) == 1
    queue(db, clock, "b")  # nobody wakes the sender
    clock.advance(0.5)
    assert len(pool.sent) == 2


def test_full_claims_continue_at_once(db, clock):
    pool = FakePool()
    queue(db, clock, *[f"m{n}" for n in range(5)])
    make_sender(db, clock, pool, batch_size=2, poll_interval_s=10)
    clock.advance(0)
    clock.advance(0)
    clock.advance(0)
    assert len(pool.sent) == 5


# --- crashes and stops ---------------------------------------------------------------------------


def test_crash_between_claim_and_record_loses_no_row(db, clock):
    pool = FakePool()
    queue(db, clock, "confirm 1", "confirm 2")
    crashed = make_sender(db, clock, pool, in_flight_timeout_s=60)
    clock.advance(0)
    assert [row.status for row in rows(db)] == ["in_flight", "in_flight"]
    crashed.stop()  # the process dies: its Deferreds are never answered
    survivor_pool = FakePool()
    make_sender(db, clock, survivor_pool, in_flight_timeout_s=60, poll_interval_s=1)
    sweeper = Sweeper(
        clock, db, SweeperConfig(interval_s=10), sender_config=SenderConfig(in_flight_timeout_s=60)
    )
    sweeper.start()
    clock.pump([1] * 30)
    assert survivor_pool.sent == []  # in_flight rows belong to their claim until it times out
    clock.pump([1] * 40)
    assert len(survivor_pool.sent) == 2
    survivor_pool.accept(0, "1")
    survivor_pool.accept(1, "2")
    clock.advance(0)
    assert [(row.status, row.attempts) for row in rows(db)] == [("submitted", 2), ("submitted", 2)]


def test_a_late_answer_to_a_requeued_claim_is_dropped(db, clock):
    pool = FakePool()
    queue(db, clock, "x")
    sender = make_sender(db, clock, pool, in_flight_timeout_s=60, poll_interval_s=1000)
    clock.advance(0)
    with db.engine.begin() as conn:  # what the sweeper does after in_flight_timeout_s
        conn.execute(update(outbox).values(status="queued", attempts=1, claimed_at_ns=None))
    pool.accept(0, "77")
    clock.advance(0)
    assert sender.counters["stale"] == 1
    assert parts(db) == []
    assert (rows(db)[0].status, rows(db)[0].attempts) == ("queued", 1)


def test_stop_writes_known_outcomes_and_leaves_the_rest_in_flight(db, clock):
    pool = FakePool()
    queue(db, clock, "a", "b")
    sender = make_sender(db, clock, pool, record_max_wait_ms=1000)
    clock.advance(0)
    pool.accept(0, "1")
    stopped = sender.stop()
    assert stopped.called
    assert [row.status for row in rows(db)] == ["submitted", "in_flight"]
    pool.accept(1, "2")
    clock.advance(5)
    assert [row.status for row in rows(db)] == ["submitted", "in_flight"]


class FlakyDatabase(InlineDatabase):
    """Fails the next `failures` outcome writes, as a database that went away would."""

    def __init__(self, engine, failures):
        super().__init__(engine)
        self.failures = failures

    def run_interaction(self, desc, fn, *args):
        if desc == "sender.record" and self.failures:
            self.failures -= 1
            self.calls.append(desc)
            return fail(OperationalError("INSERT", {}, Exception("database is gone")))
        return super().run_interaction(desc, fn, *args)


def test_a_failed_outcome_write_is_retried(db, clock):
    flaky = FlakyDatabase(db.engine, failures=2)
    pool = FakePool()
    queue(db, clock, "x")
    make_sender(flaky, clock, pool)
    clock.advance(0)
    pool.accept(0, "1")
    clock.advance(0)
    assert rows(db)[0].status == "in_flight"
    clock.pump([1, 1])
    assert flaky.calls.count("sender.record") == 3
    assert rows(db)[0].status == "submitted"


class SlowDatabase(InlineDatabase):
    """Holds the first outcome write until `release()`, as the database thread would."""

    def __init__(self, engine):
        super().__init__(engine)
        self.held = []

    def run_interaction(self, desc, fn, *args):
        if desc == "sender.record" and not self.calls.count(desc):
            self.calls.append(desc)
            self.held.append((Deferred(), fn, args))
            return self.held[-1][0]
        return super().run_interaction(desc, fn, *args)

    def release(self):
        answer, fn, args = self.held.pop(0)
        answer.callback(self.run_sync("held", fn, *args))


def test_stop_during_a_write_also_writes_what_came_in_meanwhile(db, clock):
    slow = SlowDatabase(db.engine)
    pool = FakePool()
    queue(db, clock, "a", "b")
    sender = make_sender(slow, clock, pool, record_max_wait_ms=1000)
    clock.advance(0)
    pool.accept(0, "1")
    clock.advance(1)  # the write of "a" starts and waits on the database thread
    pool.accept(1, "2")
    stopped = sender.stop()
    assert not stopped.called
    slow.release()
    assert stopped.called
    assert [row.status for row in rows(db)] == ["submitted", "submitted"]


def test_claims_carry_the_senders_lease_owner_until_recorded(db, clock):
    pool = FakePool()
    queue(db, clock, "x")
    sender = Sender(clock, db, pool, {}, SenderConfig(), owner="lis-a")
    sender.start()
    clock.advance(0)
    assert [(row.status, row.claimed_by) for row in rows(db)] == [("in_flight", "lis-a")]
    pool.accept(0, "1")
    clock.advance(0)
    assert [(row.status, row.claimed_by) for row in rows(db)] == [("submitted", None)]
