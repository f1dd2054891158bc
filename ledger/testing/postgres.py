"""A throwaway PostgreSQL cluster for tests and benchmarks (no network: a private unix socket).

A testing aid, not used by the ledger or the service (see ledger.testing for why it ships in the
package). It starts server processes and uses sleeps while waiting for them: never import it from
production code.

Uses the server binaries of Debian's `postgresql` package (/usr/lib/postgresql/*/bin) or any
`initdb` on PATH. PostgreSQL refuses to run as root, so under root the cluster belongs to the
`postgres` system user and every server process runs as that user. The server is our child
process with a parent-death signal, so it stops even if the test run is killed; stop() shuts it
down and removes its directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url

from ledger.engine import make_engine

SERVER_USER = "postgres"
STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05
_PR_SET_PDEATHSIG = 1
_SERVER_SETTINGS = {"listen_addresses": "", "max_connections": "100", "shared_buffers": "128MB"}
# Durability is not what tests measure: these make a throwaway cluster fast (benchmarks keep them on).
_NOT_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the cluster did not start."""


def find_bin_dir() -> Path:
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates.sort(key=lambda path: int(re.sub(r"\D", "", path.split("/")[4]) or 0))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found; install them with: apt-get install postgresql "
        "(./bootstrap test does this)"
    )


def _demote_and_watch_parent(uid: int | None, gid: int | None) -> None:
    """Runs in the child between fork and exec: drop root, then die with the parent."""
    if uid is not None and gid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    # Set after the uid change: changing credentials clears the parent-death signal.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGQUIT), 0, 0, 0)


class TemporaryPostgres:
    """Start with start() (or `with`); `admin_url` is a superuser URL to database `postgres`."""

    def __init__(self, base_dir: str | None = None, durable: bool = False) -> None:
        self._base_dir = base_dir
        self._settings = dict(_SERVER_SETTINGS) if durable else {**_SERVER_SETTINGS, **_NOT_DURABLE}
        self._bin_dir = find_bin_dir()
        self._uid: int | None = None
        self._gid: int | None = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            self._uid, self._gid = entry.pw_uid, entry.pw_gid
        self._dir: Path | None = None
        self._process: subprocess.Popen | None = None
        self.admin_url = ""

    def __enter__(self) -> TemporaryPostgres:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            args,
            cwd=self._dir,
            preexec_fn=lambda: _demote_and_watch_parent(self._uid, self._gid),
            **kwargs,
        )

    def start(self) -> str:
        self._dir = Path(tempfile.mkdtemp(prefix="smscore-pg-", dir=self._base_dir))
        if self._uid is not None:
            os.chown(self._dir, self._uid, self._gid)
        try:
            self._initdb()
            self._start_server()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self.admin_url

    def _initdb(self) -> None:
        initdb = [str(self._bin_dir / "initdb"), "-D", str(self._dir / "data"), "-U", "postgres"]
        initdb += ["-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        process = self._popen(initdb, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = process.communicate(timeout=STARTUP_TIMEOUT_S)
        if process.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {output.decode(errors='replace')[-2000:]}")

    def _start_server(self) -> None:
        args = [
            str(self._bin_dir / "postgres"),
            "-D",
            str(self._dir / "data"),
            "-k",
            str(self._dir),
        ]
        for name, value in self._settings.items():
            args += ["-c", f"{name}={value}"]
        log = open(self._dir / "server.log", "wb")  # noqa: SIM115 - the server writes to it
        with log:
            self._process = self._popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.admin_url = f"postgresql+psycopg://postgres@/postgres?host={self._dir}"

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise PostgresUnavailable(f"postgres exited at start-up:\n{self._log_tail()}")
            try:
                psycopg.connect(host=str(self._dir), user="postgres", dbname="postgres").close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"postgres not ready:\n{self._log_tail()}") from None
                time.sleep(POLL_INTERVAL_S)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self._dir / "server.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: disconnects clients
            try:
                process.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def create_database(admin_url: str, prefix: str = "t") -> str:
    """Create an empty database on the server of `admin_url`; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_execute(admin_url: str, sql: str) -> None:
    engine = make_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()
