"""The SMSC side: accepts binds through a caller-supplied authenticator, answers ESME requests
through a caller-supplied handler, and delivers deliver_sm / data_sm with flow control."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from smscore.constants import INTERFACE_VERSION_34
from smscore.pdu import PDU
from smscore.protocol import FlowControl, SMPPProtocol
from smscore.session import BIND_STATES, Bound, Role, SessionTimers, State
from smscore.status import CommandStatus

# Called with the bind PDU and the peer's address text; returns a command_status (or a Deferred of one).
Authenticator = Callable[[PDU, str], int | Deferred]


class RequestHandler(TypingProtocol):
    """Answers what a bound ESME sends (submit_sm, query_sm, ...): a response PDU or a Deferred of one."""

    def __call__(self, protocol: "SMSCProtocol", pdu: PDU) -> PDU | Deferred | None: ...


def reject_everything(protocol: "SMSCProtocol", pdu: PDU) -> PDU | None:
    return pdu.make_response(CommandStatus.ESME_RINVCMDID) if pdu.response_class else None


@dataclass(frozen=True, slots=True)
class SMSCConfig:
    system_id: str = "SMSCORE"
    timers: SessionTimers = field(default_factory=SessionTimers)
    flow: FlowControl = field(default_factory=FlowControl)


class SMSCProtocol(SMPPProtocol):
    role = Role.SMSC

    def __init__(self, factory: "SMSCFactory") -> None:
        super().__init__(factory.reactor, factory.config.timers, factory.config.flow)
        self.factory = factory
        self.system_id = ""  # the ESME's, once bound

    @property
    def peer_text(self) -> str:
        peer = self.transport.getPeer() if self.transport is not None else None
        return f"{peer.host}:{peer.port}" if peer is not None and hasattr(peer, "host") else "?"

    def handle_request(self, pdu: PDU) -> PDU | Deferred | None:
        if pdu.command_id in BIND_STATES:
            return self._authenticate(pdu)
        return self.factory.handler(self, pdu)

    def _authenticate(self, bind: PDU) -> Deferred:
        result = maybeDeferred(self.factory.authenticator, bind, self.peer_text)
        return result.addCallback(self._bind_response, bind)

    def _bind_response(self, status: int, bind: PDU) -> PDU:
        response = bind.make_response(status, system_id=self.factory.config.system_id)
        if status == CommandStatus.ESME_ROK:
            response.tlvs["sc_interface_version"] = INTERFACE_VERSION_34
            response.system_id = self.factory.config.system_id
            self.system_id = bind.system_id
        else:
            response.system_id = ""
        return response

    def send_response(self, pdu: PDU) -> None:
        was_bound = self.session.is_bound
        super().send_response(pdu)
        if not was_bound and self.session.is_bound:
            self.restart_session_timer()
            self.on_bound(Bound(self.session.state, self.system_id))

    def on_bound(self, event: Bound) -> None:
        self.factory.bound_protocols.append(self)
        self.factory.on_bind(self)

    def on_closed(self, reason: Failure) -> None:
        if self in self.factory.bound_protocols:
            self.factory.bound_protocols.remove(self)
            self.factory.on_unbind(self)

    def deliver(self, pdu: PDU) -> Deferred:
        """Queue a deliver_sm / data_sm to this ESME; fires with its response."""
        return self.enqueue(pdu)

    def failed_request_status(self) -> int:
        return CommandStatus.ESME_RSYSERR


class SMSCFactory(Factory):
    """Accepts ESME connections; `bound_protocols` lists the sessions currently bound."""

    protocol = SMSCProtocol
    noisy = False  # no "Starting factory <... at 0x...>" line at info for every link or port

    def __init__(
        self,
        reactor: IReactorTime,
        authenticator: Authenticator,
        handler: RequestHandler = reject_everything,
        config: SMSCConfig | None = None,
    ) -> None:
        self.reactor = reactor
        self.authenticator = authenticator
        self.handler = handler
        self.config = config or SMSCConfig()
        self.bound_protocols: list[SMSCProtocol] = []

    def buildProtocol(self, addr: object) -> SMSCProtocol:
        return SMSCProtocol(self)

    def on_bind(self, protocol: SMSCProtocol) -> None:
        """Hook: an ESME finished binding."""

    def on_unbind(self, protocol: SMSCProtocol) -> None:
        """Hook: a bound ESME went away."""

    def receivers(self, system_id: str | None = None) -> list[SMSCProtocol]:
        """Bound sessions that may receive deliver_sm (rx or trx), optionally of one system_id.

        A session whose connection is lost is not one, although it stays listed until its
        connectionLost has failed every waiting Deferred: a caller that re-sends from those
        errbacks must not pick the dead link again (that looped until RecursionError)."""
        return [
            protocol
            for protocol in self.bound_protocols
            if protocol.session.state in (State.BOUND_RX, State.BOUND_TRX)
            and not protocol.connection_lost
            and (system_id is None or protocol.system_id == system_id)
        ]
