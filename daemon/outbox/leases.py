"""Leases on in-flight outbox rows: who claimed a row, and whether that process still lives.

Every claim of outbox rows records the claiming process's owner name (`Config.lease_owner`:
`service.instance_name`, or host-role-digest of the database URL, stable across restarts of one
process slot) in `outbox.claimed_by`. Each owner keeps one row in `leases`:

- at start-up, once its ports are open (`LeaseKeeper.take`, `take_lease_txn`), the process takes
  the lease with the next incarnation number and re-queues every row still in flight under its
  own name: the previous incarnation died, so nothing it claimed can still be in flight. A holder
  that is alive is never taken over (`holder_alive`: renewed within lease_ttl_s, and on another
  host, or on this one with its pid alive and not ours): start-up is refused (`LeaseHeld`);
- while it lives, `LeaseKeeper` renews the lease every `sender.lease_renew_s`, to expire
  `sender.lease_ttl_s` later, on the database thread (reactor clock);
- any sweeper re-queues the in_flight rows of an owner whose lease has expired
  (daemon.sweeper), so a process that dies and does not come back frees its rows within
  lease_ttl_s plus one sweep interval. A live owner's rows are never re-queued by another process.

Re-queueing counts the attempt: the submit_sm may have reached the SMSC (its outcome is unknown), so
the reply may reach the phone twice; see README, "Delivery guarantees".

Two running processes must never share an owner name: the second's start-up would re-queue the
first's rows, so it is refused. Should the lease still be taken over (this process stalled past
lease_ttl_s), the renewal notices (the incarnation moved on): the keeper marks itself `lost`, logs
one error and calls its `on_lost` hooks (the sender claims nothing more; /health/ready is 503).
"""

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
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


PidAlive = Callable[[int], bool]


def pid_alive(pid: int) -> bool:
    """A process with this pid exists on this host (signal 0 checks without signalling)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Killed but not yet reaped by its parent (SIGKILL, then a restart before the wait): dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # no /proc here: signal 0 is all there is
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


@dataclass(frozen=True, slots=True)
class Claimant:
    """The process asking for a lease: its pid and host, and how it tells a live pid."""

    pid: int
    host: str
    alive: PidAlive = pid_alive

    @classmethod
    def this_process(cls) -> "Claimant":
        return cls(os.getpid(), socket.gethostname())


class LeaseHeld(Exception):
    """Another live process holds the lease of this owner name: start-up is refused (one line)."""

    def __init__(self, owner: str, holder: Row, me: Claimant, now_ns: int) -> None:
        where = "" if holder.host == me.host else f" on host {holder.host}"
        ago_s = max(0, now_ns - holder.renewed_at_ns) / NS_PER_S
        super().__init__(
            f"another smscore with service.instance_name {owner} is running{where}: "
            f"pid {holder.pid} (lease renewed {ago_s:.1f}s ago); "
            "give this one its own instance_name"
        )


def holder_alive(holder: Row, me: Claimant, now_ns: int) -> bool:
    """Whether the process holding a lease still lives: it renewed within the TTL and runs on
    another host, or on this one under a live pid that is not ours (ours: a restart in place, as a
    container's pid 1). Past the TTL it is dead wherever it ran (and a pid reused after a reboot
    does not hold the lease for ever)."""
    if holder.expires_at_ns < now_ns:
        return False
    if holder.host != me.host:
        return True
    return holder.pid != me.pid and me.alive(holder.pid)


def check_lease_txn(conn: Connection, owner: str, me: Claimant, now_ns: int) -> None:
    """Raise LeaseHeld if a live process holds this owner's lease (changes nothing)."""
    holder = conn.execute(select(leases).where(leases.c.owner == owner)).one_or_none()
    if holder is not None and holder_alive(holder, me, now_ns):
        raise LeaseHeld(owner, holder, me, now_ns)


