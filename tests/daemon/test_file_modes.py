"""Outside systemd (no UMask=0077) the SQLite database still holds hashed PINs and message text: it
is made 0600 (so are its -wal and -shm, which SQLite makes with the database's mode) in a state
directory made 0700, whatever the umask. (`smscore run` sets umask 0077 itself:
tests/e2e/test_file_modes.py.)"""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from daemon.admin.env import run_txn
from daemon.config import build_config
from daemon.migrate import upgrade_database
from daemon.secret_files import create_private_file
from ledger import make_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual login umask (files 0644, directories 0755), put back afterwards."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_database_is_0600_with_its_wal_and_shm_in_a_0700_directory(
    tmp_path: Path, open_umask: None
) -> None:
    state = tmp_path / "state"
    database = state / "smscore.db"
    report = upgrade_database(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as conn:  # a write: the WAL and its index appear
            conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
        modes = {path.name: mode(path) for path in state.iterdir()}
    finally:
        engine.dispose()
    assert report.created_file
    assert mode(state) == 0o700
    assert modes == {"smscore.db": 0o600, "smscore.db-wal": 0o600, "smscore.db-shm": 0o600}


def test_an_admin_command_makes_the_database_private_too(tmp_path: Path, open_umask) -> None:
    config = build_config({"service": {"state_dir": str(tmp_path / "state")}})
    run_txn(config, lambda conn: conn.execute(text("SELECT 1")))
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "smscore.db") == 0o600


def test_an_existing_file_and_directory_are_left_as_they_are(tmp_path: Path, open_umask) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    (shared / "smscore.db").write_bytes(b"")
    assert create_private_file(shared / "smscore.db") is False
    assert (mode(shared), mode(shared / "smscore.db")) == (0o750, 0o644)
