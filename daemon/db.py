"""All database work goes through `run_interaction(desc, fn, *args)`: `fn(conn, *args)` runs inside one
transaction on a dedicated thread pool (one thread for SQLite: it has one writer), never on the reactor.
Transient failures (SQLite busy, PostgreSQL serialization/deadlock) are retried a bounded number of times.

`InlineDatabase` runs the same functions synchronously for unit tests driven by `task.Clock`.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

log = Logger()
T = TypeVar("T")

# PostgreSQL SQLSTATEs worth one more try: serialization_failure, deadlock_detected.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


def is_transient(error: BaseException) -> bool:
    if isinstance(error, OperationalError) and "locked" in str(error).lower():
        return True
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(error, DBAPIError) and sqlstate in _RETRY_SQLSTATES


def run_in_transaction(
    engine: Engine, max_retries: int, desc: str, fn: Callable[..., T], *args: Any
) -> T:
    attempt = 0
    while True:
        try:
            with engine.begin() as conn:
                return fn(conn, *args)
        except DBAPIError as error:
            if attempt >= max_retries or not is_transient(error):
                raise
            attempt += 1
            log.warn(
                "{desc}: transient database error, retry {attempt}", desc=desc, attempt=attempt
            )


class Database:
    """Runs `*_txn(conn, ...)` functions on the database thread pool; results come back as Deferreds."""

    def __init__(
        self, reactor: Any, engine: Engine, threads: int = 1, max_retries: int = 3
    ) -> None:
        self.reactor = reactor
        self.engine = engine
        self.max_retries = max_retries
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name="smscore-db")
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._pool.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._pool.stop()
            self._started = False
        self.engine.dispose()

    def run_interaction(self, desc: str, fn: Callable[..., T], *args: Any) -> Deferred:
        return deferToThreadPool(
            self.reactor,
            self._pool,
            run_in_transaction,
            self.engine,
            self.max_retries,
            desc,
            fn,
            *args,
        )

    def run_sync(self, desc: str, fn: Callable[[Connection], T], *args: Any) -> T:
        """For start-up and CLI tools only (blocks the caller)."""
        return run_in_transaction(self.engine, self.max_retries, desc, fn, *args)


class InlineDatabase(Database):
    """Same interface, runs in the caller's thread: deterministic tests with task.Clock."""

    def __init__(self, engine: Engine, max_retries: int = 0) -> None:
        self.engine = engine
        self.max_retries = max_retries
        self.calls: list[str] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.engine.dispose()

    def run_interaction(self, desc: str, fn: Callable[..., T], *args: Any) -> Deferred:
        self.calls.append(desc)
        try:
            return succeed(run_in_transaction(self.engine, self.max_retries, desc, fn, *args))
        except Exception:
            return fail()
