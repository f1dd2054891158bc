"""The SIGTERM drain, phase by phase, on task.Clock / a memory reactor and an in-line database."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs

from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.drain import DRAINING_STATUS, MoGate
from daemon.metrics.health import liveness, readiness
from daemon.migrate import upgrade_all
from daemon.runner import StopOnce
from daemon.service import Daemon, assemble_daemon
from ledger import make_engine
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus
from tests.daemon.test_runner import FakeReactor
from tests.daemon.test_sender import FakePool, make_sender, queue, rows

BIND = {"name": "sim", "host": "127.0.0.1", "port": 2775, "system_id": "x", "password": "pw"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'smscore.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> InlineDatabase:
    return InlineDatabase(engine)


def fired(deferred) -> list:
    results: list = []
    deferred.addBoth(results.append)
    return results


# --- the MO gate


def test_a_closed_gate_answers_a_temporary_error_without_storing():
    gate = MoGate()
    stored: list = []
    handler = gate.guard(lambda pdu: stored.append(pdu) or CommandStatus.ESME_ROK)
    assert handler(DeliverSm()) == CommandStatus.ESME_ROK
    gate.close()
    assert handler(DeliverSm()) == DRAINING_STATUS == CommandStatus.ESME_RX_T_APPN
    assert (len(stored), gate.refused) == (1, 1)


# --- the sender's wait for submit_sm_resp


def test_the_sender_drain_waits_for_every_answer_and_claims_nothing_more(db):
    clock, pool = Clock(), FakePool()
    sender = make_sender(db, clock, pool)
    queue(db, clock, "one", "two")
    clock.advance(0)
    assert len(pool.sent) == 2
    drained = fired(sender.drain(5.0))
    queue(db, clock, "three")
    clock.advance(1)
    assert (drained, len(pool.sent)) == ([], 2)  # waiting; and no claim for "three"
    pool.accept(0, "m1")
    assert drained == []
    pool.accept(1, "m2")
    assert drained == [0]
    sender.stop()
    assert [row.status for row in rows(db)] == ["submitted", "submitted", "queued"]


def test_the_sender_drain_gives_up_after_its_timeout(db):
    clock, pool = Clock(), FakePool()
    sender = make_sender(db, clock, pool)
    queue(db, clock, "one", "two")
    clock.advance(0)
    pool.accept(0, "m1")
    drained = fired(sender.drain(5.0))
    clock.advance(4.9)
    assert drained == []
    clock.advance(0.1)
    assert drained == [1]  # one message still unanswered: it stays in_flight
    sender.stop()
    assert [row.status for row in rows(db)] == ["submitted", "in_flight"]


def test_hurry_cuts_the_wait_short(db):
    clock, pool = Clock(), FakePool()
    sender = make_sender(db, clock, pool)
    queue(db, clock, "one")
    clock.advance(0)
    drained = fired(sender.drain(60.0))
    clock.advance(1)
    assert drained == []
    sender.hurry()
    assert drained == [1]
    assert all(call.getTime() < 60 for call in clock.getDelayedCalls())  # its timer is gone


def test_a_drain_with_nothing_outstanding_fires_at_once(db):
    clock, pool = Clock(), FakePool()
    sender = make_sender(db, clock, pool)
    assert fired(sender.drain(5.0)) == [0]


# --- the whole drain of a daemon


def started_daemon(tmp_path: Path, engine: Engine) -> tuple[Daemon, MemoryReactorClock, FakePool]:
    config = build_config(
        {
            "service": {"state_dir": str(tmp_path / "state"), "drain_timeout_s": 5.0},
            "binds": [BIND],
        }
    )
    reactor = MemoryReactorClock()
    daemon = assemble_daemon(config, reactor, InlineDatabase(engine))
    pool = FakePool("sim")
    assert daemon.sender is not None
    daemon.sender.pool = pool  # submits answered by hand
    daemon.start()
    return daemon, reactor, pool


def phases(events: list[dict]) -> list[str]:
    return [e["log_format"][:9] for e in events if e["log_format"].startswith("drain ")]


def test_the_drain_refuses_mos_then_waits_for_the_answers_then_stops(tmp_path, engine):
    daemon, reactor, pool = started_daemon(tmp_path, engine)
    queue(daemon.db, reactor, "a reply")
    reactor.advance(0.5)
    assert len(pool.sent) == 1
    [bind] = daemon.binds()
    deliver = bind._on_message  # what the bind does with a deliver_sm
    with capturedLogs() as events:
        stopped = fired(daemon.stop())
        assert phases(events) == ["drain 1/4", "drain 2/4"]
        assert deliver(DeliverSm(source_addr="254712000001", short_message=b"BAL")) == (
            CommandStatus.ESME_RX_T_APPN
        )
        reactor.advance(1)
        assert stopped == [] and phases(events) == ["drain 1/4", "drain 2/4"]
        pool.accept(0, "m1")
        assert phases(events) == ["drain 1/4", "drain 2/4", "drain 3/4", "drain 4/4"]
    assert len(stopped) == 1
    [third] = [e for e in events if e["log_format"].startswith("drain 3/4")]
    assert (third["unanswered"], third["refused"]) == (0, 1)
    assert [row.status for row in rows(daemon.db)] == ["submitted"]


def test_the_drain_bound_leaves_the_unanswered_in_flight(tmp_path, engine):
    daemon, reactor, pool = started_daemon(tmp_path, engine)
    queue(daemon.db, reactor, "a reply")
    reactor.advance(0.5)
    assert len(pool.sent) == 1  # never answered
    with capturedLogs() as events:
        stopped = fired(daemon.stop())
        reactor.advance(4.9)
        assert stopped == []
        reactor.advance(0.1)
    assert len(stopped) == 1
    [third] = [e for e in events if e["log_format"].startswith("drain 3/4")]
    assert third["unanswered"] == 1
    assert [row.status for row in rows(daemon.db)] == ["in_flight"]  # re-queued at the next start


def test_a_draining_daemon_is_not_ready_but_alive(tmp_path, engine):
    daemon, reactor, pool = started_daemon(tmp_path, engine)
    queue(daemon.db, reactor, "a reply")
    reactor.advance(0.5)
    daemon.stop()  # the drain waits for the submit_sm_resp: it is under way
    ready = fired(readiness(daemon))
    assert [(reply.code, reply.body["reason"]) for reply in ready] == [
        (503, "draining: the daemon is stopping")
    ]
    assert liveness(daemon).code == 200
    pool.accept(0, "m1")


def test_a_daemon_never_started_stops_without_a_drain(tmp_path, engine):
    config = build_config({"service": {"state_dir": str(tmp_path / "state")}, "binds": [BIND]})
    daemon = assemble_daemon(config, MemoryReactorClock(), InlineDatabase(engine))
    with capturedLogs() as events:
        assert len(fired(daemon.stop())) == 1
    assert phases(events) == []


# --- the signals


class HurriedDaemon:
    def __init__(self) -> None:
        self.hurried = 0

    def hurry(self) -> None:
        self.hurried += 1


def test_a_second_sigterm_is_ignored_a_second_sigint_cuts_the_drain_short():
    reactor, daemon = FakeReactor(), HurriedDaemon()
    stop_once = StopOnce(reactor, daemon)
    stop_once.on_signal(15, None)
    stop_once.on_signal(15, None)
    assert (reactor.stops, daemon.hurried) == (1, 0)
    stop_once.on_signal(2, None)
    assert (reactor.stops, daemon.hurried) == (1, 1)
