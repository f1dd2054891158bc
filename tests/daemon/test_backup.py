"""`smscore db backup DEST` (daemon.backup): a consistent, checked, private copy while the database
is being written; SQLite by its online backup API, PostgreSQL by pg_dump in an exported snapshot."""

import shutil
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from daemon.backup import PG_DUMP_COMMAND, BackupError, backup_database
from daemon.cli import main
from daemon.ledger_cli import verdict_txn
from daemon.migrate import upgrade_all
from daemon.wal_checkpoint import checkpoint
from ledger import Account, Transfer, create_accounts, create_transfers, make_engine
from ledger.schema import transfers
from tests.pg import postgres_database

NOW_NS = 1_700_000_000 * 10**9
PAYER, PAYEE = 9_000_001, 9_000_002


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    engine = _ledger(url)
    yield url, engine
    engine.dispose()


def _ledger(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade_all(conn)
        create_accounts(
            conn, [Account(PAYER, "KES", code=1), Account(PAYEE, "KES", code=1)], NOW_NS
        )
    return engine


def _post(engine: Engine, transfer_id: int) -> None:
    with engine.begin() as conn:
        [result] = create_transfers(
            conn, [Transfer(transfer_id, PAYER, PAYEE, 100, "KES", code=1)], NOW_NS + transfer_id
        )
        assert result.name == "OK", result


def _transfer_ids(url: str) -> list[int]:
    engine = make_engine(url, create=False)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(transfers.c.id).order_by(transfers.c.id)))
    finally:
        engine.dispose()


def test_a_backup_taken_while_a_writer_posts_is_a_consistent_checked_copy(sqlite_db, tmp_path):
    url, engine = sqlite_db
    written, enough, stop = [], threading.Event(), threading.Event()

    def writer() -> None:  # a bounded number of postings, or fewer once the backup is done
        for transfer_id in range(1, 401):
            if stop.is_set():
                return
            _post(engine, transfer_id)
            written.append(transfer_id)
            if transfer_id == 50:
                enough.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert enough.wait(timeout=60)  # a bound, not a pause: set after the 50th commit
        report = backup_database(url, tmp_path / "copy.db", "KES")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert report.ok, report.checks
    assert report.checks[0] == "integrity_check ok" and report.checks[-1].startswith("ledger ok: ")
    copied = _transfer_ids(f"sqlite:///{tmp_path / 'copy.db'}")
    # every commit up to some point, nothing half: the ids run 1..n with no gap
    assert len(copied) >= 50 and copied == list(range(1, len(copied) + 1))
    assert len(copied) <= len(written)
    assert f"ledger ok: {len(copied)} transfers" in report.checks[-1]


def test_the_copy_holds_what_is_still_only_in_the_write_ahead_log(sqlite_db, tmp_path):
    url, engine = sqlite_db
    database = tmp_path / "smscore.db"
    assert not checkpoint(engine).busy  # the schema and accounts in the file, the WAL empty
    for transfer_id in range(1, 6):  # the engine's pooled connection stays open: no checkpoint
        _post(engine, transfer_id)
    assert (tmp_path / "smscore.db-wal").stat().st_size > 0
    shutil.copyfile(database, tmp_path / "cp.db")  # what `cp smscore.db` would give
    report = backup_database(url, tmp_path / "copy.db", "KES")
    naive = sqlite3.connect(tmp_path / "cp.db")
    assert naive.execute(f"SELECT count(*) FROM {transfers.name}").fetchone() == (0,)
    naive.close()
    assert report.ok and _transfer_ids(f"sqlite:///{tmp_path / 'copy.db'}") == [1, 2, 3, 4, 5]
    assert not (tmp_path / "copy.db-wal").exists()  # one file to carry away


def test_the_copy_is_private_whatever_the_umask(sqlite_db, tmp_path):
    url, _ = sqlite_db
    report = backup_database(url, tmp_path / "copy.db", "KES")
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600
    assert report.size_bytes == (tmp_path / "copy.db").stat().st_size


def test_an_existing_destination_is_never_overwritten(sqlite_db, tmp_path):
    url, _ = sqlite_db
    dest = tmp_path / "copy.db"
    dest.write_text("an older backup")
    with pytest.raises(BackupError, match="exists: give a new file name"):
        backup_database(url, dest, "KES")
    assert dest.read_text() == "an older backup"


