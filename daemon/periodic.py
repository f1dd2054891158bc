"""A job run in its own database transaction every `interval_s`, on the database thread: again at
once when it reports more work than one run could take (a bounded step was full)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import clock
from daemon.db import Database
from daemon.deferreds import when_done

log = Logger()

# work(conn, now_ns) -> (counts worth logging, full: more is waiting)
PeriodicWork = Callable[[Connection, int], tuple[dict[str, int], bool]]


class Rerun:
    """A job that runs again `interval_s` after each run (at once when the run was full), never
    twice at once; `run_now` (the subclass's) starts one run and calls `_finished` or `_failed`."""

    name = "job"
    interval_s = 1.0

    def __init__(self, reactor: IReactorTime, counters: dict[str, int]) -> None:
        self.reactor = reactor
        self.counters = {"runs": 0, "failures": 0, **counters}
        self.last_error = ""
        self._call: IDelayedCall | None = None
        self._running: Deferred | None = None
        self._started = False

    def start(self) -> None:
        self._started = True
        self._schedule(0)

    def stop(self) -> Deferred:
        self._started = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        return when_done(self._running)

    def run_now(self) -> Deferred:
        raise NotImplementedError

    def _schedule(self, delay_s: float) -> None:
        if self._started and (self._call is None or not self._call.active()):
            self._call = self.reactor.callLater(delay_s, self._tick)

    def _tick(self) -> None:
        self._call = None
        if self._running is None:
            self.run_now()

    def _finished(self, full: bool) -> None:
        self._running = None
        self.counters["runs"] += 1
        self._schedule(0 if full else self.interval_s)

    def _failed(self, failure: Failure) -> Any:
        self._running = None
        self.counters["failures"] += 1
        self.last_error = str(failure.value).splitlines()[0][:200] if str(failure.value) else ""
        log.failure("{name} failed", failure, name=self.name)
        self._schedule(self.interval_s)
        return None


class Periodic(Rerun):
    def __init__(
        self, reactor: IReactorTime, db: Database, name: str, work: PeriodicWork, interval_s: float
    ) -> None:
        super().__init__(reactor, {})
        self.db = db
        self.name = name
        self.work = work
        self.interval_s = interval_s

    def run_now(self) -> Deferred:
        """One run now (tests); fires with its counts."""
        run = self.db.run_interaction(self.name, self.work, clock.now_ns(self.reactor))
        self._running = run
        run.addCallbacks(self._done, self._failed)
        return run

    def _done(self, result: tuple[dict[str, int], bool]) -> dict[str, int]:
        counts, full = result
        for key, value in counts.items():
            self.counters[key] = self.counters.get(key, 0) + value
        if any(counts.values()):
            log.info(
                "{name}: {counts}", name=self.name, counts={k: v for k, v in counts.items() if v}
            )
        self._finished(full)
        return counts
