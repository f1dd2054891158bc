"""The TranProc service: runs daemon.tranproc's batches on the database thread, when woken after an
inbox commit (wakes coalesce), every poll_interval_s otherwise, and at once again after a full batch.

Who wakes it: on SQLite the LIS of the same process (InboxWriter.on_committed). On PostgreSQL the
LIS may be another process: the TranProc also LISTENs (daemon.pg_notify, a thread of its own) for
the NOTIFY the inbox transaction sends at its commit, and its poll slows to the fallback
pg_notify.FALLBACK_POLL_S (or poll_interval_s, if longer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import clock
from daemon.commands.registry import Registry
from daemon.config import Config
from daemon.db import Database, InlineDatabase
from daemon.deferreds import when_done
from daemon.pg_notify import FALLBACK_POLL_S, InboxListener, conninfo
from daemon.subscribers import PinHasher
from daemon.tranproc import BatchResult, TranProcEnv, error_reason, process_batch_txn

log = Logger()

# (the batch's result, or None when its transaction failed; seconds from dispatch to answer, on
# the reactor's clock: waiting for the database thread and the commit included)
BatchObserver = Callable[[BatchResult | None, float], None]


@dataclass(slots=True)
class TranProcStats:
    batches: int = 0
    done: int = 0
    failed: int = 0
    rejected: int = 0
    repeats: int = 0  # MOs that came again within the dedupe window (all of them answered)
    replayed: int = 0  # repeats of a command with side effects: first reply sent again, not run
    errors: int = 0  # batches whose transaction failed (retried later)
    last_batch_ms: float = 0.0
    last_error: str | None = None


class TranProc:
    """Runs process_batch_txn on the database thread, woken by the LIS or by its poll timer."""

    def __init__(
        self,
        reactor: IReactorTime,
        db: Database,
        registry: Registry,
        config: Config,
        hasher: PinHasher,
        *,
        on_batch: Callable[[BatchResult], None] | None = None,
        claim_limit: Callable[[], int] | None = None,
        listen: bool | None = None,
    ) -> None:
        self._reactor = reactor
        self._db = db
        self.env = TranProcEnv.build(registry, config, hasher)
        self.batch_size = config.tranproc.batch_size
        self.poll_interval_s = config.tranproc.poll_interval_s
        self.stats = TranProcStats()
        self._on_batch = on_batch
        self._claim_limit = claim_limit  # how many replies the in-process sender can take now
        self._running = False
        self._in_flight: Deferred | None = None
        self._woken_during_batch = False
        self._timer: IDelayedCall | None = None
        self._timer_delay_s = 0.0
        self._batch_started_s = 0.0
        self.batch_observers: list[BatchObserver] = []  # daemon.metrics: sizes and latencies
        if listen is None:  # PostgreSQL, on a real reactor and database thread (not a test's Clock)
            postgres = db.engine.dialect.name == "postgresql"
            listen = postgres and not isinstance(db, InlineDatabase)
        self.listener: InboxListener | None = None
        if listen:
            self.listener = InboxListener(reactor, conninfo(db.engine), self.wake)
            self.poll_interval_s = max(self.poll_interval_s, FALLBACK_POLL_S)

    def start(self) -> None:
        if not self._running:
            self._running = True
            if self.listener is not None:
                self.listener.start()
            self._schedule(0)

    def stop(self) -> Deferred:
        """Stop polling (and listening); fires when the batch under way (if any) has finished."""
        self._running = False
        self._cancel_timer()
        if self.listener is None:
            return when_done(self._in_flight)
        listening = self.listener.stop()
        return listening.addCallback(lambda _: when_done(self._in_flight))

    def wake(self) -> None:
        """New inbox rows were committed. Many wakes before the next batch make one batch."""
        if not self._running:
            return
        if self._in_flight is not None:
            self._woken_during_batch = True
        else:
            self._schedule(0)

    def _schedule(self, delay_s: float) -> None:
        if self._timer is not None and self._timer.active():
            if self._timer_delay_s <= delay_s:
                return
            self._timer.cancel()
        self._timer_delay_s = delay_s
        self._timer = self._reactor.callLater(delay_s, self._run_batch)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _run_batch(self) -> None:
        self._timer = None
        if not self._running or self._in_flight is not None:
            return
        self._woken_during_batch = False
        self._batch_started_s = self._reactor.seconds()
        claim_replies = self._claim_limit() if self._claim_limit is not None else 0
        d = self._db.run_interaction(
            "tranproc",
            process_batch_txn,
            self.env,
            clock.now_ns(self._reactor),
            self.batch_size,
            claim_replies,
        )
        self._in_flight = d
        d.addCallbacks(self._batch_done, self._batch_failed)
        d.addBoth(self._next)

    def _batch_done(self, result: BatchResult) -> bool:
        stats = self.stats
        stats.batches += 1
        stats.done += result.done
        stats.failed += result.failed
        stats.rejected += result.rejected
        stats.repeats += result.repeats
        stats.replayed += result.replayed
        stats.last_batch_ms = result.elapsed_ms
        self._observe(result)
        if self._on_batch is not None:
            self._on_batch(result)
        return result.full

    def _batch_failed(self, failure: Failure) -> bool:
        self.stats.errors += 1
        self._observe(None)
        self.stats.last_error = error_reason(failure.value)
        log.failure(
            "tranproc batch failed; retrying in {delay_s}s", failure, delay_s=self.poll_interval_s
        )
        return False

    def _observe(self, result: BatchResult | None) -> None:
        took_s = self._reactor.seconds() - self._batch_started_s
        for observer in self.batch_observers:
            observer(result, took_s)

    def _next(self, more_waiting: bool) -> None:
        self._in_flight = None
        if not self._running:
            return
        if more_waiting or self._woken_during_batch:
            self._schedule(0)
        else:
            self._schedule(self.poll_interval_s)
