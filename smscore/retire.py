"""A bind leaving a running pool (a reload removed it, or changed it and starts it again) is retired
the way a SIGTERM drain retires them all, so nothing that crossed it is lost or done twice:

1. its own MO gate closes: every deliver_sm on it from now on is answered ESME_RX_T_APPN unstored,
   a temporary error, so the SMSC delivers it again (on another bind, or on this one's successor);
2. the deliver_sm it already handed on get their deliver_sm_resp while the link is still up:
   `flush` (the inbox's group commit) is asked to commit now, and the retirement waits until each
   answer is written. Written to a closed link instead, the answer is lost and the SMSC delivers the
   MO again: a second reply, a USSD step applied twice;
3. it takes no new submit_sm (the pool no longer offers it) and the submit_sm_resp still outstanding
   on it are awaited: a submit_sm failed by the unbind is sent again, a duplicate MT;
4. then it unbinds (PersistentBind.stop: unbind, wait for unbind_resp, close).
Steps 2 and 3 wait together, for at most `wait_s` (service.drain_timeout_s); `hurry()` ends the wait
at once (the pool stops: the SIGTERM drain has already waited).
"""

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

log = Logger()
POLL_S = 0.01  # how often a retiring bind is looked at: answers come back within milliseconds


class Retiring(Protocol):
    """What a retirement needs of a bind (smscore.client.PersistentBind)."""

    name: str
    reactor: IReactorTime

    def close_gate(self) -> None: ...

    @property
    def unanswered_mos(self) -> int: ...

    @property
    def unanswered_submits(self) -> int: ...

    def stop(self) -> Deferred: ...


class Retirement:
    """One bind's retirement; `run()` fires once it has stopped (as its stop() fires)."""

    def __init__(
        self, bind: Retiring, wait_s: float, flush: Callable[[], Any] | None = None
    ) -> None:
        self.bind = bind
        self.wait_s = max(0.0, wait_s)
        self.flush = flush
        self._quiet: Deferred = Deferred()
        self._call: IDelayedCall | None = None
        self._deadline_s = 0.0

    def run(self) -> Deferred:
        bind = self.bind
        bind.close_gate()
        if self.flush is not None:
            flushed = maybeDeferred(self.flush)
            flushed.addErrback(
                lambda failure: log.failure("bind {name}: flush", failure, name=bind.name)
            )
        self._deadline_s = bind.reactor.seconds() + self.wait_s
        self._look()
        return self._quiet.addCallback(self._unbind)

    def hurry(self) -> None:
        """Stop waiting: unbind now."""
        self._end()

    def _look(self) -> None:
        self._call = None
        if self._quiet.called:
            return
        bind = self.bind
        left_s = self._deadline_s - bind.reactor.seconds()
        if (bind.unanswered_mos == 0 and bind.unanswered_submits == 0) or left_s <= 0:
            self._end()
            return
        self._call = bind.reactor.callLater(min(POLL_S, left_s), self._look)

    def _end(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if not self._quiet.called:
            self._quiet.callback(None)

    def _unbind(self, _: object) -> Deferred:
        bind = self.bind
        mos, submits = bind.unanswered_mos, bind.unanswered_submits
        if mos or submits:
            log.warn(
                "bind {name} leaving: {mos} deliver_sm still unanswered and {submits} submit_sm "
                "without submit_sm_resp after {wait_s}s; unbinding anyway",
                name=bind.name,
                mos=mos,
                submits=submits,
                wait_s=self.wait_s,
            )
        else:
            log.info(
                "bind {name} leaving: every MO answered, every submit_sm_resp in; unbinding",
                name=bind.name,
            )
        return bind.stop()
