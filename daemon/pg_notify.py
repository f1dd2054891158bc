"""PostgreSQL LISTEN/NOTIFY between the LIS and the TranProcs of other processes.

The transaction that commits new inbox rows also issues `NOTIFY smscore_inbox`
(`notify_inbox_txn`); PostgreSQL delivers it when, and only if, that transaction commits. Each
TranProc process listens on a connection of its own (`InboxListener`), in a thread that waits in
psycopg's `notifies(timeout=...)`: never on the reactor. A notification wakes the TranProc through
`reactor.callFromThread`; many notifications before the reactor runs the wake make one wake. The
TranProc's poll stays as a slow fallback (`FALLBACK_POLL_S`: a lost connection, a notification
missed while reconnecting), and after every (re)connection the listener wakes it once, for rows
committed while nobody listened.

SQLite has one process and keeps the in-process wake (daemon.lis.InboxWriter.on_committed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from twisted.internet.defer import Deferred
from twisted.logger import Logger

log = Logger()

CHANNEL = "smscore_inbox"
FALLBACK_POLL_S = 5.0  # the TranProc's poll while it listens (its poll_interval_s otherwise)
WAIT_S = 1.0  # the listener thread looks at its stop flag at least this often
RECONNECT_S = 2.0  # after a lost or refused connection


def notify_inbox_txn(conn: Connection, new_rows: int) -> int:
    """In the transaction that wrote `new_rows` inbox rows: when there are any, tell the listening
    TranProcs at its commit (nothing on SQLite: there the LIS wakes its own process's TranProc).
    Returns `new_rows`."""
    if new_rows and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {CHANNEL}")
    return new_rows


def conninfo(engine: Engine) -> str:
    """A libpq URL for psycopg.connect from the engine's (password included: never logged)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class InboxListener:
    """A thread LISTENing on CHANNEL; `on_notify` runs on the reactor thread after notifications."""

    def __init__(
        self,
        reactor: Any,  # IReactorFromThreads
        url: str,
        on_notify: Callable[[], None],
        *,
        wait_s: float = WAIT_S,
        reconnect_s: float = RECONNECT_S,
    ) -> None:
        self._reactor = reactor
        self._url = url
        self._on_notify = on_notify
        self._wait_s = wait_s
        self._reconnect_s = reconnect_s
        self._stopping = threading.Event()
        self._wake_pending = threading.Event()  # set: a wake is on its way to the reactor
        self._thread: threading.Thread | None = None
        self._stopped: Deferred | None = None
        self.counters = {"notifications": 0, "wakes": 0, "connects": 0, "errors": 0}

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._stopped = Deferred()
        self._thread = threading.Thread(
            target=self._run, args=(self._stopped,), name="smscore-listen", daemon=True
        )
        self._thread.start()

    def stop(self) -> Deferred:
        """Fires on the reactor once the thread has closed its connection (within wait_s)."""
        self._stopping.set()
        stopped, self._stopped, self._thread = self._stopped, None, None
        if stopped is None:
            done: Deferred = Deferred()
            done.callback(None)
            return done
        return stopped

    def _run(self, stopped: Deferred) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._listen()
                except psycopg.Error as exc:
                    self.counters["errors"] += 1
                    log.warn(
                        "tranproc listener: {error}; listening again in {delay_s}s",
                        error=str(exc).strip().splitlines()[0] if str(exc).strip() else "error",
                        delay_s=self._reconnect_s,
                    )
                    self._stopping.wait(self._reconnect_s)
        finally:
            self._reactor.callFromThread(stopped.callback, None)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.counters["connects"] += 1
            self._wake()  # rows committed before we listened
            while not self._stopping.is_set():
                for _notify in conn.notifies(timeout=self._wait_s):
                    self.counters["notifications"] += 1
                    self._wake()
                    if self._stopping.is_set():
                        break

    def _wake(self) -> None:
        if self._wake_pending.is_set():
            return  # the reactor has not run the last one yet: it covers this one
        self._wake_pending.set()
        self._reactor.callFromThread(self._deliver)

    def _deliver(self) -> None:
        self._wake_pending.clear()  # before the wake: a notification from now on wakes again
        self.counters["wakes"] += 1
        self._on_notify()
