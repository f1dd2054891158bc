"""The sweeper: periodic repairs and deadlines of the outbox, in one bounded transaction per sweep.

Every `interval_s` it:
1. re-queues rows in_flight whose owner's lease has expired (the process that claimed them died and
   has not come back; daemon.outbox.leases), and, as a last resort, rows in_flight for longer than
   the sender's in_flight_timeout_s that this process claimed or that have no owner (rows from
   before leases). Another live process's rows are never touched. The attempt counts: the outcome
   was unknown;
2. marks queued rows whose deliver_by_ns has passed undeliverable: a confirmation that arrives after its
   transfer was voided would tell the subscriber the opposite of the truth;
3. marks queued rows whose attempts reached max_attempts undeliverable;
4. calls the `on_failure` hook of every row that will not be delivered in time (deliver_by passed without
   a DELIVRD receipt, or the row failed / is undeliverable; a USSD screen in flight waits for its
   submit_sm_resp): `hooks[name](conn, row, now_ns)` runs in the
   sweep's transaction, in a savepoint, and the row is marked done in the same transaction, so each hook
   runs exactly once (a hook that raises is recorded in last_error and not retried; operators see it);
   rows whose hook name is not registered wait (it may be registered by a later release);
5. deletes early receipts that matched nothing for receipt_timeout_s;
6. runs the periodic jobs others add (`add_job`), each in a savepoint of the same transaction.

Each step handles at most `max_rows_per_step` rows; when a step is full the next sweep follows at once.
With PostgreSQL, rows are locked with SKIP LOCKED, so several daemons can sweep the same database.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import DBAPIError
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import clock
from daemon.clock import NS_PER_S
from daemon.config import SenderConfig, SweeperConfig
from daemon.db import Database, is_transient
from daemon.deferreds import when_done
from daemon.outbox import OutboxStatus
from daemon.outbox.leases import requeue_values
from daemon.schema import early_receipts, leases, outbox

log = Logger()

# hooks[name](conn, row, now_ns): row is the outbox Row (id, on_failure_ref, status, ...).
FailureHook = Callable[[Connection, Row, int], None]
# job(conn, now_ns) -> anything worth logging (e.g. a count); runs inside the sweep transaction.
SweepJob = Callable[[Connection, int], Any]

_NOT_DELIVERED = (OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE)
# A USSD screen has no receipt: its submit_sm_resp is the delivery. One in flight past deliver_by is
# decided by that answer (or the sender's response timeout, a failure), not by the deadline, which
# (answer_timeout_s) is shorter than the sender's response_timeout_s.
_NOT_AWAITING_USSD_ANSWER = or_(
    outbox.c.ussd_op.is_(None), outbox.c.status != OutboxStatus.IN_FLIGHT
)


@dataclass(frozen=True, slots=True)
class SweepLimits:
    max_rows: int
    in_flight_timeout_ns: int
    max_attempts: int
    receipt_timeout_ns: int
    owner: str | None = None  # this process's lease owner: its own stuck rows are its to re-queue


@dataclass(slots=True)
class SweepReport:
    orphans_requeued: int = 0  # rows of owners whose lease expired
    requeued: int = 0  # rows in flight past in_flight_timeout_s
    expired: int = 0
    exhausted: int = 0
    hooks_called: int = 0
    hook_errors: int = 0
    early_receipts_deleted: int = 0
    jobs: dict[str, Any] = field(default_factory=dict)
    full: bool = False  # some step hit max_rows: sweep again soon

    def counts(self) -> dict[str, int]:
        return {
            "orphans_requeued": self.orphans_requeued,
            "requeued": self.requeued,
            "expired": self.expired,
            "exhausted": self.exhausted,
            "hooks_called": self.hooks_called,
            "hook_errors": self.hook_errors,
            "early_receipts_deleted": self.early_receipts_deleted,
        }


def _ids(conn: Connection, query: Any, limit: int) -> list[int]:
    return list(conn.execute(query.limit(limit).with_for_update(skip_locked=True)).scalars())


def _requeue(conn: Connection, ids: list[int], now_ns: int, reason: str) -> int:
    if ids:
        conn.execute(
            update(outbox).where(outbox.c.id.in_(ids)).values(requeue_values(now_ns, reason))
        )
    return len(ids)


def requeue_stuck_txn(conn: Connection, now_ns: int, limits: SweepLimits) -> int:
    """Rows in flight longer than in_flight_timeout_s, claimed by no owner or by this process."""
    unowned = outbox.c.claimed_by.is_(None)
    mine = unowned if limits.owner is None else or_(unowned, outbox.c.claimed_by == limits.owner)
    query = select(outbox.c.id).where(
        outbox.c.status == OutboxStatus.IN_FLIGHT,
        outbox.c.claimed_at_ns < now_ns - limits.in_flight_timeout_ns,
        mine,
    )
    ids = _ids(conn, query.order_by(outbox.c.claimed_at_ns), limits.max_rows)
    reason = "in flight too long (crash or lost bind); outcome unknown, re-queued"
    return _requeue(conn, ids, now_ns, reason)


def requeue_orphans_txn(conn: Connection, now_ns: int, limits: SweepLimits) -> int:
    """Rows in flight whose owner holds no live lease: it died (and has not restarted)."""
    live = select(leases.c.owner).where(
        leases.c.owner == outbox.c.claimed_by, leases.c.expires_at_ns >= now_ns
    )
    query = select(outbox.c.id).where(
        outbox.c.status == OutboxStatus.IN_FLIGHT,
        outbox.c.claimed_by.is_not(None),
        ~live.exists(),
    )
    ids = _ids(conn, query.order_by(outbox.c.claimed_at_ns), limits.max_rows)
    reason = "its owner's lease expired (process died); outcome unknown, re-queued"
    return _requeue(conn, ids, now_ns, reason)


def _give_up(conn: Connection, ids: list[int], now_ns: int, reason: str) -> None:
    if ids:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status=OutboxStatus.UNDELIVERABLE, final_at_ns=now_ns, last_error=reason)
        )


def expire_overdue_txn(conn: Connection, now_ns: int, limits: SweepLimits) -> int:
    query = select(outbox.c.id).where(
        outbox.c.status == OutboxStatus.QUEUED,
        outbox.c.deliver_by_ns.is_not(None),
        outbox.c.deliver_by_ns < now_ns,
    )
    ids = _ids(conn, query.order_by(outbox.c.id), limits.max_rows)
    _give_up(conn, ids, now_ns, "deliver_by passed before it could be sent")
    return len(ids)


def exhaust_attempts_txn(conn: Connection, now_ns: int, limits: SweepLimits) -> int:
    query = select(outbox.c.id).where(
        outbox.c.status == OutboxStatus.QUEUED, outbox.c.attempts >= limits.max_attempts
    )
    ids = _ids(conn, query.order_by(outbox.c.id), limits.max_rows)
    _give_up(conn, ids, now_ns, f"gave up after {limits.max_attempts} attempts")
    return len(ids)


_MARK_HOOK_DONE = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"))
    .values(on_failure_done_at_ns=bindparam("b_done_at_ns"), last_error=bindparam("b_last_error"))
)


def run_failure_hooks_txn(
    conn: Connection, now_ns: int, limits: SweepLimits, hooks: Mapping[str, FailureHook]
) -> tuple[int, int]:
    """Call each due hook once; returns (called, raised)."""
    if not hooks:
        return 0, 0
    query = select(outbox).where(
        outbox.c.on_failure.is_not(None),
        outbox.c.on_failure_done_at_ns.is_(None),
        outbox.c.on_failure.in_(sorted(hooks)),
        or_(
            outbox.c.status.in_(_NOT_DELIVERED),
            and_(
                outbox.c.deliver_by_ns < now_ns,
                outbox.c.status != OutboxStatus.DELIVERED,
                _NOT_AWAITING_USSD_ANSWER,
            ),
        ),
    )
    rows = conn.execute(
        query.order_by(outbox.c.id).limit(limits.max_rows).with_for_update(skip_locked=True)
    ).all()
    done, errors = [], 0
    for row in rows:
        error = _call_hook(conn, hooks[row.on_failure], row, now_ns)
        errors += error is not None
        last_error = row.last_error if error is None else _join(row.last_error, error)
        done.append({"b_id": row.id, "b_done_at_ns": now_ns, "b_last_error": last_error})
    if done:
        conn.execute(_MARK_HOOK_DONE, done)
    return len(rows), errors


def _call_hook(conn: Connection, hook: FailureHook, row: Row, now_ns: int) -> str | None:
    try:
        with conn.begin_nested():
            hook(conn, row, now_ns)
    except DBAPIError as exc:
        if is_transient(exc):
            raise  # the whole sweep is retried; nothing was marked
        return _hook_failed(row, exc)
    except Exception as exc:
        return _hook_failed(row, exc)
    return None


def _hook_failed(row: Row, exc: BaseException) -> str:
    log.error(
        "outbox {id}: on_failure hook {name} raised {error!r}; marked done, not retried",
        id=row.id,
        name=row.on_failure,
        error=exc,
    )
    return f"hook {row.on_failure} failed: {exc}"


def _join(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def delete_old_early_receipts_txn(conn: Connection, now_ns: int, limits: SweepLimits) -> int:
    query = select(early_receipts.c.id).where(
        early_receipts.c.received_at_ns < now_ns - limits.receipt_timeout_ns
    )
    ids = _ids(conn, query.order_by(early_receipts.c.id), limits.max_rows)
    if ids:
        conn.execute(delete(early_receipts).where(early_receipts.c.id.in_(ids)))
    return len(ids)


def _run_job(conn: Connection, name: str, job: SweepJob, now_ns: int) -> Any:
    try:
        with conn.begin_nested():
            return job(conn, now_ns)
    except DBAPIError as exc:
        if is_transient(exc):
            raise
        log.error("sweep job {name} failed: {error!r}", name=name, error=exc)
    except Exception as exc:
        log.error("sweep job {name} failed: {error!r}", name=name, error=exc)
    return None


def sweep_txn(
    conn: Connection,
    now_ns: int,
    limits: SweepLimits,
    hooks: Mapping[str, FailureHook],
    jobs: Mapping[str, SweepJob],
) -> SweepReport:
    """One sweep: every step in order, each bounded by limits.max_rows."""
    report = SweepReport()
    report.orphans_requeued = requeue_orphans_txn(conn, now_ns, limits)
    report.requeued = requeue_stuck_txn(conn, now_ns, limits)
    report.expired = expire_overdue_txn(conn, now_ns, limits)
    report.exhausted = exhaust_attempts_txn(conn, now_ns, limits)
    report.hooks_called, report.hook_errors = run_failure_hooks_txn(conn, now_ns, limits, hooks)
    report.early_receipts_deleted = delete_old_early_receipts_txn(conn, now_ns, limits)
    for name, job in jobs.items():
        report.jobs[name] = _run_job(conn, name, job, now_ns)
    report.full = any(count >= limits.max_rows for count in report.counts().values())
    return report


class Sweeper:
    """Runs `sweep_txn` every config.interval_s on the database thread."""

    def __init__(
        self,
        reactor: IReactorTime,
        db: Database,
        config: SweeperConfig,
        hooks: Mapping[str, FailureHook] | None = None,
        *,
        sender_config: SenderConfig | None = None,
        owner: str | None = None,
    ) -> None:
        sender_config = sender_config or SenderConfig()
        self.reactor = reactor
        self.db = db
        self.config = config
        self.hooks: dict[str, FailureHook] = dict(hooks or {})
        self.jobs: dict[str, SweepJob] = {}
        self.limits = SweepLimits(
            max_rows=config.max_rows_per_step,
            in_flight_timeout_ns=int(sender_config.in_flight_timeout_s * NS_PER_S),
            max_attempts=sender_config.max_attempts,
            receipt_timeout_ns=int(config.receipt_timeout_s * NS_PER_S),
            owner=owner,
        )
        self.last_report: SweepReport | None = None
        self.report_observers: list[Callable[[SweepReport], None]] = []  # after each commit
        self._call: IDelayedCall | None = None
        self._sweeping: Deferred | None = None
        self._running = False

    def register_hook(self, name: str, hook: FailureHook) -> None:
        if name in self.hooks:
            raise ValueError(f"an on_failure hook named {name!r} is already registered")
        self.hooks[name] = hook

    def add_job(self, name: str, job: SweepJob) -> None:
        """Run `job(conn, now_ns)` in every sweep's transaction (e.g. the LIS's expire_mo_parts)."""
        if name in self.jobs:
            raise ValueError(f"a sweep job named {name!r} is already added")
        self.jobs[name] = job

    def start(self) -> None:
        self._running = True
        self._schedule(0)

    def stop(self) -> Deferred:
        """Stop sweeping; fires when a sweep under way has finished."""
        self._running = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        return when_done(self._sweeping)

    def _schedule(self, delay_s: float) -> None:
        if self._running and (self._call is None or not self._call.active()):
            self._call = self.reactor.callLater(delay_s, self._tick)

    def _tick(self) -> None:
        self._call = None
        if self._sweeping is None:
            self.sweep_now()

    def sweep_now(self) -> Deferred:
        """Sweep once now (tests, `smscore` admin commands); fires with the SweepReport."""
        sweep = self.db.run_interaction(
            "sweeper.sweep",
            sweep_txn,
            clock.now_ns(self.reactor),
            self.limits,
            dict(self.hooks),
            dict(self.jobs),
        )
        self._sweeping = sweep
        sweep.addCallbacks(self._swept, self._failed)
        return sweep

    def _swept(self, report: SweepReport) -> SweepReport:
        self._sweeping = None
        self.last_report = report
        for observer in self.report_observers:
            observer(report)
        counts = {name: count for name, count in report.counts().items() if count}
        if counts:
            log.info("sweep: {counts}", counts=counts)
        self._schedule(0 if report.full else self.config.interval_s)
        return report

    def _failed(self, failure: Failure) -> None:
        self._sweeping = None
        log.failure("sweep failed", failure)
        self._schedule(self.config.interval_s)
