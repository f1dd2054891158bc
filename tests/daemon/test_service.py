"""The daemon's wiring, health and status, on a memory reactor and an in-line database."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import fail
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs

from daemon.chart import SYSTEM_ACCOUNTS
from daemon.components import Adapted
from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.lis import DEFAULT_MAX_WAITING
from daemon.migrate import SchemaVersions, schema_versions, upgrade_all
from daemon.schema import SCHEMA_VERSION
from daemon.service import Daemon, StartupError, assemble_daemon, open_database
from daemon.status import JsonReply
from daemon.status_table import format_status
from ledger import make_engine
from ledger.queries import get_accounts
from ledger.schema import SCHEMA_VERSION as LEDGER_SCHEMA_VERSION
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus

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
    assert steps == [
        "PIN pepper",
        "receipt keys",
        "channel keys",
        "chart of accounts (KES)",
        "tariff",
        "app channel key",
        "ussd menu",
    ]
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
    text = format_status(snapshot, width=200)
    assert "http://127.0.0.1:43210/status" in text
    [row] = [line.split() for line in text.splitlines() if line.split()[:1] == [bind.name]]
    assert (
        row[1:3] == ["DOWN", "127.0.0.1:2775"] and row[4] == "10"
    )  # Name State Host Connects Drops
    assert " ".join(row).endswith("enquire_link got no response: the link is dead")


def test_every_component_reports_through_one_interface(tmp_path, engine):
    daemon = daemon_for(tmp_path, engine)
    names = [component.name for component in daemon.components]
    assert names[:10] == [
        "lease", "tranproc", "menu", "sender", "sweeper", "settler", "inbox.backlog", "inbox",
        "binds", "wal_checkpoint",
    ]  # fmt: skip
    # The API's, in the order their modules were first imported (a test may import one early).
    assert sorted(names[10:-2]) == [
        "api.access_log", "api.batches", "api.housekeeping", "api.worker", "callbacks",
        "channel_push", "channel_streams",
    ]  # fmt: skip
    assert names[-2:] == ["metrics.postings", "metrics.queues"]  # last built (daemon.metrics)
    # A name is the first part of its counters' names (`api.batches.runs`) in status and metrics.
    assert all(re.fullmatch(r"[a-z_.]+", name) for name in names), names
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


def test_status_counts_repeats_since_start(tmp_path, engine):
    daemon = daemon_for(tmp_path, engine)
    daemon.tranproc.stats.repeats, daemon.tranproc.stats.replayed = 3, 1
    snapshots: list[dict] = []
    daemon.snapshot().addCallback(snapshots.append)
    [snapshot] = snapshots
    assert snapshot["counters"]["tranproc.repeats"] == 3
    rows = [line.split() for line in format_status(snapshot).splitlines()]
    assert ["tranproc.repeats", "3"] in [row[:2] for row in rows]
    assert ["tranproc.replayed", "1"] in [row[:2] for row in rows]


def test_open_database_creates_and_upgrades_as_db_upgrade_does(tmp_path):
    config = build_config({"service": {"state_dir": str(tmp_path / "new" / "state")}})
    with capturedLogs() as events:
        db = open_database(config, None)
    try:
        with db.engine.connect() as conn:
            versions = schema_versions(conn)
        assert versions == SchemaVersions(LEDGER_SCHEMA_VERSION, SCHEMA_VERSION)
    finally:
        db.stop()
    said = [event.get("report") for event in events]
    assert f"created database {config.database_url} with the schema at" in " ".join(map(str, said))


def test_open_database_fails_in_one_line_naming_the_database_without_its_password(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = build_config({"database": {"url": f"sqlite:///{blocker}/smscore.db"}})
    with pytest.raises(StartupError) as refused:
        open_database(config, None)
    message = str(refused.value)
    assert message.startswith(f"database sqlite:///{blocker}/smscore.db: ")
    assert "\n" not in message
    postgres = build_config({"database": {"url": "postgresql://u:hunter2@127.0.0.1:1/x"}})
    with pytest.raises(StartupError) as unreachable:
        open_database(postgres, None)
    assert "hunter2" not in str(unreachable.value) and "\n" not in str(unreachable.value)
    assert str(unreachable.value).startswith("database postgresql://u:***@127.0.0.1:1/x: ")


def test_inbox_bound_comes_from_the_config_and_refusals_show_in_status(tmp_path, engine):
    config = build_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "binds": [BIND],
            "inbox": {"max_waiting": 1, "group_commit_max_wait_ms": 1000},
        }
    )
    daemon = assemble_daemon(config, MemoryReactorClock(), InlineDatabase(engine))
    assert daemon.inbox.max_waiting == 1
    first = DeliverSm(source_addr="254712000001", destination_addr="12345", short_message=b"PING")
    again = DeliverSm(source_addr="254712000002", destination_addr="12345", short_message=b"PING")
    daemon.inbox.accept("sim", first)  # waits for its group commit
    refused: list[CommandStatus] = []
    daemon.inbox.accept("sim", again).addCallback(refused.append)
    assert refused == [CommandStatus.ESME_RTHROTTLED]
    snapshots: list[dict] = []
    daemon.snapshot().addCallback(snapshots.append)
    rows = [line.split() for line in format_status(snapshots[0]).splitlines()]
    assert ["inbox.refused_queue_full", "1"] in [row[:2] for row in rows]


def test_inbox_bound_default_is_the_writers(tmp_path):
    assert build_config({}).inbox.max_waiting == DEFAULT_MAX_WAITING


def test_a_component_whose_stop_raises_does_not_keep_the_database_thread(tmp_path, engine):
    # Found by hand: a bind's stop raised (automat NoTransition), Daemon.stop raised with it,
    # the database thread pool was never stopped and the process never exited.
    daemon = daemon_for(tmp_path, engine)
    stopped: list[str] = []

    def broken_stop():
        raise RuntimeError("no transition")

    daemon.components.insert(0, Adapted("broken", lambda: None, broken_stop, lambda: None))
    daemon.components.append(Adapted("last", lambda: None, lambda: stopped.append("last"), None))
    daemon.db.stop = lambda: stopped.append("db")  # type: ignore[method-assign]
    daemon.start()
    outcome: list[object] = []
    daemon.stop().addBoth(outcome.append)
    assert stopped == ["last", "db"] and len(outcome) == 1
