"""A live holder of an outbox lease is never taken over: a second process of the same owner name
(the same config run twice on one host, or on two hosts) refuses to start in one line and changes
nothing; a dead holder (its pid gone on this host, or its lease past its TTL) is taken over. A
process whose lease was taken over all the same (it stalled past the TTL) stops sending and is not
ready. Clocks and pid liveness are injected."""

import os
import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock

from daemon.clock import now_ns
from daemon.config import SenderConfig, build_config
from daemon.db import InlineDatabase
from daemon.metrics.health import readiness
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.outbox.claims import claim_outbox_txn
from daemon.outbox.leases import (
    Claimant,
    LeaseHeld,
    LeaseKeeper,
    check_lease_txn,
    holder_alive,
    pid_alive,
    take_lease_txn,
)
from daemon.schema import leases, outbox
from daemon.seal_guard import seal_path
from daemon.service import StartupError, assemble_daemon, build_daemon
from tests.daemon.test_drain import BIND, fired
from tests.daemon.test_sender import FakePool

S = 1_000_000_000
TTL_NS = 10 * S
LEASES = SenderConfig(lease_renew_s=2.0, lease_ttl_s=10.0)


def on(host: str, pid: int, *alive: int) -> Claimant:
    """A process `pid` on `host` that sees the pids `alive` running there."""
    return Claimant(pid, host, alive=lambda other: other in alive)


def take(db, clock, owner: str, me: Claimant):
    return db.run_sync("lease", take_lease_txn, owner, me, now_ns(clock), TTL_NS)


def lease_row(db, owner: str):
    return db.run_sync(
        "row", lambda c: c.execute(select(leases).where(leases.c.owner == owner)).one()
    )


def in_flight(db, clock, owner: str) -> list[int]:
    """A reply claimed by `owner`'s sender: in flight, its outcome awaited."""
    db.run_sync("queue", queue_sms_txn, [OutgoingSms("254712000001", "hi", "12345")], now_ns(clock))
    return [sms.id for sms in db.run_sync("claim", claim_outbox_txn, 1, now_ns(clock), owner)]


def statuses(db, ids: list[int]) -> list[tuple[str, int]]:
    query = select(outbox.c.status, outbox.c.attempts).where(outbox.c.id.in_(ids))
    return [tuple(row) for row in db.run_sync("rows", lambda c: c.execute(query))]


# --- who is alive


@pytest.mark.parametrize(
    ("me", "expires_in_s", "alive"),
    [
        (on("h1", 200, 100), 5, True),  # same host, its pid runs
        (on("h1", 200), 5, False),  # same host, its pid is gone (SIGKILL, then a restart)
        (on("h1", 100, 100), 5, False),  # its pid is ours: a restart in place (a container)
        (on("h1", 200, 100), -1, False),  # past its TTL: dead (a pid reused after a reboot)
        (on("h2", 200), 5, True),  # another host, renewed within the TTL
        (on("h2", 200), -1, False),  # another host, past the TTL
    ],
)  # fmt: skip
def test_holder_alive(me: Claimant, expires_in_s: int, alive: bool) -> None:
    now = 1_000 * S
    holder = type("Row", (), {"pid": 100, "host": "h1", "expires_at_ns": now + expires_in_s * S})
    assert holder_alive(holder, me, now) is alive


def test_pid_alive_asks_the_kernel() -> None:
    assert pid_alive(os.getpid()) and pid_alive(os.getppid())
    assert not pid_alive(0) and not pid_alive(-1)


# --- taking a lease


def test_a_live_holder_on_this_host_refuses_and_nothing_changes(db, clock) -> None:
    first = LeaseKeeper(clock, db, "lis-a", LEASES, on("h1", 100, 100, 200))
    first.take()
    first.start()
    ids = in_flight(db, clock, "lis-a")
    clock.advance(1)
    with pytest.raises(LeaseHeld) as refused:
        take(db, clock, "lis-a", on("h1", 200, 100, 200))
    assert str(refused.value) == (
        "another smscore with service.instance_name lis-a is running: pid 100 "
        "(lease renewed 1.0s ago); give this one its own instance_name"
    )
    assert (lease_row(db, "lis-a").incarnation, lease_row(db, "lis-a").pid) == (1, 100)
    assert statuses(db, ids) == [("in_flight", 0)]  # its reply is not sent twice
    clock.pump([LEASES.lease_renew_s] * 3)
    assert not first.lost and first.counters == {"renewals": 3, "renew_failures": 0}


