"""Leases on in-flight outbox rows: a restarted process re-queues its own rows at start-up, a dead
owner's rows are re-queued by any sweeper within seconds, a live owner's rows are never touched.
(A live holder of the same name refusing start-up: tests/daemon/test_lease_holder.py.)"""

import os
import socket
from itertools import count

import pytest
from sqlalchemy import insert, select
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs

import ledger
from daemon import migrate
from daemon.clock import now_ns
from daemon.config import ConfigError, SenderConfig, SweeperConfig, build_config
from daemon.db import InlineDatabase
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.outbox.claims import claim_outbox_txn
from daemon.outbox.leases import Claimant, LeaseKeeper, take_lease_txn
from daemon.schema import SCHEMA_VERSION, leases, outbox
from daemon.service import assemble_daemon
from daemon.sweeper import Sweeper

S = 1_000_000_000
LEASES = SenderConfig(lease_renew_s=2.0, lease_ttl_s=10.0)  # the defaults, spelt out
SWEEP_INTERVAL_S = 5.0
BIND = {"name": "sim", "host": "127.0.0.1", "port": 2775, "system_id": "x", "password": "pw"}


def claim_as(db, clock, owner, *texts):
    """Queue SMS and claim them for `owner`, as its sender would; returns their ids."""
    messages = [OutgoingSms("254712000001", text, "12345") for text in texts]
    db.run_sync("queue", queue_sms_txn, messages, now_ns(clock))
    claimed = db.run_sync("claim", claim_outbox_txn, len(texts), now_ns(clock), owner)
    return [sms.id for sms in claimed]


def states(db, ids):
    with db.engine.begin() as conn:
        query = select(outbox.c.status, outbox.c.claimed_by, outbox.c.attempts)
        return [tuple(row) for row in conn.execute(query.where(outbox.c.id.in_(ids)))]


PIDS = count(100)


def process() -> Claimant:
    """Another process on host "host": its own pid, and every pid but none dead."""
    return Claimant(next(PIDS), "host", alive=lambda pid: False)


def take(db, clock, owner):
    """The lease taken by a process that then dies (its pid is gone)."""
    return db.run_sync("lease", take_lease_txn, owner, process(), now_ns(clock), 10 * S)


def keeper(db, clock, owner):
    lease = LeaseKeeper(clock, db, owner, LEASES, process())
    lease.take()
    lease.start()
    return lease


def sweeper(db, clock, owner):
    sweeper = Sweeper(
        clock,
        db,
        SweeperConfig(interval_s=SWEEP_INTERVAL_S),
        sender_config=SenderConfig(in_flight_timeout_s=120),
        owner=owner,
    )
    sweeper.start()
    return sweeper


def test_claims_record_the_owner(db, clock):
    ids = claim_as(db, clock, "lis-a", "one", "two")
    assert states(db, ids) == [("in_flight", "lis-a", 0)] * 2


def test_start_up_requeues_own_rows_and_not_a_live_owners(tmp_path, db, clock):
    keeper(db, clock, "lis-b")  # another process, alive
    theirs = claim_as(db, clock, "lis-b", "theirs")
    # lis-a's previous incarnation had this pid (a restart in place, as a container's pid 1)
    previous = Claimant(os.getpid(), socket.gethostname())
    db.run_sync("lease", take_lease_txn, "lis-a", previous, 0, 10 * S)
    mine = claim_as(db, clock, "lis-a", "mine 1", "mine 2")  # ... then lis-a is SIGKILLed
    config = build_config(
        {
            "service": {"state_dir": str(tmp_path / "state"), "instance_name": "lis-a"},
            "binds": [BIND],
        }
    )
    daemon = assemble_daemon(config, MemoryReactorClock(), db)
    assert states(db, mine) == [("in_flight", "lis-a", 0)] * 2  # built, not started: untouched
    with capturedLogs() as events:
        daemon.start()
    [taken] = [e for e in events if e["log_format"].startswith("start-up: outbox lease")]
    assert (taken["owner"], taken["incarnation"], taken["requeued"]) == ("lis-a", 2, 2)
    assert states(db, mine) == [("queued", None, 1)] * 2  # the attempt counts: outcome unknown
    assert states(db, theirs) == [("in_flight", "lis-b", 0)]
    with db.engine.begin() as conn:
        held = conn.execute(select(leases).where(leases.c.owner == "lis-a")).one()
    assert held.incarnation == 2 and daemon.components[0].name == "lease"


def test_a_dead_owners_rows_are_requeued_within_ttl_and_one_sweep(db, clock):
    keeper(db, clock, "survivor")
    sweeper(db, clock, "survivor")
    take(db, clock, "dead")  # took its lease, claimed, and died: never renewed
    dead_at_s = clock.seconds()
    ids = claim_as(db, clock, "dead", "reply 1", "reply 2", "reply 3")
    while states(db, ids)[0][0] == "in_flight":
        assert clock.seconds() - dead_at_s <= LEASES.lease_ttl_s + SWEEP_INTERVAL_S
        clock.advance(0.5)
    assert clock.seconds() - dead_at_s > LEASES.lease_ttl_s  # not before the lease expired
    assert states(db, ids) == [("queued", None, 1)] * 3
    with db.engine.begin() as conn:
        reasons = conn.execute(select(outbox.c.last_error).where(outbox.c.id.in_(ids))).scalars()
        assert all("lease expired" in reason for reason in reasons)


