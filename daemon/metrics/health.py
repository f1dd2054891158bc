"""Liveness and readiness, as the status endpoint serves them.

- live (`/health/live`): answered on the reactor without touching anything else, so a 200 says the
  process is alive and its event loop turns; a stuck reactor gets no answer at all (a supervisor's
  probe times out, which is the signal).
- ready (`/health/ready`, and `/health` as before): 200 only when the database answers and, in the
  roles with binds, the binds are up: every configured one (`status.ready_binds = "all"`, the
  default: the issue's "ready only when binds are up"; a bind down is traffic that cannot flow)
  or at least one (`"any"`), and the outbox lease is still this process's (lost, it sends
  nothing: daemon.outbox.leases); 503 with a JSON `reason` (the binds down, the lease) otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from daemon.db import first_line
from daemon.status import JsonReply

if TYPE_CHECKING:
    from daemon.service import Daemon


def ping_txn(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def liveness(daemon: Daemon) -> JsonReply:
    return JsonReply(
        {
            "ok": True,
            "role": daemon.role,
            "uptime_s": daemon.reactor.seconds() - daemon.started_at_s,
        }
    )


def readiness(daemon: Daemon) -> Deferred:
    """Fires with the JsonReply: 200 ready, 503 with the reason. The tranproc role has no binds:
    its readiness is its database's."""
    pinged = daemon.db.run_interaction("health.ping", ping_txn)
    return pinged.addCallbacks(lambda _: _binds_ready(daemon), _database_down)


def _binds_ready(daemon: Daemon) -> JsonReply:
    if daemon.draining:  # a load balancer or probe stops sending here; the MOs are refused
        return JsonReply({"ok": False, "reason": "draining: the daemon is stopping"}, 503)
    if daemon.lease is not None and daemon.lease.lost:
        return JsonReply({"ok": False, "reason": daemon.lease.last_error}, 503)
    binds = daemon.binds()
    up = sum(bind.is_bound for bind in binds)
    body: dict[str, Any] = {"ok": True, "binds_up": up, "binds": len(binds)}
    if daemon.pool is None:
        return JsonReply(body)
    down = [bind for bind in binds if not bind.is_bound]
    errors = [f"{bind.name}: {bind.last_error}" for bind in down if bind.last_error]
    if not binds:
        reason = "no bind configured"
    elif up == 0:
        reason = "; ".join(["no bind is up", *errors])
    elif down and daemon.config.status.ready_binds == "all":
        names = ", ".join(bind.name for bind in down)
        reason = "; ".join([f"{len(down)} of {len(binds)} binds down: {names}", *errors])
    else:
        return JsonReply(body)
    return JsonReply({**body, "ok": False, "reason": reason}, 503)


def _database_down(failure: Failure) -> JsonReply:
    return JsonReply({"ok": False, "reason": f"database: {first_line(failure.value)}"}, 503)
