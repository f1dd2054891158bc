"""Back-pressure: past inbox.max_backlog the LIS answers deliver_sm ESME_RX_T_APPN unstored, and
takes MOs again by itself once the backlog is down to the low-water mark (a task.Clock drives the
counts; the inbox is a real SQLite database)."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select, update
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from daemon.backpressure import BACKLOG_STATUS, Backlog, attach_backlog
from daemon.binds import bind_handler
from daemon.config import BindConfig, ConfigError, InboxConfig, build_config
from daemon.drain import MoGate
from daemon.lis import InboxWriter
from daemon.metrics.backlog import BacklogCollector
from daemon.receipts import apply_receipts_txn, is_receipt, receipt_from_pdu
from daemon.schema import inbox
from smscore.constants import EsmClass
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus as S

BIND = BindConfig(name="sim", host="127.0.0.1", port=2775, system_id="smscore", password="x")
RECEIPT_TEXT = b"id:1 sub:001 dlvrd:001 submit date:2601010000 done date:2601010000 stat:DELIVRD"


def mo(number: int) -> DeliverSm:
    return DeliverSm(
        source_addr=f"2547120{number:05d}", destination_addr="12345", short_message=b"PING"
    )


def receipt() -> DeliverSm:
    return DeliverSm(
        source_addr="254712000001",
        destination_addr="12345",
        esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
        short_message=RECEIPT_TEXT,
    )


def lis(db, clock: Clock, **inbox_settings):
    """An inbox writer with the bound in front, as daemon.service builds it; returns the bind's
    handler, the writer and the backlog (its count started, as the daemon starts it)."""
    config = InboxConfig(group_commit_max_wait_ms=1, **inbox_settings)
    writer = InboxWriter(
        clock,
        db,
        config,
        is_receipt=is_receipt,
        receipt_from_pdu=receipt_from_pdu,
        receipt_sink=apply_receipts_txn,
    )
    [component] = attach_backlog(writer, config, clock, db)
    component.start()
    return bind_handler(writer, MoGate(), BIND), writer, writer.backlog


def statuses(handler, pdus, clock: Clock) -> list[int]:
    answered: list[int | None] = [None] * len(pdus)  # in the order of the deliver_sm
    for index, pdu in enumerate(pdus):
        result = handler(pdu)
        if isinstance(result, Deferred):
            result.addCallback(lambda status, at=index: answered.__setitem__(at, status))
        else:
            answered[index] = result
    clock.advance(0.001)  # the group commit
    return answered


def stored(db) -> int:
    with db.engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(inbox)).scalar_one()


def handle_all(db) -> None:
    """What the TranProc does to the backlog: every row done."""
    with db.engine.begin() as conn:
        conn.execute(update(inbox).values(status="done"))


def test_past_the_bound_mos_are_refused_unstored_with_a_temporary_error(db, clock):
    handler, _, backlog = lis(db, clock, max_backlog=5, backlog_low_water=2)
    answered = statuses(handler, [mo(n) for n in range(8)], clock)
    assert answered == [S.ESME_ROK] * 5 + [S.ESME_RX_T_APPN] * 3
    assert BACKLOG_STATUS == S.ESME_RX_T_APPN  # SMPP 3.4's "receiver temporary error": retried
    assert stored(db) == 5  # the inbox stops at the bound
    assert backlog.status() == {
        "refused": 3,
        "pauses": 1,
        "counted": 1,  # the count at start
        "rows": 5,
        "refusing": 1,
        "runs": 1,
        "failures": 0,
    }


def test_it_takes_mos_again_once_the_backlog_is_down_to_the_low_water_mark(db, clock):
    handler, _, backlog = lis(db, clock, max_backlog=4, backlog_low_water=1, backlog_check_s=1)
    statuses(handler, [mo(n) for n in range(6)], clock)
    handle_all(db)  # the TranProc caught up; this process learns it at the next count
    assert statuses(handler, [mo(10)], clock) == [S.ESME_RX_T_APPN]
    clock.advance(1)
    assert not backlog.refusing and backlog.rows == 0
    assert statuses(handler, [mo(11), mo(12)], clock) == [S.ESME_ROK, S.ESME_ROK]
    assert stored(db) == 6


def test_between_the_two_marks_it_goes_on_refusing(db, clock):
    # Hysteresis: a backlog that fell just below the bound would flap between taking and refusing.
    handler, _, backlog = lis(db, clock, max_backlog=4, backlog_low_water=1, backlog_check_s=1)
    statuses(handler, [mo(n) for n in range(4)], clock)
    with db.engine.begin() as conn:  # two of the four handled: 2 left, above the low water (1)
        conn.execute(update(inbox).where(inbox.c.id <= 2).values(status="done"))
    clock.advance(1)
    assert backlog.rows == 2 and backlog.refusing
    assert statuses(handler, [mo(9)], clock) == [S.ESME_RX_T_APPN]


def test_the_bound_is_reached_from_the_count_too(db, clock):
    # A backlog left by the previous run (or written by another LIS) is found by the count.
    handler, _, backlog = lis(db, clock, max_backlog=3, backlog_check_s=1)
    statuses(handler, [mo(n) for n in range(2)], clock)
    with db.engine.begin() as conn:  # rows another process wrote
        conn.execute(inbox.insert(), [row_like(n) for n in range(2)])
    clock.advance(1)
    assert backlog.rows == 4 and backlog.refusing


def row_like(number: int) -> dict:
    return {
        "received_at_ns": 1,
        "bind_name": "other",
        "source_addr": f"25471300{number:04d}",
        "destination_addr": "12345",
        "data_coding": 0,
        "payload": b"PING",
        "text": "PING",
        "dedupe_key": f"k{number}",
        "status": "new",
        "attempts": 0,
    }


def test_receipts_pass_while_refusing(db, clock):
    # A receipt adds no inbox row and finishes outbox work: holding it back helps nothing.
    handler, writer, backlog = lis(db, clock, max_backlog=1)
    statuses(handler, [mo(1), mo(2)], clock)
    assert backlog.refusing
    assert statuses(handler, [receipt()], clock) == [S.ESME_ROK]
    assert writer.counters["receipts_received"] == 1 and backlog.counters["refused"] == 1


def test_a_count_adds_what_waits_for_its_group_commit(db):
    # MOs accepted but not committed when the count starts are not in it: they are added.
    clock = Clock()
    config = InboxConfig(max_backlog=100, group_commit_max_wait_ms=1000)
    writer = InboxWriter(clock, db, config)
    assert len(attach_backlog(writer, config, clock, db)) == 1  # not started: no count yet
    handler = bind_handler(writer, MoGate(), BIND)
    for n in range(3):
        handler(mo(n))
    assert writer.uncommitted_count == 3
    writer.backlog.run_now()
    assert writer.backlog.rows == 3 and stored(db) == 0


def test_a_failed_count_keeps_the_estimate(db, clock):
    handler, _, backlog = lis(db, clock, max_backlog=2, backlog_check_s=1)
    statuses(handler, [mo(1), mo(2)], clock)
    handle_all(db)
    backlog.db = FailingDb()
    clock.advance(1)
    assert backlog.refusing and backlog.rows == 2 and backlog.counters["failures"] == 1
    assert backlog.last_error == "database is locked"


class FailingDb:
    def run_interaction(self, desc, fn, *args):
        return fail(RuntimeError("database is locked"))


def test_no_bound_no_count_and_no_guard(db, clock):
    config = InboxConfig(max_backlog=0)
    writer = InboxWriter(clock, db, config)
    assert attach_backlog(writer, config, clock, db) == [] and writer.backlog is None
    assert db.calls == []


def test_the_low_water_mark_defaults_to_four_fifths_and_must_be_below_the_bound():
    assert InboxConfig(max_backlog=1000).backlog_resume_at == 800
    assert InboxConfig(max_backlog=1000, backlog_low_water=10).backlog_resume_at == 10
    with pytest.raises(ConfigError, match="backlog_low_water must be below max_backlog"):
        build_config({"inbox": {"max_backlog": 10, "backlog_low_water": 10}})


def test_the_backlog_counts_only_rows_not_handled(db, clock):
    with db.engine.begin() as conn:
        conn.execute(inbox.insert(), [row_like(n) for n in range(3)])
        conn.execute(update(inbox).where(inbox.c.id == 1).values(status="failed"))
    backlog = Backlog(clock, db, InboxConfig(max_backlog=10))
    backlog.run_now()
    assert backlog.rows == 2


def test_the_metrics_show_the_backlog_its_bound_and_the_refusals(db, clock):
    handler, _, backlog = lis(db, clock, max_backlog=2)
    statuses(handler, [mo(n) for n in range(5)], clock)
    registry = CollectorRegistry()
    registry.register(BacklogCollector(backlog))
    text = generate_latest(registry).decode()
    for line in (
        "smscore_inbox_backlog 2.0",
        "smscore_inbox_backlog_bound 2.0",
        "smscore_inbox_backlog_refusing 1.0",
        "smscore_inbox_backlog_refused_total 3.0",
        "smscore_inbox_backlog_pauses_total 1.0",
    ):
        assert line in text.splitlines(), text


def test_a_bound_attached_after_the_binds_were_built_still_applies(db, clock):
    # daemon.service attaches the bound in the component list, after build_binds made the handlers.
    config = InboxConfig(max_backlog=1, group_commit_max_wait_ms=1)
    writer = InboxWriter(clock, db, config)
    handler = bind_handler(writer, MoGate(), BIND)
    attach_backlog(writer, config, clock, db)
    assert statuses(handler, [mo(1), mo(2)], clock) == [S.ESME_ROK, S.ESME_RX_T_APPN]