def test_a_destination_in_a_missing_directory_says_so(sqlite_db, tmp_path):
    url, _ = sqlite_db
    with pytest.raises(BackupError) as missing:
        backup_database(url, tmp_path / "nodir" / "copy.db", "KES")
    assert str(missing.value) == f"directory {tmp_path / 'nodir'} does not exist: create it first"
    (tmp_path / "file").write_text("")
    with pytest.raises(BackupError, match=r"file is not a directory$"):
        backup_database(url, tmp_path / "file" / "copy.db", "KES")


def test_a_source_that_is_not_a_database_leaves_nothing_behind(tmp_path):
    source = tmp_path / "smscore.db"
    source.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="file is not a database"):
        backup_database(f"sqlite:///{source}", tmp_path / "copy.db", "KES")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["smscore.db"]


def test_smscore_db_backup_prints_the_checks_and_the_copy_passes_ledger_check(sqlite_db, tmp_path):
    url, engine = sqlite_db
    _post(engine, 1)
    runner = CliRunner()
    made = runner.invoke(main, ["db", "backup", str(tmp_path / "copy.db"), "--db", url])
    assert made.exit_code == 0, made.output
    assert made.output.splitlines()[:2] == [
        f"backup {tmp_path / 'copy.db'} ({(tmp_path / 'copy.db').stat().st_size} bytes)",
        "integrity_check ok",
    ]
    checked = runner.invoke(main, ["ledger", "check", "--db", f"sqlite:///{tmp_path / 'copy.db'}"])
    assert checked.exit_code == 0 and "ledger ok: 1 transfers" in checked.output
    again = runner.invoke(main, ["db", "backup", str(tmp_path / "copy.db"), "--db", url])
    assert again.exit_code == 1
    assert again.output.strip().splitlines() == [
        f"smscore: {tmp_path / 'copy.db'} exists: give a new file name (a backup never overwrites)"
    ]


def test_postgresql_without_pg_dump_is_one_line_with_the_command(tmp_path):
    with pytest.raises(BackupError) as caught:
        backup_database("postgresql://u:pw@db/x", tmp_path / "x.dump", "KES", which=lambda _: None)
    assert "not on PATH" in str(caught.value) and PG_DUMP_COMMAND in str(caught.value)
    assert "pw" not in str(caught.value) and not (tmp_path / "x.dump.partial").exists()


def test_postgresql_backup_restores_to_the_same_ledger(pg_url, tmp_path):
    with postgres_database(pg_url) as url, postgres_database(pg_url) as restored:
        engine = _ledger(url)
        for transfer_id in range(1, 4):
            _post(engine, transfer_id)
        engine.dispose()
        report = backup_database(url, tmp_path / "smscore.dump", "KES")
        assert report.ok and report.checks[0] == "pg_restore --list ok"
        assert stat.S_IMODE((tmp_path / "smscore.dump").stat().st_mode) == 0o600
        _pg_restore(restored, tmp_path / "smscore.dump")
        assert _transfer_ids(restored) == [1, 2, 3]
        engine = make_engine(restored)
        with engine.connect() as conn:
            lines, ok = verdict_txn(conn, "KES")
            assert conn.scalar(select(func.count()).select_from(transfers)) == 3
        engine.dispose()
        assert ok and lines[-1] == report.checks[-1]  # the same head as the copy's check


def _pg_restore(url: str, archive: Path) -> None:
    import subprocess

    target = make_url(url).set(drivername="postgresql")
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={target.render_as_string(hide_password=False)}", str(archive)],
        check=True, capture_output=True,
    )  # fmt: skip


def test_pg_dump_gets_no_password_on_its_command_line_however_the_url_gives_it(tmp_path):
    from daemon.backup import _pg_dump_args, _pg_env

    for url in (
        "postgresql://smscore:pw-9931@db/smscore",
        "postgresql://smscore@db/smscore?password=pw-9931&sslmode=require",
    ):
        args = _pg_dump_args("pg_dump", url, tmp_path / "x.partial", "SNAP")
        assert not any("pw-9931" in arg for arg in args), args
        assert any("smscore@db" in arg for arg in args)
        assert _pg_env(url)["PGPASSWORD"] == "pw-9931"
