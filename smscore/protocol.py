"""Twisted glue for a Session: the transport, the timers and a flow-controlled send queue.

`SMPPProtocol` is the common base of the ESME side (smscore.esme) and the SMSC side (smscore.smsc).
It owns no policy: subclasses answer requests in `handle_request`. Time comes from the reactor passed in
(an IReactorTime; tests pass `twisted.internet.task.Clock`).
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from smscore import pdu_trace
from smscore.errors import SMPPError
from smscore.pdu import PDU, Unbind
from smscore.pdu_counts import PduCounts
from smscore.ratelimit import TokenBucket
from smscore.session import (
    Bound,
    Event,
    MustClose,
    ProtocolViolation,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    Role,
    Session,
    SessionTimers,
    State,
    Unbound,
)
from smscore.status import CommandStatus

_RETRY_LATER = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
_THROTTLE_BACKOFF_FACTOR = 2  # each throttled round waits twice as long as the one before


class ResponseTimeout(SMPPError):
    """No response arrived within response_timeout_s; the peer may or may not have acted on it."""

    def __init__(self, request: PDU) -> None:
        super().__init__(f"{request.name} #{request.sequence_number} got no response in time")
        self.request = request


class ConnectionLostError(SMPPError):
    """The connection closed while the request was in flight; its outcome is unknown."""


class NotSent(SMPPError):
    """The request never left the queue (connection closed first); it is safe to send elsewhere."""


class QueueFull(SMPPError):
    """The send queue is at max_queued; slow down."""


@dataclass(frozen=True, slots=True)
class FlowControl:
    """How fast a bind may send: TPS limit, queue bound, and backoff when the peer says slow down."""

    tps_limit: float | None = None  # None: as fast as the window allows
    # A bound on memory; at the simulator's ~10,000 PDUs/s a full queue drains in about a second.
    max_queued: int = 10_000
    # ESME_RTHROTTLED / ESME_RMSGQFUL: pause half a second, doubling per throttled round up to
    # 30 s (the enquire_link interval: longer and the link looks idle), and give a PDU up after 8
    # retries (about a minute and a half of being throttled).
    throttle_backoff_initial_s: float = 0.5
    throttle_backoff_max_s: float = 30.0
    max_throttle_retries: int = 8

    def __post_init__(self) -> None:
        if self.tps_limit is not None and self.tps_limit <= 0:
            raise ValueError("tps_limit must be positive (or None for no limit)")
        if self.max_queued < 1 or self.max_throttle_retries < 0:
            raise ValueError("max_queued must be >= 1 and max_throttle_retries >= 0")
        if not 0 < self.throttle_backoff_initial_s <= self.throttle_backoff_max_s:
            raise ValueError("need 0 < throttle_backoff_initial_s <= throttle_backoff_max_s")


@dataclass(slots=True)
class _Queued:
    pdu: PDU
    deferred: Deferred
    retries: int = 0


class SMPPProtocol(Protocol):
    """Drives a Session from a Twisted transport. Subclasses set `role` and answer requests."""

    role: ClassVar[Role]
    log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        timers: SessionTimers | None = None,
        flow: FlowControl | None = None,
        counts: PduCounts | None = None,  # kept across connections by whoever reconnects
    ) -> None:
        self.reactor = reactor
        self.timers = timers or SessionTimers()
        self.flow = flow or FlowControl()
        self.counts = counts if counts is not None else PduCounts()
        self.session = Session(self.role, self.timers, now_s=reactor.seconds(), counts=self.counts)
        self._waiting: dict[int, Deferred] = {}
        self._queue: deque[_Queued] = deque()
        self._bucket = (
            TokenBucket(self.flow.tps_limit, now_s=reactor.seconds())
            if self.flow.tps_limit
            else None
        )
        self._session_timer: IDelayedCall | None = None
        self._pump_timer: IDelayedCall | None = None
        self._paused_until_s = 0.0
        self._backoff_s = self.flow.throttle_backoff_initial_s
        self.connected_at_s: float | None = None
        self.connection_lost = False
        self.close_reason = ""  # why the link closed: the session's MustClose, else the transport's

    # --- hooks for subclasses ---

    def handle_request(self, pdu: PDU) -> PDU | Deferred | None:
        """Answer a request from the peer: a response PDU, a Deferred of one, or None (no answer)."""
        return pdu.make_response(CommandStatus.ESME_RINVCMDID)

    def on_bound(self, event: Bound) -> None:
        """The session reached a bound state."""

    def on_closed(self, reason: Failure) -> None:
        """The connection is gone (after every waiting Deferred has failed)."""

    def failed_request_status(self) -> int:
        """What to answer when handle_request raised: a temporary error, so the peer retries."""
        return CommandStatus.ESME_RSYSERR

    # --- Protocol interface ---

    def connectionMade(self) -> None:
        self.connected_at_s = self.reactor.seconds()
        self.session = Session(
            self.role, self.timers, now_s=self.connected_at_s, counts=self.counts
        )
        self._reschedule()

    def dataReceived(self, data: bytes) -> None:
        now_s = self.reactor.seconds()
        session = self.session
        session.feed(data)
        # PDU by PDU: a request answered at once is answered before an unbind later in the same
        # chunk closes the session (its answer would otherwise be dropped unsent).
        while (events := session.next_events(now_s)) is not None:
            for event in events:
                self._EVENT_HANDLERS[type(event)](self, event)
        self._flush()
        self._after_dispatch()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.connection_lost = True
        self._cancel_timers()
        why = reason.getErrorMessage() if reason is not None else "unknown reason"
        self.close_reason = self.close_reason or why
        for request in self.session.abandon_outstanding():
            waiter = self._waiting.pop(request.sequence_number, None)
            if waiter is not None:  # say why: a TLS refusal or a reset must reach the operator
                _fail(
                    waiter,
                    ConnectionLostError(f"{request.name} in flight when the link closed: {why}"),
                )
        self.session.close()
        queued, self._queue = self._queue, deque()
        for item in queued:
            item.deferred.errback(NotSent(f"{item.pdu.name} was queued when the link closed"))
        self.on_closed(reason)

    # --- sending ---

    def send_request(self, pdu: PDU) -> Deferred:
        """Send a request now (no queue, no flow control): bind, unbind, query. Fires with the response."""
        waiter: Deferred = Deferred()
        self._send_tracked(pdu, waiter)
        if pdu.response_class is None:
            waiter.callback(None)
        return waiter

    def _send_tracked(self, pdu: PDU, waiter: "Deferred | _Queued") -> None:
        """Send a request; its response goes to `waiter` (a queued item is answered directly)."""
        now_s = self.reactor.seconds()
        self._trace("out", pdu)
        self.session.send(pdu, now_s)
        if pdu.response_class is not None:
            self._waiting[pdu.sequence_number] = waiter
        self._flush()
        self._reschedule(now_s + self.timers.response_timeout_s)

    def send_response(self, pdu: PDU) -> None:
        if self.session.state is State.CLOSED or self.transport is None:
            return
        self._trace("out", pdu)
        self.session.send(pdu, self.reactor.seconds())
        self._flush()

    def enqueue(self, pdu: PDU) -> Deferred:
        """Send with flow control: window, TPS limit, backoff and retry on THROTTLED/MSGQFUL.

        Fires with the final response (any status) or fails with ResponseTimeout, ConnectionLostError
        or NotSent.
        """
        if self.connection_lost:  # nothing would ever send or fail it
            return fail(NotSent(f"{pdu.name}: the link is closed"))
        if len(self._queue) >= self.flow.max_queued:
            raise QueueFull(f"{len(self._queue)} PDUs already queued on this bind")
        item = _Queued(pdu, Deferred())
        self._queue.append(item)
        self._pump()
        return item.deferred

    @property
    def queued_count(self) -> int:
        return len(self._queue)

    def unbind(self) -> Deferred:
        return self.send_request(Unbind())

    def _pump(self) -> None:
        if self._pump_timer is not None and self._pump_timer.active():
            return
        now_s = self.reactor.seconds()
        session = self.session
        while self._queue and session.window_available > 0:
            if not session.can_send(self._queue[0].pdu.command_id):
                return  # not bound yet: on_bound pumps again
            if now_s < self._paused_until_s:
                return self._pump_later(self._paused_until_s - now_s)
            if self._bucket is not None and not self._bucket.try_take(now_s):
                return self._pump_later(self._bucket.wait_s(now_s))
            item = self._queue.popleft()
            try:
                self._send_tracked(item.pdu, item)
            except SMPPError:  # e.g. a field the codec refuses: fail this one, keep pumping
                item.deferred.errback(Failure())

    def _pump_later(self, delay_s: float) -> None:
        self._pump_timer = self.reactor.callLater(max(delay_s, 0.0), self._pump_now)

    def _pump_now(self) -> None:
        self._pump_timer = None
        self._pump()

    def _on_queued_response(self, response: PDU, item: _Queued) -> None:
        status = response.command_status
        if status in _RETRY_LATER and item.retries < self.flow.max_throttle_retries:
            item.retries += 1
            self.counts.throttled += 1
            self._queue.appendleft(item)
            now_s = self.reactor.seconds()
            # A window of requests throttled together is one event: back off once, not per response.
            if now_s >= self._paused_until_s:
                self.counts.throttle_pauses += 1
                self._paused_until_s = now_s + self._backoff_s
                self._backoff_s = min(
                    self._backoff_s * _THROTTLE_BACKOFF_FACTOR, self.flow.throttle_backoff_max_s
                )
        else:
            if status == 0:
                self._backoff_s = self.flow.throttle_backoff_initial_s
            item.deferred.callback(response)
        self._pump()

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            handler = self._EVENT_HANDLERS[type(event)]
            handler(self, event)
        self._after_dispatch()

    def _after_dispatch(self) -> None:
        self._reschedule()
        if self._queue:
            self._pump()

    def _trace(self, direction: str, pdu: PDU) -> None:
        if pdu_trace.enabled:  # debug only; the hex never holds a bind password (pdu_trace)
            self.log.debug(
                "{direction} {command} #{sequence}: {hex}", direction=direction,
                command=pdu.name, sequence=pdu.sequence_number, hex=pdu_trace.pdu_hex(pdu),
            )  # fmt: skip

    def _on_request_received(self, event: RequestReceived) -> None:
        pdu = event.pdu
        self._trace("in", pdu)
        try:
            result = self.handle_request(pdu)
        except Exception:
            result = fail()
        if isinstance(result, Deferred):
            result.addErrback(self._request_failed, pdu)
            result.addCallback(self._respond)
            result.addErrback(self._response_failed, pdu)
            return
        # The common case, an answer at once: no Deferred per request.
        try:
            self._respond(result)
        except Exception:
            self._response_failed(Failure(), pdu)

    def _response_failed(self, failure: Failure, pdu: PDU) -> None:
        # The handler's answer could not be sent (e.g. a field over its limit): the peer must still
        # get an answer, or it waits for a response timeout and may retry a done request.
        self.log.failure("answering {name} failed", failure, name=pdu.name)
        if pdu.response_class is not None:
            self.send_response(pdu.make_response(CommandStatus.ESME_RSYSERR))

    def _request_failed(self, failure: Failure, pdu: PDU) -> PDU | None:
        self.log.failure("handling {name} failed", failure, name=pdu.name)
        if pdu.response_class is None:
            return None
        return pdu.make_response(self.failed_request_status())

    def _respond(self, response: PDU | None) -> None:
        if response is not None:
            self.send_response(response)

    def _on_response_received(self, event: ResponseReceived) -> None:
        self._trace("in", event.response)
        waiter = self._waiting.pop(event.request.sequence_number, None)
        if type(waiter) is _Queued:
            self._on_queued_response(event.response, waiter)
        elif waiter is not None:
            waiter.callback(event.response)

    def _on_request_timed_out(self, event: RequestTimedOut) -> None:
        waiter = self._waiting.pop(event.request.sequence_number, None)
        if waiter is not None:
            _fail(waiter, ResponseTimeout(event.request))

    def _on_bound_event(self, event: Bound) -> None:
        self.restart_session_timer()
        self.on_bound(event)

    def _on_unbound(self, event: Unbound) -> None:
        self.log.info("unbound (by peer: {by_peer})", by_peer=event.by_peer)

    def _on_violation(self, event: ProtocolViolation) -> None:
        self.log.warn(
            "SMPP protocol violation by peer: {description}", description=event.description
        )

    def _on_must_close(self, event: MustClose) -> None:
        self.log.info("closing SMPP connection: {reason}", reason=event.reason)
        self.close_reason = self.close_reason or event.reason
        if self.transport is not None:
            self._flush()  # the session's last answers (an unbind_resp, a generic_nack) go first
            self.transport.loseConnection()

    _EVENT_HANDLERS: ClassVar[dict[type, Callable[[Any, Any], None]]] = {
        RequestReceived: _on_request_received,
        ResponseReceived: _on_response_received,
        RequestTimedOut: _on_request_timed_out,
        Bound: _on_bound_event,
        Unbound: _on_unbound,
        ProtocolViolation: _on_violation,
        MustClose: _on_must_close,
    }

    # --- timers ---

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def restart_session_timer(self) -> None:
        """Becoming bound starts the idle (enquire_link) deadline, which may be earlier than the
        running timer: the one change that moves a deadline earlier without a send."""
        if self._session_timer is not None and self._session_timer.active():
            self._session_timer.cancel()
        self._session_timer = None
        self._reschedule()

    def _reschedule(self, new_deadline_s: float | None = None) -> None:
        """Keep one timer at (or before) the session's next deadline.

        Deadlines only move later, except when we send a request (`new_deadline_s`); a timer that
        fires early just reschedules itself. So a running timer is kept without asking the session.
        """
        timer = self._session_timer
        if timer is not None and timer.active():
            if new_deadline_s is None or timer.getTime() <= new_deadline_s:
                return
            timer.cancel()
        deadline_s = self.session.next_deadline_s()
        if deadline_s is None:
            return
        delay_s = max(0.0, deadline_s - self.reactor.seconds())
        self._session_timer = self.reactor.callLater(delay_s, self._on_session_timer)

    def _on_session_timer(self) -> None:
        self._session_timer = None
        events = self.session.tick(self.reactor.seconds())
        self._flush()
        self._dispatch(events)

    def _cancel_timers(self) -> None:
        for timer in (self._session_timer, self._pump_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._session_timer = self._pump_timer = None


def _fail(waiter: "Deferred | _Queued", error: Exception) -> None:
    deferred = waiter.deferred if type(waiter) is _Queued else waiter
    deferred.errback(error)
