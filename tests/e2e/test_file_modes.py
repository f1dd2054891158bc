"""`smscore run` outside systemd, started with the usual umask 0022: everything it makes under the
state directory (the database, its -wal and -shm, the pepper, keys, the seal) is its user's only,
as under the unit's UMask=0077."""

import os
import stat
from pathlib import Path

from tests.e2e.harness import DaemonProcess, daemon_settings


def test_the_state_directory_and_everything_in_it_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    daemon = DaemonProcess(
        tmp_path, daemon_settings(state, f"sqlite:///{state / 'smscore.db'}", None)
    )
    previous = os.umask(0o022)  # the child inherits it
    try:
        daemon.start()
    finally:
        os.umask(previous)
    try:
        daemon.wait_ready()
        modes = {
            str(path.relative_to(state)): stat.S_IMODE(path.stat().st_mode)
            for path in [state, *state.rglob("*")]
        }
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert {"smscore.db", "smscore.db-wal", "smscore.db-shm"} <= set(modes), modes
    loose = {name: oct(m) for name, m in modes.items() if m & (stat.S_IRWXG | stat.S_IRWXO)}
    assert loose == {}
