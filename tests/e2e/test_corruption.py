"""Corruption and loss detection against the real daemon (`smscore run` as a subprocess, SQLite files
in tmp_path): a truncated WAL, a flipped byte in the database file and a restored old copy are each
found by `smscore ledger check` and by the daemon's start-up, which refuses to run on them (exit 3,
one line) unless `--accept-ledger-state`, which the audit log records."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from daemon import exit_codes
from daemon.audit import list_txn
from daemon.chart import deposit_txn, new_transfer_id, wallet_account_id
from daemon.seal_guard import ACCEPT_ACTION, seal_path
from ledger import make_engine
from ledger.schema import transfers
from ledger.seal_file import read_seal
from tests.e2e.harness import (
    PROCESS_LIFETIME_S,
    SMSCORE,
    DaemonProcess,
    daemon_settings,
    seed_subscribers,
    subscribers,
    wait_for,
)

PEOPLE = subscribers(3)
BOUNDED = ("timeout", "-s", "KILL", str(PROCESS_LIFETIME_S))


@dataclass
class Daemon(DaemonProcess):
    """The harness's daemon, with options for `smscore run`."""

    def start(self, *options: str) -> Daemon:
        self.starts += 1
        with (self.workdir / f"{self.name}.{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [*BOUNDED, str(SMSCORE), "run", "--config", str(self.config_path), *options],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def refused(self) -> str:
        """Start it; it must exit 3 with one line: that line."""
        self.start()
        assert self.process is not None
        assert self.process.wait(timeout=60) == exit_codes.LEDGER, self.log()
        # (no [[binds]] here: `run` warns of that first)
        lines = [line for line in self.log().splitlines() if "smscore: warning: " not in line]
        assert len(lines) == 1 and lines[0].startswith("smscore: ledger seal: "), lines
        return lines[0]


def daemon_for(tmp_path: Path) -> Daemon:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    settings = daemon_settings(
        tmp_path / "state", url, None, seal={"interval_s": 0.2}, database={"wal_checkpoint_s": 0}
    )
    daemon = Daemon(tmp_path, settings)
    seed_subscribers(daemon.config, PEOPLE)
    return daemon


def deposit(daemon: Daemon, count: int) -> int:
    """`count` deposits written beside the running daemon (as `smscore admin` does); the count of
    transfers then, once the daemon's seal has caught up with it."""
    engine = make_engine(daemon.config.database_url)
    try:
        with engine.begin() as conn:
            for i in range(count):
                account = wallet_account_id(PEOPLE[i % len(PEOPLE)].msisdn)
                at_ns, transfer_id = time.time_ns(), new_transfer_id()
                deposit_txn(
                    conn, account, 100, "KES", at_ns, transfer_id=transfer_id, user_data="e2e"
                )
        with engine.connect() as conn:
            total = len(conn.execute(select(transfers.c.seq)).all())
    finally:
        engine.dispose()
    path = seal_path(daemon.config)
    wait_for(lambda: read_seal(path).ledger.count == total, 15, "the daemon's seal")
    return total


def ledger_check(daemon: Daemon, *options: str) -> subprocess.CompletedProcess:
    command = [str(SMSCORE), "ledger", "check", "--db", daemon.config.database_url, *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_a_truncated_wal_is_refused_until_accepted_which_the_audit_log_records(tmp_path) -> None:
    daemon = daemon_for(tmp_path)
    daemon.start().wait_ready()
    sealed = deposit(daemon, 5)
    daemon.kill()  # SIGKILL: the last commits are only in smscore.db-wal
    wal = tmp_path / "smscore.db-wal"
    os.truncate(wal, wal.stat().st_size // 2)  # its second half lost (a disk's lost writes)

    line = daemon.refused()
    assert f"fewer than the {sealed} sealed at " in line
    assert line.endswith("start with --accept-ledger-state to run on it anyway")
    checked = ledger_check(daemon, "--seal", str(seal_path(daemon.config)))
    assert checked.returncode == 1 and f"fewer than the {sealed} sealed at " in checked.stdout
    assert (
        checked.stdout.splitlines()[-1] == "ledger BROKEN: the database does not continue its seal"
    )

    daemon.start("--accept-ledger-state").wait_ready()
    assert daemon.stop() == exit_codes.OK
    assert "ledger state accepted by" in daemon.log()
    engine = make_engine(daemon.config.database_url)
    with engine.connect() as conn:
        accepted = [entry for entry in list_txn(conn) if entry.action == ACCEPT_ACTION]
    engine.dispose()
    assert len(accepted) == 1 and f"fewer than the {sealed} sealed" in accepted[0].detail
    daemon.start().wait_ready()  # accepted once: the next start runs
    assert daemon.stop() == exit_codes.OK


def test_a_flipped_byte_in_the_database_file_is_refused(tmp_path) -> None:
    daemon = daemon_for(tmp_path)
    daemon.start().wait_ready()
    count = deposit(daemon, 3)
    assert daemon.stop() == exit_codes.OK  # a clean stop: everything is in smscore.db itself
    engine = make_engine(daemon.config.database_url)
    with engine.connect() as conn:
        query = select(transfers.c.hash).where(transfers.c.seq == count - 1)
        stored = bytes(conn.execute(query).scalar_one())
    engine.dispose()
    path = tmp_path / "smscore.db"
    data = bytearray(path.read_bytes())
    assert data.count(stored) == 1 and not (tmp_path / "smscore.db-wal").exists()
    data[data.index(stored)] ^= 0x01
    path.write_bytes(data)

    line = daemon.refused()
    assert f"ledger: hash chain breaks at transfer {count - 1}: " in line
    checked = ledger_check(daemon)
    assert checked.returncode == 1
    assert f"hash chain broken from seq {count - 1}" in checked.stdout.splitlines()[-1]


def test_a_restored_old_copy_is_refused(tmp_path) -> None:
    daemon = daemon_for(tmp_path)
    daemon.start().wait_ready()
    backup = tmp_path / "backup.db"
    made = subprocess.run(
        [str(SMSCORE), "db", "backup", str(backup), "--config", str(daemon.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    sealed = deposit(daemon, 4)
    assert daemon.stop() == exit_codes.OK
    # The restore procedure (README, Database): the daemon stopped, the old -wal and -shm gone,
    # the backup copied over the database.
    for leftover in ("smscore.db-wal", "smscore.db-shm"):
        (tmp_path / leftover).unlink(missing_ok=True)
    shutil.copyfile(backup, tmp_path / "smscore.db")

    line = daemon.refused()
    assert f"ledger: {sealed - 4} transfers, fewer than the {sealed} sealed at " in line
    checked = ledger_check(daemon, "--seal", str(seal_path(daemon.config)))
    assert checked.returncode == 1 and f"fewer than the {sealed} sealed at " in checked.stdout
    assert "ledger ok: " in checked.stdout  # consistent in itself: only the seal tells
