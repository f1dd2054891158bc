"""The daemon's wiring, health and status, on a memory reactor and an in-line database."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import fail
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs

from daemon.chart import SYSTEM_ACCOUNTS
from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.migrate import upgrade_all
from daemon.service import Daemon, StartupError, assemble_daemon
from daemon.status import JsonReply, format_status
from ledger import make_engine
from ledger.queries import get_accounts

BIND = {"name": "sim", "host": "127.0.0.1", "port": 2775, "system_id": "x", "password": "pw"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'smscore.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
    yield engine
    engine.dispose()


def daemon_for(tmp_path: Path, engine: Engine, role: str = "all", binds=(BIND,)) -> Daemon:
    config = build_config(
        {"service": {"state_dir": str(tmp_path / "state"), "role": role}, "binds": list(binds)}
    )
    return assemble_daemon(config, MemoryReactorClock(), InlineDatabase(engine))


def health(daemon: Daemon) -> JsonReply:
    replies: list[JsonReply] = []
    daemon.health().addCallback(replies.append)
    [reply] = replies
    return reply


class DeadDatabase(InlineDatabase):
    def run_interaction(self, desc, fn, *args):
        return fail(ConnectionError("server closed the connection unexpectedly\nmore detail"))


def test_every_bind_down_is_unhealthy_with_the_reasons(tmp_path, engine):
    daemon = daemon_for(tmp_path, engine)
    [bind] = daemon.binds()
    bind.last_error = "bind_transceiver refused: ESME_RINVPASWD (Invalid Password)"
    reply = health(daemon)
    assert reply.code == 503 and reply.body["ok"] is False
    assert reply.body["reason"] == (
        "no bind is up; sim: bind_transceiver refused: ESME_RINVPASWD (Invalid Password)"
    )


def test_a_role_with_binds_but_none_configured_is_unhealthy(tmp_path, engine):
    reply = health(daemon_for(tmp_path, engine, binds=()))
    assert (reply.code, reply.body["reason"]) == (503, "no bind configured")


def test_the_tranproc_role_is_healthy_when_its_database_answers(tmp_path, engine):
    daemon = daemon_for(tmp_path, engine, role="tranproc")
    reply = health(daemon)
    assert (reply.code, reply.body) == (200, {"ok": True, "binds": 0, "binds_up": 0})
    daemon.db = DeadDatabase(engine)
    reply = health(daemon)
    assert (reply.code, reply.body["ok"]) == (503, False)
    assert reply.body["reason"] == "database: server closed the connection unexpectedly"


def test_the_chart_of_accounts_is_a_logged_start_up_step(tmp_path, engine):
    with capturedLogs() as events:
        daemon = daemon_for(tmp_path, engine, role="tranproc")
    steps = [e["step"] for e in events if e.get("log_format") == "start-up: {step}: done"]
    assert steps == ["PIN pepper", "chart of accounts (KES)"]
    with engine.connect() as conn:
        found = get_accounts(conn, [int(spec.account) for spec in SYSTEM_ACCOUNTS])
    assert len(found) == len(SYSTEM_ACCOUNTS) and daemon.tranproc is not None


def test_status_shows_drops_their_last_reason_and_the_status_address(tmp_path, engine):
    daemon = daemon_for(tmp_path, engine)
    daemon.status_address = "127.0.0.1:43210"
    [bind] = daemon.binds()
    bind.counters.drops, bind.last_error = 10, "enquire_link got no response: the link is dead"
    snapshots: list[dict] = []
    daemon.snapshot().addCallback(snapshots.append)
    [snapshot] = snapshots
    assert snapshot["status_listen"] == "127.0.0.1:43210"
    assert snapshot["binds"][0]["drops"] == 10
    text = format_status(snapshot)
    assert "status: http://127.0.0.1:43210/status" in text
    assert "drops=10" in text
    assert "last_error=enquire_link got no response: the link is dead" in text


def test_every_component_reports_through_one_interface(tmp_path, engine):
    daemon = daemon_for(tmp_path, engine)
    assert [component.name for component in daemon.components] == [
        "lease", "tranproc", "sender", "sweeper", "inbox", "binds",
    ]  # fmt: skip
    daemon.tranproc.stats.done, daemon.tranproc.stats.last_error = 3, "lost the database"
    snapshots: list[dict] = []
    daemon.snapshot().addCallback(snapshots.append)
    [snapshot] = snapshots
    counters = snapshot["counters"]
    assert counters["tranproc.done"] == 3 and "tranproc.last_batch_ms" not in counters
    assert {"sender.claimed", "inbox.mo_received"} <= set(counters)
    assert snapshot["last_errors"] == ["tranproc: lost the database"]


def test_start_up_refuses_a_pepper_the_database_does_not_know(tmp_path, engine):
    daemon_for(tmp_path, engine)  # the first start records the pepper's fingerprint
    pepper_file = tmp_path / "state" / "pin_pepper"
    first_pepper = pepper_file.read_text()
    pepper_file.write_text("ab" * 32 + "\n")
    with pytest.raises(StartupError) as refused:
        daemon_for(tmp_path, engine)
    message = str(refused.value)
    assert message.startswith("PIN pepper: ") and str(pepper_file) in message
    assert "ab" * 32 not in message and first_pepper.strip() not in message


def test_start_up_makes_no_new_pepper_beside_a_database_that_has_one(tmp_path, engine):
    daemon_for(tmp_path, engine)
    pepper_file = tmp_path / "state" / "pin_pepper"
    pepper_file.unlink()
    with pytest.raises(StartupError, match="no PIN pepper file"):
        daemon_for(tmp_path, engine)
    assert not pepper_file.exists()
