"""The sweeper: stuck rows, exhausted attempts, deadlines and their hooks, early receipts, jobs."""

import pytest
from sqlalchemy import func, insert, select, update

from daemon.clock import now_ns
from daemon.config import SenderConfig, SweeperConfig
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.schema import early_receipts, outbox
from daemon.sweeper import Sweeper

S = 1_000_000_000


def add_row(db, clock, status="queued", **fields):
    """One outbox row in `status`; fields may set any outbox column. Returns its id."""
    sms_fields = {
        k: fields.pop(k) for k in ("on_failure", "on_failure_ref", "deliver_by_ns") if k in fields
    }
    sms = OutgoingSms("254712000001", "Confirmed.", "12345", **sms_fields)

    def txn(conn):
        queue_sms_txn(conn, [sms], now_ns(clock))
        row_id = conn.execute(select(func.max(outbox.c.id))).scalar()
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(status=status, **fields))
        return row_id

    return db.run_sync("setup", txn)


def row(db, row_id):
    with db.engine.begin() as conn:
        return conn.execute(select(outbox).where(outbox.c.id == row_id)).one()


def make_sweeper(db, clock, hooks=None, *, max_rows=1000, in_flight_timeout_s=120, max_attempts=5):
    return Sweeper(
        clock,
        db,
        SweeperConfig(interval_s=5, receipt_timeout_s=3600, max_rows_per_step=max_rows),
        hooks,
        sender_config=SenderConfig(
            in_flight_timeout_s=in_flight_timeout_s, max_attempts=max_attempts
        ),
    )


def sweep(sweeper):
    reports = []
    sweeper.sweep_now().addCallback(reports.append)
    return reports[0]


def test_stuck_in_flight_rows_are_requeued_with_the_attempt_counted(db, clock):
    stuck = add_row(db, clock, "in_flight", claimed_at_ns=now_ns(clock) - 121 * S, attempts=1)
    recent = add_row(db, clock, "in_flight", claimed_at_ns=now_ns(clock) - 119 * S)
    report = sweep(make_sweeper(db, clock))
    assert report.requeued == 1
    requeued = row(db, stuck)
    assert (requeued.status, requeued.attempts, requeued.claimed_at_ns) == ("queued", 2, None)
    assert requeued.next_attempt_at_ns == now_ns(clock)
    assert "outcome unknown" in requeued.last_error
    assert row(db, recent).status == "in_flight"


def test_rows_out_of_attempts_become_undeliverable(db, clock):
    last_try = add_row(db, clock, "in_flight", claimed_at_ns=0, attempts=4)
    spent = add_row(db, clock, "queued", attempts=5)
    fresh = add_row(db, clock, "queued", attempts=4)
    report = sweep(make_sweeper(db, clock, max_attempts=5))
    assert (report.requeued, report.exhausted) == (1, 2)
    for row_id in (last_try, spent):
        gave_up = row(db, row_id)
        assert (gave_up.status, gave_up.last_error) == ("undeliverable", "gave up after 5 attempts")
        assert gave_up.final_at_ns == now_ns(clock)
    assert row(db, fresh).status == "queued"


def test_failure_hook_runs_once_in_the_sweep_transaction(db, clock):
    calls = []

    def void_pending_transfer(conn, outbox_row, now):
        calls.append((outbox_row.id, outbox_row.on_failure_ref, now))
        # The hook's own writes commit with the sweep.
        conn.execute(
            insert(early_receipts).values(
                bind_name="hook", message_key=str(outbox_row.on_failure_ref), stat="X", err="",
                received_at_ns=now,
            )
        )  # fmt: skip

    deadline = now_ns(clock) + 60 * S
    row_id = add_row(
        db, clock, "submitted", on_failure="void", on_failure_ref=42, deliver_by_ns=deadline
    )
    sweeper = make_sweeper(db, clock, {"void": void_pending_transfer})
    assert sweep(sweeper).hooks_called == 0  # still time to deliver it
    clock.advance(61)
    assert sweep(sweeper).hooks_called == 1
    assert sweep(sweeper).hooks_called == 0
    assert calls == [(row_id, 42, now_ns(clock))]
    assert row(db, row_id).on_failure_done_at_ns == now_ns(clock)
    with db.engine.begin() as conn:
        assert conn.execute(select(early_receipts.c.message_key)).scalars().all() == ["42"]


@pytest.mark.parametrize("status", ["failed", "undeliverable"])
def test_hook_fires_at_once_when_the_row_cannot_be_delivered(db, clock, status):
    calls = []
    add_row(db, clock, status, on_failure="void", deliver_by_ns=now_ns(clock) + 3600 * S)
    sweep(make_sweeper(db, clock, {"void": lambda conn, r, now: calls.append(r.id)}))
    assert len(calls) == 1


def test_no_hook_for_delivered_rows_or_rows_without_one(db, clock):
    calls = []
    add_row(db, clock, "delivered", on_failure="void", deliver_by_ns=now_ns(clock) - S)
    add_row(db, clock, "failed", deliver_by_ns=now_ns(clock) - S)
    sweep(make_sweeper(db, clock, {"void": lambda conn, r, now: calls.append(r.id)}))
    assert calls == []


