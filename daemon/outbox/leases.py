"""Leases on in-flight outbox rows: who claimed a row, and whether that process still lives.

Every claim of outbox rows records the claiming process's owner name (`Config.lease_owner`:
`service.instance_name`, or host-role-digest of the database URL, stable across restarts of one
process slot) in `outbox.claimed_by`. Each owner keeps one row in `leases`:

- at start-up (`take_lease_txn`) the process re-queues every row still in flight under its own
  name: the previous incarnation died, so nothing it claimed can still be in flight in this one.
  It then takes the lease with the next incarnation number;
- while it lives, `LeaseKeeper` renews the lease every `sender.lease_renew_s`, to expire
  `sender.lease_ttl_s` later, on the database thread (reactor clock);
- any sweeper re-queues the in_flight rows of an owner whose lease has expired
  (daemon.sweeper), so a process that dies and does not come back frees its rows within
  lease_ttl_s plus one sweep interval. A live owner's rows are never re-queued by another process.

Re-queueing counts the attempt: the submit_sm may have reached the SMSC (its outcome is unknown), so
the reply may reach the phone twice; see README, "Delivery guarantees".

Two running processes must never share an owner name: the second's start-up would re-queue the
first's rows. The renewal notices (the incarnation moved on) and logs an error.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import clock
from daemon.clock import NS_PER_S
from daemon.config import SenderConfig
from daemon.deferreds import when_done
from daemon.outbox import OutboxStatus
from daemon.schema import leases, outbox

log = Logger()


def requeue_values(now_ns: int, reason: str) -> dict[str, Any]:
    """SET of a row in flight whose outcome is unknown: queued again now, the attempt counted."""
    return {
        "status": OutboxStatus.QUEUED,
        "claimed_at_ns": None,
        "claimed_by": None,
        "attempts": outbox.c.attempts + 1,
        "next_attempt_at_ns": now_ns,
        "last_error": reason,
    }


@dataclass(frozen=True, slots=True)
class LeaseTaken:
    owner: str
    incarnation: int
    requeued: int  # rows the previous incarnation left in flight


def take_lease_txn(
    conn: Connection, owner: str, pid: int, host: str, now_ns: int, ttl_ns: int
) -> LeaseTaken:
    """Start-up: re-queue this owner's rows left in flight, then take its lease (next incarnation)."""
    requeued = conn.execute(
        update(outbox)
        .where(outbox.c.status == OutboxStatus.IN_FLIGHT, outbox.c.claimed_by == owner)
        .values(requeue_values(now_ns, "in flight when its process restarted; re-queued"))
    ).rowcount
    held = {"pid": pid, "host": host, "renewed_at_ns": now_ns, "expires_at_ns": now_ns + ttl_ns}
    previous = conn.execute(
        select(leases.c.incarnation).where(leases.c.owner == owner).with_for_update()
    ).scalar()
    if previous is None:
        conn.execute(insert(leases).values(owner=owner, incarnation=1, **held))
    else:
        conn.execute(
            update(leases).where(leases.c.owner == owner).values(incarnation=previous + 1, **held)
        )
    return LeaseTaken(owner, (previous or 0) + 1, requeued)


def renew_lease_txn(
    conn: Connection, owner: str, incarnation: int, now_ns: int, ttl_ns: int
) -> bool:
    """Extend the lease; False when another incarnation holds it (a second process of this name)."""
    renewed = conn.execute(
        update(leases)
        .where(leases.c.owner == owner, leases.c.incarnation == incarnation)
        .values(renewed_at_ns=now_ns, expires_at_ns=now_ns + ttl_ns)
    )
    return renewed.rowcount == 1


class LeaseKeeper:
    """Renews one lease every lease_renew_s on the database thread while the process runs."""

    def __init__(
        self, reactor: IReactorTime, db: Any, taken: LeaseTaken, config: SenderConfig
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.owner = taken.owner
        self.incarnation = taken.incarnation
        self.renew_s = config.lease_renew_s
        self.ttl_ns = int(config.lease_ttl_s * NS_PER_S)
        self.counters = {"renewals": 0, "renew_failures": 0}
        self.last_error = ""
        self._call: IDelayedCall | None = None
        self._renewing: Deferred | None = None
        self._running = False

    def start(self) -> None:
        self._running = True
        self._schedule()

    def stop(self) -> Deferred:
        """Stop renewing (the lease then expires by itself); fires when a renewal under way is done."""
        self._running = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        return when_done(self._renewing)

    def _schedule(self) -> None:
        if self._running:
            self._call = self.reactor.callLater(self.renew_s, self.renew_now)

    def renew_now(self) -> Deferred:
        self._call = None
        renewal = self.db.run_interaction(
            "lease.renew",
            renew_lease_txn,
            self.owner,
            self.incarnation,
            clock.now_ns(self.reactor),
            self.ttl_ns,
        )
        self._renewing = renewal
        renewal.addCallbacks(self._renewed, self._failed)
        return renewal

    def _renewed(self, held: bool) -> None:
        self._renewing = None
        if held:
            self.counters["renewals"] += 1
        else:
            self.counters["renew_failures"] += 1
            self.last_error = (
                f"lease {self.owner} is held by another process (incarnation moved past "
                f"{self.incarnation}): give each process its own service.instance_name"
            )
            log.error("{error}", error=self.last_error)
        self._schedule()

    def _failed(self, failure: Failure) -> None:
        self._renewing = None
        self.counters["renew_failures"] += 1
        self.last_error = f"renewing lease {self.owner} failed: {failure.getErrorMessage()}"
        log.failure("renewing lease {owner} failed", failure, owner=self.owner)
        self._schedule()
