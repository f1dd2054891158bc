"""The security figures of `smscore status`, read from the database (so every process, and several
TranProcs, see the same): app messages refused by reason, PIN and one-time-code lockouts, since
this daemon started; fraud holds waiting for staff, now. Counts only: never a number, key or text.

Refusals and lockouts are counted incrementally: each reading counts the inbox and audit rows
appended since the last one (primary-key ranges, at most STEP_ROWS per table per reading, the
rest at the next), so a status request costs the same after a month as after a minute. The inbox
cursor stops before the oldest row still waiting for the TranProc: its outcome is not known yet.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from daemon.audit import SecurityEvent
from daemon.schema import audit_log, fraud_holds, inbox

STEP_ROWS = 100_000
APP_ERROR_PREFIX = "app:"  # inbox.error of a refused app message: app:<ChannelError class>
_LOCKOUTS = {
    SecurityEvent.PIN_LOCKOUT.value: "pin_lockouts",
    SecurityEvent.OTP_LOCKOUT.value: "otp_lockouts",
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def reason_name(error: str) -> str:
    """app:StaleCounter -> stale_counter."""
    return _CAMEL.sub("_", error.removeprefix(APP_ERROR_PREFIX)).lower()


@dataclass
class SecurityCounts:
    inbox_after: int | None = None  # None: not started; the first reading starts from the end
    audit_after: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LOCKOUTS.values(), 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start_txn(self, conn: Connection) -> None:
        """Count from here on (the daemon's start)."""
        with self._lock:
            self.inbox_after = _max_id(conn, inbox)
            self.audit_after = _max_id(conn, audit_log)

    def read_txn(self, conn: Connection) -> dict[str, int]:
        """The figures now (for the status JSON's "security")."""
        with self._lock:
            if self.inbox_after is None or self.audit_after is None:
                self.inbox_after, self.audit_after = _max_id(conn, inbox), _max_id(conn, audit_log)
            self.inbox_after = self._count_refusals(conn, self.inbox_after)
            self.audit_after = self._count_lockouts(conn, self.audit_after)
            held = conn.execute(select(func.count()).where(fraud_holds.c.state == "held")).scalar()
            return {**self.counts, "fraud_holds_waiting": int(held or 0)}

    def _add(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count

    def _count_refusals(self, conn: Connection, after: int) -> int:
        waiting = conn.execute(select(func.min(inbox.c.id)).where(inbox.c.status == "new")).scalar()
        last = _max_id(conn, inbox) if waiting is None else int(waiting) - 1
        upto = min(last, after + STEP_ROWS)
        if upto <= after:
            return after
        query = (
            select(inbox.c.error, func.count())
            .where(inbox.c.id > after, inbox.c.id <= upto)
            .where(inbox.c.error.like(APP_ERROR_PREFIX + "%"))
            .group_by(inbox.c.error)
        )
        for error, count in conn.execute(query):
            self._add(f"app_refused.{reason_name(error)}", int(count))
        return upto

    def _count_lockouts(self, conn: Connection, after: int) -> int:
        upto = min(_max_id(conn, audit_log), after + STEP_ROWS)
        if upto <= after:
            return after
        query = (
            select(audit_log.c.action, func.count())
            .where(audit_log.c.id > after, audit_log.c.id <= upto)
            .where(audit_log.c.action.in_(tuple(_LOCKOUTS)))
            .group_by(audit_log.c.action)
        )
        for action, count in conn.execute(query):
            self._add(_LOCKOUTS[action], int(count))
        return upto


def _max_id(conn: Connection, table) -> int:  # type: ignore[no-untyped-def]
    return int(conn.execute(select(func.max(table.c.id))).scalar() or 0)
