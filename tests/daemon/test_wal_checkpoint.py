"""The SQLite WAL checkpoint job (daemon.wal_checkpoint): once a PIN-bearing MO is masked and the
job ran, neither the database file nor its WAL holds the PIN in clear."""

from pathlib import Path

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock

from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.schema import inbox
from daemon.wal_checkpoint import WalCheckpointer, checkpoint, make_checkpointer
from tests.daemon.money_world import World

ALICE, BOB = "254712000001", "254712000002"
PIN = "4826"
COMMAND = f"SEND 0712000002 100 {PIN}"


def _files(engine) -> tuple[Path, Path]:
    db_file = Path(engine.url.database)
    return db_file, db_file.with_name(db_file.name + "-wal")


def _holds_command(path: Path) -> bool:
    data = path.read_bytes() if path.exists() else b""
    return any(COMMAND.encode(coding) in data for coding in ("utf-8", "utf-16-be"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_after_the_job_no_file_holds_the_pin(engine) -> None:
    world = World(engine)
    world.add(ALICE, pin=PIN, balance_minor=1_000 * 100)
    world.add(BOB)
    assert "Confirmed" in world.sms(ALICE, COMMAND)
    with engine.begin() as conn:
        [stored] = conn.execute(select(inbox.c.text)).scalars()
    assert PIN not in stored  # the table is masked...
    db_file, wal = _files(engine)
    assert _holds_command(wal)  # ...but the WAL still has the frame the LIS wrote
    job = WalCheckpointer(Clock(), InlineDatabase(engine), interval_s=60.0)
    job.run_now()
    assert job.counters["runs"] == 1 and job.counters["busy"] == 0, job.last_error
    assert not _holds_command(wal) and not _holds_command(db_file)
    assert not wal.exists() or wal.stat().st_size == 0  # TRUNCATE: nothing left to read back


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_job_runs_every_interval(engine) -> None:
    clock = Clock()
    job = WalCheckpointer(clock, InlineDatabase(engine), interval_s=30.0)
    job.start()
    clock.advance(0)
    clock.advance(30)
    clock.advance(30)
    assert job.counters["runs"] == 3
    job.stop()


def test_checkpoint_reports_what_it_did(engine) -> None:
    result = checkpoint(engine)
    if engine.dialect.name == "sqlite":
        assert result is not None and result.busy is False
    else:
        assert result is None  # PostgreSQL has no WAL file of ours to checkpoint


def test_made_for_sqlite_only_and_when_configured(engine) -> None:
    db = InlineDatabase(engine)
    on = build_config({"database": {"wal_checkpoint_s": 30.0}})
    off = build_config({"database": {"wal_checkpoint_s": 0}})
    made = make_checkpointer(on, Clock(), db)
    assert (made is not None) == (engine.dialect.name == "sqlite")
    assert make_checkpointer(off, Clock(), db) is None
    assert build_config({}).database.wal_checkpoint_s == 60.0
