"""`smscore db backup DEST`: a consistent copy of the database while the daemon runs, checked.

SQLite: the online backup API copies every page as one read transaction sees it, so the copy holds
what was committed when it started, the write-ahead log's frames included (the daemon goes on
writing: WAL readers do not block the writer). The copy is a single file (rollback journal), mode
0600, and is checked before it gets its name: `PRAGMA integrity_check`, then everything
`smscore ledger check` checks (daemon.ledger_cli.verdict_txn).

PostgreSQL: `pg_dump --format=custom` from a snapshot this command exports and checks the ledger
in: the dump and the check see the very same state. The archive is read back with
`pg_restore --list`.

Restoring (README "Operations", Database) is a stop, copy back, `smscore ledger check`, start. The
restored copy is older than the daemon's seal (daemon.seal_guard): its start-up refuses it (exit 3)
until it is started once with `smscore run --accept-ledger-state`, which records the acceptance in
the audit log and seals the restored state.
"""

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from daemon.db import first_line
from ledger import SchemaVersionError, display_url, make_engine, sqlite_file
from ledger.engine import url_password, url_without_secrets

PG_DUMP_COMMAND = 'pg_dump --format=custom --file=DEST "postgresql://USER@HOST:PORT/DATABASE"'
Which = Callable[[str], str | None]


class BackupError(Exception):
    """The copy could not be made (nothing is left at DEST); one line for the operator."""


@dataclass(frozen=True)
class BackupReport:
    dest: Path
    size_bytes: int
    checks: list[str]  # what the copy's checks say, `ledger check`'s lines last
    ok: bool  # every check holds; False: the copy is kept (it is what the database holds)

    def describe(self) -> list[str]:
        return [f"backup {self.dest} ({self.size_bytes} bytes)", *self.checks]


def backup_database(
    url: str, dest: Path, currency: str, which: Which = shutil.which
) -> BackupReport:
    if dest.exists():
        raise BackupError(f"{dest} exists: give a new file name (a backup never overwrites)")
    if not dest.parent.exists():
        raise BackupError(f"directory {dest.parent} does not exist: create it first")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a directory")
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        source = sqlite_file(url)
        if source is None:
            raise BackupError(f"{display_url(url)}: only a SQLite file can be backed up")
        return backup_sqlite(source, dest, currency)
    if backend == "postgresql":
        return backup_postgresql(url, dest, currency, which)
    raise BackupError(f"{display_url(url)}: no backup for {backend} databases")


def backup_sqlite(source: Path, dest: Path, currency: str) -> BackupReport:
    if not source.is_file():
        raise BackupError(f"no such database: {source}")
    partial = _new_private_file(dest)
    try:
        _copy_sqlite(source, partial)
        checks, ok = _check_sqlite_copy(partial, currency)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)
    return BackupReport(dest, dest.stat().st_size, checks, ok)


def _new_private_file(dest: Path) -> Path:
    """DEST.partial, new, mode 0600 from its creation (the copy holds subscribers' data)."""
    partial = dest.with_name(f"{dest.name}.partial")
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupError(f"{partial} exists: another backup is running, or remove it") from None
    except OSError as exc:
        raise BackupError(f"cannot create {partial}: {exc.strerror}") from None
    os.chmod(partial, 0o600)  # whatever the umask
    return partial


def _copy_sqlite(source: Path, partial: Path) -> None:
    try:
        # Read-write, though it only reads: the last connection to close removes the -wal and
        # -shm files, which a read-only one would leave behind owned by whoever ran the backup.
        reader = sqlite3.connect(source)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source}: {exc}") from None
    copy = sqlite3.connect(partial)
    try:
        reader.execute("PRAGMA busy_timeout = 5000")
        reader.backup(copy)  # all pages in one step: one read transaction, one consistent state
        copy.execute("PRAGMA journal_mode = DELETE")  # one file: no -wal to carry along
    except sqlite3.Error as exc:
        raise BackupError(f"copying {source}: {exc}") from None
    finally:
        copy.close()
        reader.close()


def _check_sqlite_copy(partial: Path, currency: str) -> tuple[list[str], bool]:
    copy = sqlite3.connect(f"{partial.resolve().as_uri()}?mode=ro", uri=True)
    try:
        integrity = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    finally:
        copy.close()
    if integrity != ["ok"]:
        raise BackupError(f"the copy fails PRAGMA integrity_check: {integrity[0]}")
    # A plain engine: ledger.make_engine would turn the copy back to WAL mode.
    engine = create_engine(f"sqlite:///{partial}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            lines, ok = _verdict(conn, currency)
    finally:
        engine.dispose()
    return ["integrity_check ok", *lines], ok


def _verdict(conn, currency: str) -> tuple[list[str], bool]:
    from daemon.ledger_cli import verdict_txn

    try:
        return verdict_txn(conn, currency)
    except SchemaVersionError as exc:
        raise BackupError(f"the copy cannot be checked: {exc}") from None


def backup_postgresql(url: str, dest: Path, currency: str, which: Which) -> BackupReport:
    pg_dump, pg_restore = which("pg_dump"), which("pg_restore")
    if pg_dump is None or pg_restore is None:
        raise BackupError(
            "pg_dump and pg_restore are not on PATH (Debian: apt-get install postgresql-client);"
            f" or back up by hand: {PG_DUMP_COMMAND}"
        )
    partial = _new_private_file(dest)
    try:
        checks, ok = _dump_in_snapshot(url, partial, currency, pg_dump)
        _run("pg_restore", [pg_restore, "--list", str(partial)])
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)
    return BackupReport(dest, dest.stat().st_size, ["pg_restore --list ok", *checks], ok)


def _dump_in_snapshot(
    url: str, partial: Path, currency: str, pg_dump: str
) -> tuple[list[str], bool]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with conn.begin():
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                _run("pg_dump", _pg_dump_args(pg_dump, url, partial, snapshot), _pg_env(url))
                return _verdict(conn, currency)
    except SQLAlchemyError as exc:
        raise BackupError(f"database {display_url(url)}: {first_line(exc)}") from None
    finally:
        engine.dispose()


def _pg_dump_args(pg_dump: str, url: str, partial: Path, snapshot: str) -> list[str]:
    # libpq's own URI, without the password (an argument is visible to every user: PGPASSWORD)
    target = url_without_secrets(url).set(drivername="postgresql")
    return [
        pg_dump,
        "--format=custom",
        f"--file={partial}",
        f"--snapshot={snapshot}",
        "--no-password",
        f"--dbname={target.render_as_string(hide_password=False)}",
    ]


def _pg_env(url: str) -> dict[str, str]:
    password = url_password(url)
    return {**os.environ, "PGPASSWORD": password} if password else dict(os.environ)


def _run(name: str, args: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{name} failed (exit {done.returncode}): {said[0] if said else ''}")
