"""SIGTERM: the drain before the stop, so a restart loses nothing and repeats nothing.

1. The MO gate closes: every deliver_sm from now on (MO or receipt) is answered ESME_RX_T_APPN
   unstored, the "temporary application error" of SMPP 3.4 that an SMSC retries later (Kannel
   answers it while its bearerbox shuts down); what was already accepted is committed (inbox flush).
2. The TranProc finishes the batch in hand (its replies go to the sender) and claims no more: the
   MOs left in the inbox are handled after the restart.
3. The sender claims no more and waits up to `service.drain_timeout_s` for the submit_sm_resp still
   outstanding (a second SIGINT cuts the wait short); what is still unanswered then stays in_flight
   and is re-queued when this process starts again (at-least-once, as after a crash).
4. Then the stop (daemon.service.Daemon.stop): unbind from every SMSC, flush the inbox, stop the
   loops and the database thread; the process exits 0.
Each phase is logged with what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.logger import Logger

from smscore.pdu import PDU
from smscore.status import CommandStatus

if TYPE_CHECKING:
    from daemon.service import Daemon

log = Logger()
DRAINING_STATUS = CommandStatus.ESME_RX_T_APPN  # temporary: the SMSC delivers it again later


class MoGate:
    """In front of every bind's deliver_sm handler: open until the drain closes it."""

    def __init__(self) -> None:
        self.open = True
        self.refused = 0  # deliver_sm answered DRAINING_STATUS since the gate closed

    def close(self) -> None:
        self.open = False

    def guard(self, handler: Callable[[PDU], Any]) -> Callable[[PDU], Any]:
        def guarded(pdu: PDU) -> Any:
            if self.open:
                return handler(pdu)
            self.refused += 1
            return DRAINING_STATUS

        return guarded


@dataclass
class DrainReport:
    refused: int = 0  # deliver_sm answered ESME_RX_T_APPN during the drain
    unanswered: int = 0  # messages still without submit_sm_resp when the wait ended
    elapsed_s: float = 0.0


class Drain:
    """One drain of one daemon; `run()` fires with a DrainReport (never fails)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.report = DrainReport()
        self._started_s = daemon.reactor.seconds()

    def run(self) -> Deferred:
        daemon = self.daemon
        daemon.gate.close()
        waiting = daemon.inbox.waiting_count if daemon.inbox is not None else 0
        log.info(
            "drain 1/4: refusing new MOs with ESME_RX_T_APPN (the SMSC delivers them again "
            "later); committing the {waiting} MO(s) already accepted; the TranProc finishes "
            "its batch in hand",
            waiting=waiting,
        )
        inbox = daemon.inbox
        flushed = maybeDeferred(inbox.flush) if inbox is not None else succeed(None)
        batch = maybeDeferred(daemon.tranproc.stop) if daemon.tranproc else succeed(None)
        both = DeferredList([flushed, batch], consumeErrors=True)
        both.addCallback(self._log_failures)
        both.addCallback(lambda _: self._wait_for_answers())
        both.addCallback(self._answered)
        return both

    def _log_failures(self, results: list[tuple[bool, Any]]) -> None:
        for ok, result in results:
            if not ok:
                log.failure("drain: a step failed; going on with the drain", result)

    def _wait_for_answers(self) -> Deferred:
        sender = self.daemon.sender
        if sender is None:
            return succeed(0)
        timeout_s = self.daemon.config.service.drain_timeout_s
        log.info(
            "drain 2/4: inbox committed, TranProc stopped; waiting up to {timeout_s}s for "
            "{unanswered} message(s) without submit_sm_resp",
            timeout_s=timeout_s,
            unanswered=sender.unanswered,
        )
        return sender.drain(timeout_s)

    def _answered(self, unanswered: int) -> DrainReport:
        daemon = self.daemon
        report = self.report
        report.unanswered = unanswered
        report.refused = daemon.gate.refused
        report.elapsed_s = daemon.reactor.seconds() - self._started_s
        binds = daemon.binds()
        log.info(
            "drain 3/4: {unanswered} message(s) still unanswered (left in_flight, re-queued at "
            "the next start); {refused} deliver_sm refused so far; unbinding from {bound} "
            "bound SMSC(s) of {binds}",
            unanswered=unanswered,
            refused=report.refused,
            bound=sum(bind.is_bound for bind in binds),
            binds=len(binds),
        )
        return report


def log_stopped(report: DrainReport, now_s: float, started_s: float) -> None:
    log.info(
        "drain 4/4: unbound, inbox flushed, stopped after {elapsed_s:.1f}s; {refused} deliver_sm "
        "refused in all, {unanswered} message(s) left unanswered",
        elapsed_s=now_s - started_s,
        refused=report.refused,
        unanswered=report.unanswered,
    )