def test_a_holder_on_another_host_refuses_until_its_ttl_passes(db, clock) -> None:
    take(db, clock, "lis-a", on("h1", 100, 100))
    ids = in_flight(db, clock, "lis-a")
    clock.advance(9)
    with pytest.raises(LeaseHeld, match=r"running on host h1: pid 100 \(lease renewed 9.0s ago\)"):
        take(db, clock, "lis-a", on("h2", 100))
    # On h1 itself, its pid decides: gone, it is dead; running, it holds the lease.
    db.run_sync("check", check_lease_txn, "lis-a", on("h1", 300), now_ns(clock))
    with pytest.raises(LeaseHeld):
        db.run_sync("check", check_lease_txn, "lis-a", on("h1", 300, 100), now_ns(clock))
    clock.advance(1.5)  # h1 stopped renewing 10.5 s ago: dead
    taken = take(db, clock, "lis-a", on("h2", 100))
    assert (taken.incarnation, taken.requeued) == (2, 1)
    assert statuses(db, ids) == [("queued", 1)]


def test_a_dead_pid_on_this_host_is_taken_over_at_once(db, clock) -> None:
    take(db, clock, "lis-a", on("h1", 100, 100))
    ids = in_flight(db, clock, "lis-a")  # ... then pid 100 is SIGKILLed
    taken = take(db, clock, "lis-a", on("h1", 200))
    assert (taken.incarnation, taken.requeued) == (2, 1)
    assert (lease_row(db, "lis-a").pid, statuses(db, ids)) == (200, [("queued", 1)])


# --- the daemon


def config_for(tmp_path: Path):
    return build_config({"service": {"state_dir": str(tmp_path / "state")}, "binds": [BIND]})


def holder_alive_elsewhere(db, owner: str) -> None:
    """The lease held by this host's parent process (alive for sure), renewed now."""
    me = Claimant(os.getppid(), socket.gethostname())
    db.run_sync("lease", take_lease_txn, owner, me, Clock().seconds(), 10**18)


def test_build_refuses_a_live_holder_before_anything_else(tmp_path: Path) -> None:
    config = build_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "database": {"url": f"sqlite:///{tmp_path / 'smscore.db'}"},
            "binds": [BIND],
        }
    )
    first = build_daemon(config, MemoryReactorClock())  # the schema, the seal
    holder_alive_elsewhere(first.db, config.lease_owner)
    first.db.stop()
    seal_path(config).unlink()
    with pytest.raises(StartupError) as refused:
        build_daemon(config, MemoryReactorClock())
    assert str(refused.value).startswith(
        f"another smscore with service.instance_name {config.lease_owner} is running: "
        f"pid {os.getppid()} "
    )
    assert not seal_path(config).exists()  # refused before the ledger's seal was written


def test_start_refuses_a_live_holder_and_starts_nothing(tmp_path: Path, engine: Engine) -> None:
    config = config_for(tmp_path)
    db = InlineDatabase(engine)
    daemon = assemble_daemon(config, MemoryReactorClock(), db)
    holder_alive_elsewhere(db, config.lease_owner)  # it started meanwhile (checked, then raced)
    ids = in_flight(db, Clock(), config.lease_owner)
    with pytest.raises(StartupError, match="is running: pid"):
        daemon.start()
    assert not daemon._started and statuses(db, ids) == [("in_flight", 0)]
    assert lease_row(db, config.lease_owner).pid == os.getppid()


def test_a_lost_lease_stops_the_sender_and_readiness(tmp_path: Path, engine: Engine) -> None:
    reactor = MemoryReactorClock()
    db = InlineDatabase(engine)
    daemon = assemble_daemon(config_for(tmp_path), reactor, db)
    pool = FakePool("sim")
    daemon.sender.pool = pool
    daemon.start()
    owner = daemon.config.lease_owner
    queue = [OutgoingSms("254712000001", "before", "12345")]
    db.run_sync("queue", queue_sms_txn, queue, now_ns(reactor))
    reactor.advance(0.5)
    assert len(pool.sent) == 1
    # It stalls past its TTL; another process of its name takes the lease over.
    db.run_sync("lease", take_lease_txn, owner, on("h2", 1), now_ns(reactor) + 11 * S, TTL_NS)
    reactor.advance(2)  # the renewal finds the incarnation moved on
    queue = [OutgoingSms("254712000001", "after", "12345")]
    db.run_sync("queue", queue_sms_txn, queue, now_ns(reactor))
    reactor.pump([0.5] * 10)
    assert len(pool.sent) == 1 and daemon.sender.claim_limit() == 0  # the other one sends it
    [ready] = fired(readiness(daemon))
    assert ready.code == 503 and ready.body["reason"].startswith(f"lease {owner} was taken over")
    pool.accept(0, "m1")


def test_a_killed_holder_not_yet_reaped_is_dead() -> None:
    import subprocess
    import sys

    from daemon.outbox.leases import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
    try:
        # Waits for its death but leaves it unreaped (WNOWAIT): a zombie, as a killed daemon is
        # until its supervisor waits for it.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert not pid_alive(child.pid)  # SIGKILLed and not reaped: a restart takes over
    finally:
        child.wait()