def test_overdue_queued_row_is_not_sent_and_its_hook_fires(db, clock):
    calls = []
    row_id = add_row(db, clock, "queued", on_failure="void", deliver_by_ns=now_ns(clock) - S)
    report = sweep(make_sweeper(db, clock, {"void": lambda conn, r, now: calls.append(r.status)}))
    assert (report.expired, report.hooks_called) == (1, 1)
    assert calls == ["undeliverable"]  # the hook sees the final status
    assert row(db, row_id).last_error == "deliver_by passed before it could be sent"


def test_a_raising_hook_is_rolled_back_recorded_and_not_retried(db, clock):
    def broken(conn, outbox_row, now):
        conn.execute(update(outbox).where(outbox.c.id == outbox_row.id).values(text="changed"))
        raise RuntimeError("ledger said no")

    calls = []
    bad = add_row(db, clock, "failed", on_failure="broken", last_error="stat:UNDELIV err:001")
    good = add_row(db, clock, "failed", on_failure="void")
    sweeper = make_sweeper(
        db, clock, {"broken": broken, "void": lambda c, r, n: calls.append(r.id)}
    )
    report = sweep(sweeper)
    assert (report.hooks_called, report.hook_errors) == (2, 1)
    assert calls == [good]
    failed = row(db, bad)
    assert failed.text == "Confirmed."  # the hook's write was rolled back
    assert failed.last_error == "stat:UNDELIV err:001; hook broken failed: ledger said no"
    assert failed.on_failure_done_at_ns is not None
    assert sweep(sweeper).hooks_called == 0


def test_unregistered_hook_waits_until_registered(db, clock):
    calls = []
    row_id = add_row(db, clock, "failed", on_failure="later")
    sweeper = make_sweeper(db, clock)
    assert sweep(sweeper).hooks_called == 0
    assert row(db, row_id).on_failure_done_at_ns is None
    sweeper.register_hook("later", lambda conn, r, now: calls.append(r.id))
    assert sweep(sweeper).hooks_called == 1
    assert calls == [row_id]
    with pytest.raises(ValueError, match="already registered"):
        sweeper.register_hook("later", lambda conn, r, now: None)


def test_old_early_receipts_are_deleted(db, clock):
    def txn(conn):
        rows = [
            {
                "bind_name": "b",
                "message_key": key,
                "stat": "DELIVRD",
                "err": "000",
                "received_at_ns": at,
            }
            for key, at in (("old", now_ns(clock) - 3601 * S), ("new", now_ns(clock) - 3599 * S))
        ]
        conn.execute(insert(early_receipts), rows)

    db.run_sync("setup", txn)
    assert sweep(make_sweeper(db, clock)).early_receipts_deleted == 1
    with db.engine.begin() as conn:
        assert conn.execute(select(early_receipts.c.message_key)).scalars().all() == ["new"]


def test_work_per_sweep_is_bounded_and_a_full_sweep_repeats_at_once(db, clock):
    ids = [add_row(db, clock, "in_flight", claimed_at_ns=0) for _ in range(5)]
    sweeper = make_sweeper(db, clock, max_rows=2)
    queued_after_each_sweep = []
    count_queued = select(func.count()).where(outbox.c.status == "queued")
    sweeper.add_job(
        "count", lambda conn, now: queued_after_each_sweep.append(conn.scalar(count_queued))
    )
    sweeper.start()
    clock.advance(0)  # full sweeps follow each other without waiting interval_s
    assert queued_after_each_sweep == [2, 4, 5]
    assert not sweeper.last_report.full
    assert [row(db, row_id).status for row_id in ids] == ["queued"] * 5
    sweeps = db.calls.count("sweeper.sweep")
    clock.advance(4.9)
    assert db.calls.count("sweeper.sweep") == sweeps
    clock.advance(0.1)
    assert db.calls.count("sweeper.sweep") == sweeps + 1
    sweeper.stop()
    clock.advance(60)
    assert db.calls.count("sweeper.sweep") == sweeps + 1


def test_jobs_run_in_every_sweep_and_a_failing_job_stops_nothing(db, clock):
    seen = []

    def expire_mo_parts(conn, now):
        seen.append(now)
        return 3

    def broken(conn, now):
        conn.execute(update(outbox).values(text="changed"))
        raise RuntimeError("bug")

    row_id = add_row(db, clock, "in_flight", claimed_at_ns=0)
    sweeper = make_sweeper(db, clock)
    sweeper.add_job("broken", broken)
    sweeper.add_job("expire_mo_parts", expire_mo_parts)
    report = sweep(sweeper)
    assert report.jobs == {"broken": None, "expire_mo_parts": 3}
    assert seen == [now_ns(clock)]
    assert (row(db, row_id).status, row(db, row_id).text) == ("queued", "Confirmed.")
    with pytest.raises(ValueError, match="already added"):
        sweeper.add_job("broken", broken)
