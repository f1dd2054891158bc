"""Delivering deliver_sm (MOs, receipts, USSD dialogues) to bound ESMEs, with retries like a real SMSC.

Each delivery waits in a backlog per route until a receiver of that route has room (a bounded number
queued on its bind), is sent with the bind's flow control, and is retried after
`retry_interval_s` when the ESME answers a temporary error, times out, or the link drops, up to
`max_attempts`. A permanent error (ESME_RX_P_APPN, ESME_RX_R_APPN, ...) ends it.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from smscore.constants import CommandId
from smscore.errors import SMPPError
from smscore.pdu import PDU
from smscore.smsc import SMSCFactory, SMSCProtocol
from smscore.status import CommandStatus

Kind = Literal["mo", "dlr", "ussd"]
# Route: the system_ids allowed to receive it, or None for any bound receiver.
Route = tuple[str, ...] | None
_TEMPORARY = frozenset(
    {
        CommandStatus.ESME_RX_T_APPN,
        CommandStatus.ESME_RSYSERR,
        CommandStatus.ESME_RTHROTTLED,
        CommandStatus.ESME_RMSGQFUL,
        CommandStatus.ESME_RUNKNOWNERR,
    }
)


class DeliveryFailed(SMPPError):
    """The ESME refused the deliver_sm for good, or every attempt failed."""


class BacklogFull(SMPPError):
    """Too many deliveries are waiting; the caller must slow down."""


@dataclass(slots=True)
class Delivery:
    pdu: PDU
    route: Route
    kind: Kind
    deferred: Deferred | None = None  # None: nobody waits (bulk MOs); the counters tell the outcome
    attempts: int = 0
    redelivery: bool = False


@dataclass(slots=True)
class DeliveryCounters:
    sent: int = 0
    acknowledged: int = 0
    retried: int = 0
    failed: int = 0
    redelivered: int = 0


class DeliveryQueue:
    """Backlogs per route, pumped into receivers' binds; counters per kind ("mo", "dlr")."""

    def __init__(
        self,
        reactor: IReactorTime,
        factory: SMSCFactory,
        *,
        retry_interval_s: float,
        max_attempts: int,
        max_pending: int,
        per_bind_queue: int,
        should_redeliver: Callable[[], bool],
    ) -> None:
        self.reactor = reactor
        self.factory = factory
        self.retry_interval_s = retry_interval_s
        self.max_attempts = max_attempts
        self.max_pending = max_pending
        self.per_bind_queue = per_bind_queue
        self.should_redeliver = should_redeliver
        self.counters = {kind: DeliveryCounters() for kind in ("mo", "dlr", "ussd")}
        self._backlogs: dict[Route, deque[Delivery]] = {}
        self._pending = 0
        self._turn = 0
        self._pumping = False
        self._pump_again = False

    @property
    def pending(self) -> int:
        """Deliveries not yet acknowledged or given up (waiting, in flight or awaiting retry)."""
        return self._pending

    def deliver(self, pdu: PDU, route: Route, kind: Kind) -> Deferred:
        """Queue a deliver_sm; fires with the response PDU once acknowledged, or fails DeliveryFailed."""
        delivery = self._add(pdu, route, kind, Deferred())
        self.pump()
        return delivery.deferred  # type: ignore[return-value]

    def add_unwatched(self, pdu: PDU, route: Route, kind: Kind) -> None:
        """Queue a deliver_sm nobody waits for (its outcome shows in the counters); call pump()
        once after a batch of these."""
        self._add(pdu, route, kind, None)

    def _add(self, pdu: PDU, route: Route, kind: Kind, deferred: Deferred | None) -> Delivery:
        if self._pending >= self.max_pending:
            raise BacklogFull(f"{self._pending} deliveries already waiting")
        delivery = Delivery(pdu, route, kind, deferred)
        self._pending += 1
        self._backlog(route).append(delivery)
        return delivery

    def _backlog(self, route: Route) -> deque[Delivery]:
        backlog = self._backlogs.get(route)
        if backlog is None:
            backlog = self._backlogs[route] = deque()
        return backlog

    def _enqueue(self, delivery: Delivery, front: bool = False) -> None:
        backlog = self._backlog(delivery.route)
        if front:
            backlog.appendleft(delivery)
        else:
            backlog.append(delivery)
        self.pump()

    def pump(self) -> None:
        """Move waiting deliveries onto binds that have room."""
        if self._pumping:  # called back from a send that failed at once: go round again after
            self._pump_again = True
            return
        self._pumping = True
        try:
            self._pump_again = True
            while self._pump_again:
                self._pump_again = False
                self._pump_once()
        finally:
            self._pumping = False

    def _pump_once(self) -> None:
        # Room per bind is looked up once per pump, then counted down as deliveries go out; the
        # choice among binds with room is the same round robin as asking afresh for each delivery.
        room: dict[SMSCProtocol, int] | None = None
        for route, backlog in list(self._backlogs.items()):
            if not backlog:
                continue
            if room is None:
                room = self._room_per_receiver()
            eligible = [
                protocol
                for protocol, free in room.items()
                if free > 0 and (route is None or protocol.system_id in route)
            ]
            while backlog and eligible:
                self._turn += 1
                receiver = eligible[self._turn % len(eligible)]
                room[receiver] -= 1
                if room[receiver] <= 0:
                    eligible.remove(receiver)
                self._send(backlog.popleft(), receiver)

    def _room_per_receiver(self) -> dict[SMSCProtocol, int]:
        limit = self.per_bind_queue
        return {
            protocol: limit - protocol.queued_count - protocol.session.outstanding_count
            for protocol in self.factory.receivers()
        }

    def _send(self, delivery: Delivery, receiver: SMSCProtocol) -> None:
        delivery.attempts += 1
        self.counters[delivery.kind].sent += 1
        receiver.deliver(delivery.pdu).addCallbacks(
            self._on_response, self._on_failure, callbackArgs=(delivery,), errbackArgs=(delivery,)
        )

    def _on_response(self, response: PDU, delivery: Delivery) -> None:
        status = response.command_status
        if status == CommandStatus.ESME_ROK:
            self._acknowledged(delivery, response)
        elif status in _TEMPORARY or response.command_id == CommandId.GENERIC_NACK:
            self._retry(delivery, CommandStatus.describe(status))
        else:
            self._give_up(delivery, f"refused with {CommandStatus.describe(status)}")
        self.pump()

    def _on_failure(self, failure: Failure, delivery: Delivery) -> None:
        self._retry(delivery, failure.getErrorMessage())
        self.pump()

    def _acknowledged(self, delivery: Delivery, response: PDU) -> None:
        counters = self.counters[delivery.kind]
        if delivery.redelivery:
            return  # a duplicate on purpose: its original was counted
        counters.acknowledged += 1
        self._pending -= 1
        if delivery.deferred is not None:
            delivery.deferred.callback(response)
        # A USSD dialogue step is never sent twice: the network's dialogue moves on (TCAP).
        if delivery.kind != "ussd" and self.should_redeliver():
            counters.redelivered += 1
            duplicate = Delivery(delivery.pdu, delivery.route, delivery.kind, redelivery=True)
            self._enqueue(duplicate)

    def _retry(self, delivery: Delivery, reason: str) -> None:
        if delivery.attempts >= self.max_attempts:
            self._give_up(delivery, f"{delivery.attempts} attempts failed, last: {reason}")
            return
        self.counters[delivery.kind].retried += 1
        self.reactor.callLater(self.retry_interval_s, self._enqueue, delivery, True)

    def _give_up(self, delivery: Delivery, reason: str) -> None:
        if delivery.redelivery:
            return
        self.counters[delivery.kind].failed += 1
        self._pending -= 1
        if delivery.deferred is not None:
            delivery.deferred.errback(DeliveryFailed(reason))
