"""Queue depths and ages for the metrics, taken every few seconds on the database thread (a scrape is
answered on the reactor, which must never wait for a query): the last snapshot is what a scrape
shows, with its own age beside it.

Each count reads only the open rows of its table through the index that leads with the state
column (ix_inbox_status_id, ix_outbox_status_next, ix_moves_state_expires, ix_api_callbacks_due,
ix_fraud_holds_state): the finished rows, which grow without end, are never scanned.

Fraud holds: the ones waiting for staff are a gauge like the queues. Their releases and refusals
(staff's, or the system's when a hold expires) are counted as they happen, from the audit log's
fraud.release and fraud.reject entries: each snapshot reads only the entries appended since the
last one (the id range past its cursor, by primary key), never the finished holds. The audit chain
appends one entry at a time under its head's lock, so ids are committed in order and no entry is
passed over. The figures are the database's: every process exporting them counts every decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, func, select
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import clock
from daemon.audit import SecurityEvent
from daemon.db import Database, first_line
from daemon.periodic import Rerun
from daemon.schema import audit_head, audit_log, inbox, moves, outbox
from daemon.schema_api import api_callbacks
from daemon.schema_security import fraud_holds

log = Logger()
SNAPSHOT_INTERVAL_S = 5.0  # Prometheus scrapes every 15 s by default: each scrape sees a fresh one


@dataclass(frozen=True)
class QueueSpec:
    name: str  # the `queue` label
    table: Table
    state_column: str
    since_column: str  # the age of a row is now minus this
    states: tuple[str, ...]  # the open states: a row in one of them waits for something


QUEUES = (
    QueueSpec("inbox", inbox, "status", "received_at_ns", ("new",)),
    QueueSpec("outbox", outbox, "status", "created_at_ns", ("queued", "in_flight", "submitted")),
    QueueSpec("moves", moves, "state", "created_at_ns", ("held", "confirming", "pending")),
    QueueSpec("api_callbacks", api_callbacks, "state", "created_at_ns", ("pending", "sending")),
)
FRAUD_HOLD_WAITING = "held"  # fraud_holds.state of a hold waiting for staff
# The audit entries of a hold's end, as the decision label shows them.
FRAUD_DECISIONS = {
    SecurityEvent.FRAUD_RELEASE.value: "released",
    SecurityEvent.FRAUD_REJECT.value: "refused",
}


@dataclass(frozen=True)
class QueueFigures:
    taken_at_ns: int
    # (queue, state) -> (rows, oldest row's since_column in ns, None when there is none)
    depths: dict[tuple[str, str], tuple[int, int | None]] = field(default_factory=dict)
    fraud_holds_waiting: int = 0
    audit_last_id: int = 0  # the audit log's newest entry when they were taken
    # decision (released, refused) -> audit entries after the cursor the figures were asked from
    fraud_decisions: dict[str, int] = field(default_factory=dict)


def _depths_txn(conn: Connection, spec: QueueSpec) -> dict[tuple[str, str], tuple[int, int | None]]:
    state = spec.table.c[spec.state_column]
    since = spec.table.c[spec.since_column]
    rows = conn.execute(
        select(state, func.count(), func.min(since)).where(state.in_(spec.states)).group_by(state)
    )
    found = {row[0]: (row[1], row[2]) for row in rows}
    return {(spec.name, name): found.get(name, (0, None)) for name in spec.states}


def queue_figures_txn(conn: Connection, now_ns: int, audit_after_id: int | None) -> QueueFigures:
    """The figures; the fraud decisions audited after `audit_after_id` (None: none counted, the
    cursor only found: a process counts the decisions made while it runs)."""
    depths: dict[tuple[str, str], tuple[int, int | None]] = {}
    for spec in QUEUES:
        depths.update(_depths_txn(conn, spec))
    state = fraud_holds.c.state
    waiting = conn.execute(select(func.count()).where(state == FRAUD_HOLD_WAITING)).scalar_one()
    last_id = conn.execute(select(audit_head.c.last_id)).scalar() or 0
    decisions = dict.fromkeys(FRAUD_DECISIONS.values(), 0)
    if audit_after_id is not None and last_id > audit_after_id:
        action = audit_log.c.action
        found = conn.execute(
            select(action, func.count())
            .where(audit_log.c.id > audit_after_id, audit_log.c.id <= last_id)
            .where(action.in_(FRAUD_DECISIONS))
            .group_by(action)
        )
        for stored, count in found:
            decisions[FRAUD_DECISIONS[stored]] += count
    return QueueFigures(now_ns, depths, waiting, last_id, decisions)


class QueueSnapshot(Rerun):
    """Takes QueueFigures every interval_s; `last` is the newest (None before the first)."""

    name = "metrics.queues"

    def __init__(
        self, reactor: IReactorTime, db: Database, interval_s: float = SNAPSHOT_INTERVAL_S
    ) -> None:
        super().__init__(reactor, {})
        self.db = db
        self.interval_s = interval_s
        self.last: QueueFigures | None = None
        # Fraud holds released / refused since this process took its first snapshot (counters).
        self.fraud_decisions = dict.fromkeys(FRAUD_DECISIONS.values(), 0)

    def run_now(self) -> Deferred:
        cursor = self.last.audit_last_id if self.last is not None else None
        now_ns = clock.now_ns(self.reactor)
        run = self.db.run_interaction(self.name, queue_figures_txn, now_ns, cursor)
        self._running = run
        run.addCallbacks(self._taken, self._failed)
        return run

    def _taken(self, figures: QueueFigures) -> QueueFigures:
        if self.last_error:
            log.info("queue snapshot: the database answers again")
        self.last, self.last_error = figures, ""
        for decision, count in figures.fraud_decisions.items():
            self.fraud_decisions[decision] += count
        self._finished(False)
        return figures

    def _failed(self, failure: Failure) -> None:
        # One line when the reason changes, not a traceback every few seconds while it is down:
        # /health/ready and the last_error say the rest.
        error = first_line(failure.value)
        if error != self.last_error:
            log.warn(
                "queue snapshot failed (retrying every {s}s): {error}",
                s=self.interval_s,
                error=error,
            )
        self._running = None
        self.counters["failures"] += 1
        self.last_error = error
        self._schedule(self.interval_s)
