"""The SMPP side of the simulator: SMSCProtocol with fault hooks, and its factory.

The factory is handed what it works with (the fault injector, the link counters, a callback for
new binds); it knows nothing else of the Simulator.
"""

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from simulators.faults import FaultInjector, Verdict
from smscore.pdu import PDU, GenericNack
from smscore.smsc import Authenticator, RequestHandler, SMSCConfig, SMSCFactory, SMSCProtocol


@dataclass(slots=True)
class LinkCounters:
    """What happened on the SMPP links, for Simulator.stats()."""

    connections: int = 0
    bind_refusals: int = 0
    connections_refused: int = 0  # not on the allow-list: closed before any PDU
    bind_lockouts: int = 0  # binds refused because their address failed too many

    def connection_opened(self) -> None:
        self.connections += 1

    def bind_refused(self) -> None:
        self.bind_refusals += 1


class SimulatorProtocol(SMSCProtocol):
    """One ESME connection. Faults may answer instead of the SMSC logic, drop the link or add noise.

    Once `drop()` is called nothing more is processed on this connection, so a request the ESME sees
    fail with ConnectionLostError after a drop was not acted on.
    """

    factory: "SimulatorFactory"

    def __init__(self, factory: "SimulatorFactory") -> None:
        super().__init__(factory)
        self.faults = factory.faults
        self.requests_answered = 0
        self.dropped = False

    def connectionMade(self) -> None:
        super().connectionMade()
        if hasattr(self.transport, "setTcpNoDelay"):
            self.transport.setTcpNoDelay(
                True
            )  # small PDUs, answered at once: Nagle only adds delay
        self.faults.on_connected(self)

    def handle_request(self, pdu: PDU) -> PDU | Deferred | None:
        if self.dropped:
            return None
        if self.faults.active and self.session.is_bound:
            verdict = self.faults.request_verdict(pdu)
            if verdict is not None:
                return self._apply(verdict, pdu)
        result = super().handle_request(pdu)
        if isinstance(result, Deferred):
            return result.addCallback(self._answered)
        return self._answered(result)

    def _apply(self, verdict: Verdict, pdu: PDU) -> PDU | Deferred | None:
        if verdict.kind == "status":
            return self._answered(pdu.make_response(verdict.status))
        if verdict.kind == "nack":
            return self._answered(
                GenericNack(sequence_number=pdu.sequence_number, command_status=verdict.status)
            )
        if verdict.kind == "withhold":
            return None
        response = super().handle_request(pdu)  # processed now, answered later
        return deferLater(self.reactor, verdict.delay_s, lambda: response).addCallback(
            self._answered
        )

    def _answered(self, response: PDU | None) -> None:
        # Answer here (not by returning it) so faults act after the response is on the wire.
        if response is not None and not self.dropped:
            self.send_response(response)
            self.requests_answered += 1
            self.faults.after_answer(self)
        return None

    # --- what faults may do (simulators.faults.Link) ---

    def drop(self) -> None:
        if self.dropped or self.transport is None:
            return
        self.dropped = True
        self.faults.link_dropped()
        self.transport.loseConnection()

    def write_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.dropped:
            self.transport.write(data)


class SimulatorFactory(SMSCFactory):
    protocol = SimulatorProtocol

    def __init__(
        self,
        reactor: IReactorTime,
        authenticator: Authenticator,
        handler: RequestHandler,
        config: SMSCConfig,
        *,
        faults: FaultInjector,
        counters: LinkCounters,
        on_bound: Callable[[], None],
    ) -> None:
        super().__init__(reactor, authenticator, handler, config)
        self.faults = faults
        self.counters = counters
        self.on_bound = on_bound

    def buildProtocol(self, addr: object) -> SimulatorProtocol:
        protocol = SimulatorProtocol(self)
        self.counters.connection_opened()
        return protocol

    def on_bind(self, protocol: SMSCProtocol) -> None:
        self.on_bound()

    def binds_of(self, system_id: str) -> int:
        return sum(1 for protocol in self.bound_protocols if protocol.system_id == system_id)