def take_lease_txn(
    conn: Connection, owner: str, me: Claimant, now_ns: int, ttl_ns: int
) -> LeaseTaken:
    """Start-up: take this owner's lease (next incarnation) and re-queue its rows left in flight;
    LeaseHeld (nothing changed) if the holder is alive."""
    holder = conn.execute(
        select(leases).where(leases.c.owner == owner).with_for_update()
    ).one_or_none()
    if holder is not None and holder_alive(holder, me, now_ns):
        raise LeaseHeld(owner, holder, me, now_ns)
    requeued = conn.execute(
        update(outbox)
        .where(outbox.c.status == OutboxStatus.IN_FLIGHT, outbox.c.claimed_by == owner)
        .values(requeue_values(now_ns, "in flight when its process restarted; re-queued"))
    ).rowcount
    held = {
        "pid": me.pid,
        "host": me.host,
        "renewed_at_ns": now_ns,
        "expires_at_ns": now_ns + ttl_ns,
    }
    if holder is None:
        conn.execute(insert(leases).values(owner=owner, incarnation=1, **held))
        return LeaseTaken(owner, 1, requeued)
    incarnation = holder.incarnation + 1
    conn.execute(
        update(leases).where(leases.c.owner == owner).values(incarnation=incarnation, **held)
    )
    return LeaseTaken(owner, incarnation, requeued)


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
    """Takes one owner's lease at start-up (`take`), then renews it every lease_renew_s on the
    database thread while the process runs. Taken over by another process, it is `lost`: one
    error, no more renewals, and the `on_lost` hooks are called (the sender stops claiming)."""

    def __init__(
        self,
        reactor: IReactorTime,
        db: Any,
        owner: str,
        config: SenderConfig,
        me: Claimant | None = None,
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.owner = owner
        self.me = me or Claimant.this_process()
        self.incarnation = 0  # 0: not taken yet
        self.renew_s = config.lease_renew_s
        self.ttl_ns = int(config.lease_ttl_s * NS_PER_S)
        self.counters = {"renewals": 0, "renew_failures": 0}
        self.last_error = ""
        self.lost = False
        self._lost_hooks: list[Callable[[], None]] = []
        self._call: IDelayedCall | None = None
        self._renewing: Deferred | None = None
        self._running = False

    def check(self) -> None:
        """LeaseHeld if a live process holds the lease now (blocking; start-up only)."""
        now = clock.now_ns(self.reactor)
        self.db.run_sync("lease.check", check_lease_txn, self.owner, self.me, now)

    def take(self) -> LeaseTaken:
        """Take the lease (blocking; start-up only, once the ports are open); LeaseHeld if its
        holder is alive."""
        now = clock.now_ns(self.reactor)
        taken = self.db.run_sync(
            "lease.take", take_lease_txn, self.owner, self.me, now, self.ttl_ns
        )
        self.incarnation = taken.incarnation
        log.info(
            "start-up: outbox lease {owner}: incarnation {incarnation}, re-queued {requeued} "
            "message(s) left in flight by the previous one",
            owner=taken.owner,
            incarnation=taken.incarnation,
            requeued=taken.requeued,
        )
        return taken

    def on_lost(self, hook: Callable[[], None]) -> None:
        self._lost_hooks.append(hook)

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
        if self._running and not self.lost:
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
            self._lose()
        self._schedule()

    def _lose(self) -> None:
        self.counters["renew_failures"] += 1
        self.lost = True
        self.last_error = (
            f"lease {self.owner} was taken over by another process (incarnation moved past "
            f"{self.incarnation}): this one sends nothing more; stop one of them, or give each "
            "its own service.instance_name"
        )
        log.error("{error}", error=self.last_error)
        for hook in self._lost_hooks:
            hook()

    def _failed(self, failure: Failure) -> None:
        self._renewing = None
        self.counters["renew_failures"] += 1
        self.last_error = f"renewing lease {self.owner} failed: {failure.getErrorMessage()}"
        log.failure("renewing lease {owner} failed", failure, owner=self.owner)
        self._schedule()
