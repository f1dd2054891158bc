"""SIGHUP: the reload's plumbing. The signal handler only wakes the reactor; the config file and
the files it names are read in a thread (daemon.reload.prepare_reload), the result applied on the
reactor (Daemon's apply). One reload at a time: a SIGHUP during one makes one more after it; a
SIGHUP once the stop has begun is ignored.

systemd hears of it through sd_notify's reload handshake: RELOADING=1 with MONOTONIC_USEC= when the
SIGHUP is taken, READY=1 with a STATUS= line ("reloaded: ..." or "reload refused: ...") once the
reload is over: applied, its leaving binds retired and its menu stored, or refused. A `Type=notify-
reload` unit (systemd 253 and later) holds `systemctl reload` until then; `systemctl status` shows
a refusal until the next good reload, and so does GET /status ("reload")."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.config import Config, ConfigError
from daemon.reload import (
    ReloadOutcome,
    ReloadPlan,
    ReloadRefused,
    ReloadReport,
    apply_reload,
    prepare_reload,
)

if TYPE_CHECKING:
    from daemon.service import Daemon
    from daemon.systemd_notify import SystemdNotifier

log = Logger()


class HupReload:
    def __init__(
        self,
        reactor: Any,
        daemon: Daemon,
        read_config: Callable[[], Config],
        where: str,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.reactor = reactor
        self.notifier = notifier
        self.daemon = daemon
        self.read_config = read_config  # blocking: called in a thread
        self.where = where
        self.stopping = False
        self._busy = False
        self._again = False
        self.reloads = 0  # applied
        self.refusals = 0

    def on_signal(self, signum: int, frame: object) -> None:
        # From a signal handler: the reactor is woken through its waker, never re-entered.
        self.reactor.callFromThread(self.request)

    def stop(self) -> None:
        self.stopping = True

    def request(self) -> Deferred | None:
        if self.stopping:
            log.info("reload: SIGHUP ignored: the daemon is stopping")
            return None
        if self._busy:
            self._again = True
            return None
        self._busy = True
        if self.notifier is not None:
            self.notifier.reloading()
        log.info("reload: SIGHUP: reading {where}", where=self.where)
        pool = self.daemon.pool
        settled = pool.settled() if pool is not None else succeed(None)  # the last one's unbinds
        running = self.daemon.config
        read = settled.addCallback(lambda _: self._in_thread(running))
        read.addCallbacks(self._apply, self._refused)
        read.addErrback(self._failed)
        read.addBoth(self._done)
        return read

    def _in_thread(self, running: Config) -> Deferred:
        pool = self.reactor.getThreadPool()
        return deferToThreadPool(self.reactor, pool, self._prepare, running)

    def _prepare(self, running: Config) -> ReloadPlan:
        new = self.read_config()
        return prepare_reload(running, new, self.reactor, self.where)

    def _apply(self, plan: ReloadPlan) -> Deferred | None:
        if self.stopping:
            return None
        report = apply_reload(self.daemon, plan)
        self.reloads += 1
        self.daemon.metrics.count_reload(ok=True)
        assert report.finished is not None
        return report.finished.addCallback(self._finished, report)

    def _finished(self, problems: list[str], report: ReloadReport) -> None:
        if problems:  # applied but for that part (a menu version stored with other content)
            self._record("refused", f"{'; '.join(problems)}; the rest was applied")
        else:
            self._record("ok", report.describe())

    def _refused(self, failure: Failure) -> None:
        self.refusals += 1
        self.daemon.metrics.count_reload(ok=False)
        if failure.check(ReloadRefused, ConfigError):
            error = failure.getErrorMessage()
            log.error("reload refused: {error}; the running config stays", error=error)
        else:
            log.failure("reload failed; the running config stays", failure)
            error = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        self._record("refused", error.splitlines()[0] if error else failure.type.__name__)

    def _failed(self, failure: Failure) -> None:
        log.failure("reload: applying failed", failure)
        self._record("refused", f"applying failed: {failure.getErrorMessage()}")

    def _record(self, result: str, detail: str) -> None:
        outcome = ReloadOutcome(result, self.reactor.seconds(), detail)
        self.daemon.last_reload = outcome
        if self.notifier is not None:
            self.notifier.reloaded(outcome.status_text)

    def _done(self, _: object) -> None:
        self._busy = False
        if self._again:
            self._again = False
            self.request()
