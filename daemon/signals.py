"""SIGHUP: the reload's plumbing. The signal handler only wakes the reactor; the config file and
the files it names are read in a thread (daemon.reload.prepare_reload), the result applied on the
reactor (Daemon's apply). One reload at a time: a SIGHUP during one makes one more after it; a
SIGHUP once the stop has begun is ignored."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.config import Config, ConfigError
from daemon.reload import ReloadPlan, ReloadRefused, apply_reload, prepare_reload

if TYPE_CHECKING:
    from daemon.service import Daemon

log = Logger()


class HupReload:
    def __init__(
        self, reactor: Any, daemon: Daemon, read_config: Callable[[], Config], where: str
    ) -> None:
        self.reactor = reactor
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
        log.info("reload: SIGHUP: reading {where}", where=self.where)
        pool = self.daemon.pool
        settled = pool.settled() if pool is not None else succeed(None)  # the last one's unbinds
        running = self.daemon.config
        read = settled.addCallback(lambda _: self._in_thread(running))
        read.addCallbacks(self._apply, self._refused)
        read.addBoth(self._done)
        return read

    def _in_thread(self, running: Config) -> Deferred:
        pool = self.reactor.getThreadPool()
        return deferToThreadPool(self.reactor, pool, self._prepare, running)

    def _prepare(self, running: Config) -> ReloadPlan:
        new = self.read_config()
        return prepare_reload(running, new, self.reactor, self.where)

    def _apply(self, plan: ReloadPlan) -> None:
        if self.stopping:
            return
        apply_reload(self.daemon, plan)
        self.reloads += 1
        self.daemon.metrics.count_reload(ok=True)

    def _refused(self, failure: Failure) -> None:
        self.refusals += 1
        self.daemon.metrics.count_reload(ok=False)
        if failure.check(ReloadRefused, ConfigError):
            log.error(
                "reload refused: {error}; the running config stays",
                error=failure.getErrorMessage(),
            )
        else:
            log.failure("reload failed; the running config stays", failure)

    def _done(self, _: object) -> None:
        self._busy = False
        if self._again:
            self._again = False
            self.request()
