"""All database work goes through `run_interaction(desc, fn, *args)`: `fn(conn, *args)` runs inside one
transaction on a dedicated thread pool (one thread for SQLite: it has one writer), never on the reactor.
Transient failures (SQLite busy, PostgreSQL serialization/deadlock) are retried a bounded number of
times, after an exponential, jittered, capped back-off (`RetryBackoff`): retrying at once would meet
the same lock holder or the same conflicting transaction again. The back-off sleeps on the database
thread, never on the reactor; tests inject the sleeper.

`InlineDatabase` runs the same functions synchronously for unit tests driven by `task.Clock`.

Commit hooks (`add_commit_hook`) run on the database thread once a transaction's COMMIT returned,
never for one that failed or rolled back: SQLAlchemy's own `commit` event fires before the COMMIT
(daemon.log_lines writes its lines from a hook).
"""

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

log = Logger()
T = TypeVar("T")

# PostgreSQL SQLSTATEs worth one more try: serialization_failure, deadlock_detected.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


def first_line(error: BaseException) -> str:
    """An error as one line for the operator: the driver's own message when SQLAlchemy wraps one
    (the wrapper adds the SQL and a link), else the error's first line."""
    return str(getattr(error, "orig", None) or error).splitlines()[0]


def is_transient(error: BaseException) -> bool:
    if isinstance(error, OperationalError) and "locked" in str(error).lower():
        return True
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(error, DBAPIError) and sqlstate in _RETRY_SQLSTATES


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """How long to wait before retry n (1, 2, ...): half of min(cap_s, base_s * 2**(n-1)) plus a
    random part of the other half. Exponential, so a contended database gets room; jittered, so
    writers that collided do not collide again in step; capped, so a retry never waits longer than
    cap_s (SQLite's own busy_timeout already waits for the lock inside each attempt)."""

    base_s: float = 0.05
    cap_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep  # runs on the database thread
    uniform: Callable[[float, float], float] = random.uniform

    def delay_s(self, retry: int) -> float:
        ceiling_s = min(self.cap_s, self.base_s * 2 ** (retry - 1))
        return ceiling_s / 2 + self.uniform(0.0, ceiling_s / 2)


DEFAULT_BACKOFF = RetryBackoff()
NO_BACKOFF = RetryBackoff(base_s=0.0, cap_s=0.0, sleep=lambda _s: None)


CommitHook = Callable[[Connection], None]
_COMMIT_HOOKS: list[CommitHook] = []


def add_commit_hook(hook: CommitHook) -> None:
    if hook not in _COMMIT_HOOKS:
        _COMMIT_HOOKS.append(hook)


def remove_commit_hook(hook: CommitHook) -> None:
    if hook in _COMMIT_HOOKS:
        _COMMIT_HOOKS.remove(hook)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()`, then the commit hooks with its Connection once the COMMIT returned."""
    with engine.begin() as conn:
        yield conn
    for hook in _COMMIT_HOOKS:
        try:
            hook(conn)
        except Exception:  # the work is committed: a hook's mistake must not make it look failed
            log.failure("commit hook {hook!r} failed", hook=hook)


def run_in_transaction(
    engine: Engine,
    max_retries: int,
    desc: str,
    fn: Callable[..., T],
    *args: Any,
    backoff: RetryBackoff = DEFAULT_BACKOFF,
) -> T:
    """`fn(conn, *args)` in one transaction; transient errors retried up to max_retries times."""
    retry = 0
    while True:
        try:
            with transaction(engine) as conn:
                return fn(conn, *args)
        except DBAPIError as error:
            if retry >= max_retries or not is_transient(error):
                raise
            retry += 1
            delay_s = backoff.delay_s(retry)
            log.warn(
                "{desc}: transient database error, retry {retry} of {max_retries} in {delay_ms} ms",
                desc=desc,
                retry=retry,
                max_retries=max_retries,
                delay_ms=round(delay_s * 1000, 1),
            )
            backoff.sleep(delay_s)


class Database:
    """Runs `*_txn(conn, ...)` functions on the database thread pool; results come back as Deferreds."""

    def __init__(
        self,
        reactor: IReactorFromThreads | None,  # None: run_sync only (start-up and CLI tools)
        engine: Engine,
        threads: int = 1,
        max_retries: int = 3,
        *,
        backoff: RetryBackoff = DEFAULT_BACKOFF,
    ) -> None:
        self.reactor = reactor
        self.engine = engine
        self.max_retries = max_retries
        self.backoff = backoff
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
        return deferToThreadPool(self.reactor, self._pool, self._run, desc, fn, *args)

    def run_outside_transaction(self, desc: str, fn: Callable[[Engine], T]) -> Deferred:
        """`fn(engine)` on the database thread, not in a transaction: for what SQLite cannot do
        inside one (a WAL checkpoint). No retries: the caller runs it again later."""
        return deferToThreadPool(self.reactor, self._pool, fn, self.engine)

    def _run(self, desc: str, fn: Callable[..., T], *args: Any) -> T:
        return run_in_transaction(
            self.engine, self.max_retries, desc, fn, *args, backoff=self.backoff
        )

    def run_sync(self, desc: str, fn: Callable[[Connection], T], *args: Any) -> T:
        """For start-up and CLI tools only (blocks the caller)."""
        return self._run(desc, fn, *args)


class InlineDatabase(Database):
    """Same interface, runs in the caller's thread: deterministic tests with task.Clock. Retries do
    not sleep unless given a backoff (the caller's thread may be the reactor's)."""

    def __init__(
        self, engine: Engine, max_retries: int = 0, backoff: RetryBackoff = NO_BACKOFF
    ) -> None:
        self.engine = engine
        self.max_retries = max_retries
        self.backoff = backoff
        self.calls: list[str] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.engine.dispose()

    def run_interaction(self, desc: str, fn: Callable[..., T], *args: Any) -> Deferred:
        self.calls.append(desc)
        try:
            return succeed(self._run(desc, fn, *args))
        except Exception:
            return fail()

    def run_outside_transaction(self, desc: str, fn: Callable[[Engine], T]) -> Deferred:
        self.calls.append(desc)
        try:
            return succeed(fn(self.engine))
        except Exception:
            return fail()