def test_a_renewed_lease_keeps_its_rows_in_flight_past_every_timeout(db, clock):
    alive = keeper(db, clock, "alive")
    ids = claim_as(db, clock, "alive", "still sending")
    sweeper(db, clock, "other")
    clock.pump([0.5] * 600)  # 300 s: 30 ttls, 2.5 in_flight_timeouts
    assert states(db, ids) == [("in_flight", "alive", 0)]
    assert alive.counters == {"renewals": 150, "renew_failures": 0}


def test_the_owners_own_sweeper_requeues_its_rows_stuck_past_in_flight_timeout(db, clock):
    keeper(db, clock, "lis-a")
    ids = claim_as(db, clock, "lis-a", "its sender gave up recording it")
    sweeper(db, clock, "lis-a")
    clock.pump([1] * 119)
    assert states(db, ids)[0][0] == "in_flight"
    clock.pump([1] * (int(SWEEP_INTERVAL_S) + 1))
    assert states(db, ids) == [("queued", None, 1)]


def test_a_lease_taken_over_is_lost_once_and_renewed_no_more(db, clock):
    first = keeper(db, clock, "twin")
    lost = []
    first.on_lost(lambda: lost.append(clock.seconds()))
    first.stop()  # it stalls (renews nothing) past the lease's TTL ...
    clock.advance(LEASES.lease_ttl_s + 1)
    take(db, clock, "twin")  # ... and another process of the same name takes the lease over
    first.start()
    with capturedLogs() as events:
        clock.pump([LEASES.lease_renew_s] * 5)
    assert first.lost and lost == [clock.seconds() - 4 * LEASES.lease_renew_s]
    assert first.counters == {"renewals": 0, "renew_failures": 1}  # then no more renewals
    assert [e["log_level"].name for e in events] == ["error"]
    assert "taken over by another process" in first.last_error
    assert "service.instance_name" in first.last_error


def test_stop_waits_for_a_renewal_and_renews_no_more(db, clock):
    lease = keeper(db, clock, "lis-a")
    clock.advance(LEASES.lease_renew_s)
    stopped = []
    lease.stop().addCallback(stopped.append)
    clock.pump([1] * 30)
    assert stopped == [None] and lease.counters["renewals"] == 1


def test_the_owner_name_is_stable_per_slot_and_differs_between_slots(tmp_path):
    def owner(**service):
        database = {"url": service.pop("url", f"sqlite:///{tmp_path / 'a.db'}")}
        return build_config({"service": service, "database": database}).lease_owner

    assert owner(role="lis") == owner(role="lis")
    assert owner(role="lis") != owner(role="all")
    assert owner(role="lis") != owner(role="lis", url=f"sqlite:///{tmp_path / 'b.db'}")
    secret = owner(url="postgresql://u:s3cret@db/smscore")
    assert "s3cret" not in secret and len(secret) <= 96
    assert secret == owner(url="postgresql://u:other@db/smscore")  # the password is not the slot
    assert owner(instance_name="lis-a") == "lis-a"


def test_a_lease_shorter_than_two_renewals_is_a_config_error():
    with pytest.raises(ConfigError, match=r"sender: .*lease_ttl_s must be at least twice"):
        build_config({"sender": {"lease_renew_s": 5.0, "lease_ttl_s": 8.0}})


def test_upgrade_from_d0002_adds_leases_and_old_rows_stay_freeable(db_url, clock):
    engine = ledger.make_engine(db_url)
    try:
        with engine.begin() as conn:
            ledger.upgrade(conn)
            migrate.upgrade_daemon(conn, "d0002")
            # d0001 creates tables from the schema module as it is now: make it d0002's outbox.
            conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN claimed_by")
            conn.execute(
                insert(outbox).values(
                    created_at_ns=0, source_addr="1", destination_addr="2", text="old",
                    status="in_flight", attempts=0, next_attempt_at_ns=0, claimed_at_ns=0,
                    parts_total=0,
                )
            )  # fmt: skip
        with engine.begin() as conn:
            migrate.upgrade_all(conn)
            assert migrate.current_version(conn) == SCHEMA_VERSION
            assert conn.execute(select(leases)).all() == []
        db = InlineDatabase(engine)
        [old_id] = [row.id for row in db.run_sync("rows", lambda c: c.execute(select(outbox)))]
        assert states(db, [old_id]) == [("in_flight", None, 0)]
        sweeper(db, clock, "lis-a")  # no owner: the in_flight_timeout_s rule frees it
        clock.advance(0)
        assert states(db, [old_id]) == [("queued", None, 1)]
    finally:
        engine.dispose()
