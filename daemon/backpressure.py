"""Back-pressure: when the TranProc falls behind, the LIS stops taking MOs instead of growing.

The backlog is the inbox rows the TranProc has not handled yet (status 'new'). Past
`inbox.max_backlog` every deliver_sm that is not a delivery receipt is answered BACKLOG_STATUS
without being stored; from `inbox.backlog_low_water` down (80% of the bound when unset), MOs are
taken again. The gap between the two keeps the bind from flapping between refusing and taking at
the bound.

BACKLOG_STATUS is ESME_RX_T_APPN, SMPP 3.4's "ESME Receiver Temporary App Error Code": the one
status the spec gives the receiving ESME to say "not now, deliver it again later"; an SMSC keeps the
message and retries it (Kannel's smsc_smpp answers it when its bearerbox queue is full, and the
drain of daemon.drain answers it too). ESME_RTHROTTLED is the SMSC's answer to an ESME that sends
too fast (spec: "ESME has exceeded allowed message limits"); some SMSCs take it in a deliver_sm_resp
as a failure rather than a request to wait. Receipts pass: they add no inbox row and finish outbox
rows (they shrink work, and holding them back would only delay the settlement of moves).

Counting cheaply, on the reactor: the rows are counted in the database every `backlog_check_s`
(through the index that leads with inbox.status); between counts the estimate grows by one for
each MO this process admits and never falls, so it can only overstate the backlog. A count adds
what was admitted while it ran and what was still waiting for its group commit when it started
(such MOs may be in the count too: overstated again, until the next count). In the `lis` role the
TranProc is another process: the count is what tells this one that it caught up.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, func, select
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.components import Adapted, Component, ComponentStatus
from daemon.config import InboxConfig
from daemon.db import Database, first_line
from daemon.lis import InboxWriter
from daemon.periodic import Rerun
from daemon.schema import inbox
from smscore.status import CommandStatus

log = Logger()
BACKLOG_STATUS = CommandStatus.ESME_RX_T_APPN


def backlog_txn(conn: Connection, now_ns: int) -> int:
    """Inbox rows not handled yet (read through ix_inbox_status_id: the done rows are not scanned)."""
    return conn.execute(select(func.count()).where(inbox.c.status == "new")).scalar_one()


class Backlog(Rerun):
    """The inbox backlog as this process knows it, and whether deliver_sm are refused for it.

    `uncommitted` says how many MOs are accepted but not committed yet (the inbox writer's)."""

    name = "inbox.backlog"

    def __init__(
        self,
        reactor: IReactorTime,
        db: Database,
        config: InboxConfig,
        uncommitted: Callable[[], int] = lambda: 0,
    ) -> None:
        super().__init__(reactor, {"refused": 0, "pauses": 0, "counted": 0})
        self.db = db
        self.max_backlog = config.max_backlog
        self.resume_at = config.backlog_resume_at
        self.interval_s = config.backlog_check_s
        self.uncommitted = uncommitted
        self.rows = 0  # the estimate: the last count plus what was admitted since
        self.refusing = False
        self.admitted = 0  # MOs let through, ever (the count's snapshot reads it)

    # --- the reactor side: one comparison per deliver_sm ---

    def admit(self) -> bool:
        """True: take this MO (it adds to the backlog); False: answer BACKLOG_STATUS."""
        if self.refusing:
            self.counters["refused"] += 1
            return False
        self.admitted += 1
        self.rows += 1
        if self.max_backlog and self.rows >= self.max_backlog:
            self._pause()
        return True

    def status(self) -> dict[str, int]:
        return {**self.counters, "rows": self.rows, "refusing": int(self.refusing)}

    # --- the count ---

    def run_now(self) -> Deferred:
        admitted_before, waiting = self.admitted, self.uncommitted()
        run = self.db.run_interaction(self.name, backlog_txn, 0)
        self._running = run
        run.addCallbacks(self._counted, self._count_failed, (admitted_before, waiting))
        return run

    def _counted(self, rows: int, admitted_before: int, waiting: int) -> int:
        if self.last_error:
            log.info("inbox backlog: counted again")
        self.last_error = ""
        self.counters["counted"] += 1
        self.rows = rows + waiting + (self.admitted - admitted_before)
        if self.refusing and self.rows <= self.resume_at:
            self._resume()
        elif not self.refusing and self.max_backlog and self.rows >= self.max_backlog:
            self._pause()
        self._finished(False)
        return rows

    def _count_failed(self, failure: Failure) -> None:
        # The estimate stays (it only grows until a count succeeds): refusing goes on if it was.
        error = first_line(failure.value)
        if error != self.last_error:
            log.warn("inbox backlog count failed (retrying): {error}", error=error)
        self.last_error = error
        self._running = None
        self.counters["failures"] += 1
        self._schedule(self.interval_s)

    def _pause(self) -> None:
        self.refusing = True
        self.counters["pauses"] += 1
        log.warn(
            "inbox backlog at {rows} rows (bound {bound}): the TranProc is behind; deliver_sm "
            "answered ESME_RX_T_APPN (the SMSC delivers them again) until it is down to {low}",
            rows=self.rows,
            bound=self.max_backlog,
            low=self.resume_at,
        )

    def _resume(self) -> None:
        self.refusing = False
        log.info(
            "inbox backlog down to {rows} rows: taking MOs again ({refused} refused so far)",
            rows=self.rows,
            refused=self.counters["refused"],
        )


def attach_backlog(
    inbox: InboxWriter, config: InboxConfig, reactor: IReactorTime, db: Database
) -> list[Component]:
    """Put the bound in front of `inbox` (daemon.binds reads `inbox.backlog` at each deliver_sm);
    returns the component that counts the backlog (none when `max_backlog` is 0: no bound, no
    count)."""
    if not config.max_backlog:
        return []
    backlog = inbox.backlog = Backlog(reactor, db, config, lambda: inbox.uncommitted_count)

    def status() -> ComponentStatus:
        return ComponentStatus(backlog.status(), backlog.last_error)

    return [Adapted(backlog.name, backlog.start, backlog.stop, status)]
