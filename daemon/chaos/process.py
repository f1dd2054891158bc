"""The daemon under test: `smscore run` as a child process in its own process group, killed with
SIGKILL and started again; and the database lock holder (another process's write lock on SQLite).

Every child is bounded: it runs under `timeout -s KILL` when the system has it, so nothing outlives
a chaos run that itself died; the run stops it in any case at its end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smscore_command() -> list[str]:
    smscore = Path(sys.executable).with_name("smscore")
    return [str(smscore)] if smscore.exists() else [sys.executable, "-m", "daemon.cli"]


class DaemonProcess:
    def __init__(self, work: Path, config_path: Path, lifetime_s: float) -> None:
        self.work = work
        self.config_path = config_path
        self.lifetime_s = lifetime_s
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_path(self, start: int | None = None) -> Path:
        return self.work / f"daemon.{self.starts if start is None else start}.log"

    def start(self) -> None:
        self.starts += 1
        bound = (
            ["timeout", "-s", "KILL", str(int(self.lifetime_s))] if shutil.which("timeout") else []
        )
        command = [*bound, *smscore_command(), "run", "--config", str(self.config_path)]
        with self.log_path().open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL the whole process group: no drain, no goodbye."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)
        self.kills += 1

    def stop(self) -> int | None:
        """SIGTERM (the daemon drains and exits 0), SIGKILL if it does not stop in time."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                return process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        return process.wait(timeout=STOP_TIMEOUT_S)

    def exited_unasked(self) -> int | None:
        """The exit code if the daemon died by itself (not killed by us), else None."""
        if self.process is None:
            return None
        return self.process.poll()


class LockHolder:
    """Holds SQLite's write lock (BEGIN IMMEDIATE) from another connection for a while, as a
    backup, a migration or an operator's sqlite3 shell would: the daemon's writers wait, then
    time out and retry, and the LIS answers MOs it cannot store with a temporary error."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.held_s = 0.0
        self.taken = 0
        self._release = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holding(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def hold(self, duration_s: float) -> None:
        if self.holding or not self.db_path.exists():
            return
        self._release.clear()
        self._thread = threading.Thread(target=self._hold, args=(duration_s,), daemon=True)
        self._thread.start()

    def _hold(self, duration_s: float) -> None:
        try:
            conn = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            self.taken += 1
            self._release.wait(duration_s)  # released early when the run stops
            conn.execute("ROLLBACK")
            self.held_s += time.monotonic() - started
        except sqlite3.Error:
            pass  # could not get the lock in time (the daemon was writing): no episode
        finally:
            conn.close()

    def release(self) -> None:
        """Let go now (never waits: this runs on the reactor); `join` once the run is over."""
        self._release.set()

    def join(self, timeout_s: float = 15.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
