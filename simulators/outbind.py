"""Outbind (SMPP 3.4 4.1.7): the SMSC connects to an ESME that listens, sends outbind (its
system_id and the password the ESME expects), and the ESME binds back as a receiver on that same
connection. From then on the link is like any other receiver bind: MOs and receipts flow on it.

`Outbinder.outbind(address, password)` makes one attempt (a Deferred of the bound protocol; it
fails OutbindFailed); the configured targets ([[outbind]]) are kept bound: outbound again
`retry_s` after a failure or after their link closes, until `stop()`.
"""

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from simulators.config import OutbindTarget, parse_address
from simulators.server import SimulatorFactory, SimulatorProtocol
from smscore.errors import SMPPError
from smscore.pdu import Outbind
from smscore.session import Bound

CONNECT_TIMEOUT_S = 10
log = Logger()
EndpointFor = Callable[[str], IStreamClientEndpoint]


class OutbindFailed(SMPPError):
    """No bind came back: the ESME could not be reached, refused, or did not bind in time."""


class OutbindingProtocol(SimulatorProtocol):
    """An SMSC link that this side opened: sends outbind first, then waits for the ESME's bind."""

    def __init__(self, factory: SimulatorFactory, outbind: Outbind) -> None:
        super().__init__(factory)
        self.outbind = outbind
        self.bound: Deferred = Deferred()  # fires with self once the ESME bound
        self.closed: Deferred = Deferred()  # fires once the link is gone
        self._timer: IDelayedCall | None = None

    def connectionMade(self) -> None:
        super().connectionMade()
        self.send_request(self.outbind)
        self._timer = self.reactor.callLater(self.timers.response_timeout_s, self._no_bind)

    def _no_bind(self) -> None:
        self._timer = None
        self._fail(f"no bind within {self.timers.response_timeout_s:g}s of the outbind")
        if self.transport is not None:
            self.transport.loseConnection()

    def _fail(self, reason: str) -> None:
        if not self.bound.called:
            self.bound.errback(OutbindFailed(reason))

    def _stop_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def on_bound(self, event: Bound) -> None:
        super().on_bound(event)
        self._stop_timer()
        if not self.bound.called:
            self.bound.callback(self)

    def on_closed(self, reason: Failure) -> None:
        super().on_closed(reason)
        self._stop_timer()
        self._fail(f"the link closed before a bind: {reason.getErrorMessage()}")
        self.closed.callback(None)


class _OneLink(Factory):
    noisy = False  # no "Starting factory <... at 0x...>" line at info for every outbind

    def __init__(self, build: Callable[[], OutbindingProtocol]) -> None:
        self._build = build

    def buildProtocol(self, addr: object) -> OutbindingProtocol:
        return self._build()


class Outbinder:
    """Outbinds on request (the HTTP API) and keeps the configured targets bound."""

    def __init__(
        self,
        reactor: IReactorTime,
        factory: SimulatorFactory,
        targets: tuple[OutbindTarget, ...] = (),
        endpoint_for: EndpointFor | None = None,
    ) -> None:
        self.reactor = reactor
        self.factory = factory
        self.targets = targets
        self.endpoint_for = endpoint_for or self._tcp_endpoint
        self.counters = {"outbinds_sent": 0, "outbind_binds": 0, "outbind_failures": 0}
        self._stopped = False
        self._retries: list[IDelayedCall] = []

    def _tcp_endpoint(self, address: str) -> IStreamClientEndpoint:
        host, port = parse_address(address)
        return TCP4ClientEndpoint(self.reactor, host, port, timeout=CONNECT_TIMEOUT_S)

    def outbind(self, address: str, password: str, system_id: str | None = None) -> Deferred:
        """One outbind to `address`; fires with the bound protocol or fails OutbindFailed."""
        pdu = Outbind(system_id=system_id or self.factory.config.system_id, password=password)
        built: list[OutbindingProtocol] = []

        def build() -> OutbindingProtocol:
            self.factory.counters.connection_opened()
            self.counters["outbinds_sent"] += 1
            built.append(OutbindingProtocol(self.factory, pdu))
            return built[0]

        connected = self.endpoint_for(address).connect(_OneLink(build))
        done = connected.addCallbacks(
            lambda protocol: protocol.bound,
            lambda failure: Failure(
                OutbindFailed(f"cannot connect to {address}: {failure.getErrorMessage()}")
            ),
        )
        return done.addCallbacks(self._bound, self._failed, errbackArgs=(address,))

    def _bound(self, protocol: OutbindingProtocol) -> OutbindingProtocol:
        self.counters["outbind_binds"] += 1
        log.info("outbind: {system_id!r} bound back", system_id=protocol.system_id)
        return protocol

    def _failed(self, failure: Failure, address: str) -> Failure:
        self.counters["outbind_failures"] += 1
        log.warn("outbind to {address} failed: {error}", address=address, error=failure.value)
        return failure

    def start(self) -> None:
        """Outbind to every configured target, and keep doing so."""
        for target in self.targets:
            self._keep(target)

    def _keep(self, target: OutbindTarget) -> None:
        if self._stopped:
            return
        attempt = self.outbind(target.address, target.password, target.system_id)
        attempt.addCallbacks(
            lambda protocol: protocol.closed.addCallback(lambda _: self._again(target)),
            lambda failure: self._again(target),
        )

    def _again(self, target: OutbindTarget) -> None:
        self._retries = [call for call in self._retries if call.active()]
        if not self._stopped:
            self._retries.append(self.reactor.callLater(target.retry_s, self._keep, target))

    def stop(self) -> None:
        self._stopped = True
        for call in self._retries:
            if call.active():
                call.cancel()
        self._retries.clear()
