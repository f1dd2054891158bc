"""The ESME side: binds to an SMSC, submits with flow control, receives deliver_sm / data_sm."""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from smscore.constants import CommandId as C
from smscore.errors import SMPPError
from smscore.pdu import (
    PASSWORD_LENGTH,
    PDU,
    SYSTEM_ID_LENGTH,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
)
from smscore.pdu_counts import PduCounts
from smscore.protocol import FlowControl, SMPPProtocol
from smscore.session import Bound, Role, SessionTimers
from smscore.status import CommandStatus


class BindType(Enum):
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def pdu_class(self) -> type[PDU]:
        return {
            BindType.TRANSMITTER: BindTransmitter,
            BindType.RECEIVER: BindReceiver,
            BindType.TRANSCEIVER: BindTransceiver,
        }[self]

    @property
    def can_submit(self) -> bool:
        return self is not BindType.RECEIVER


class BindError(SMPPError):
    """The SMSC refused the bind (wrong credentials, too many binds, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {CommandStatus.describe(status)}")
        self.status = status


@dataclass(frozen=True, slots=True)
class ESMEConfig:
    """What an ESME needs to bind; timers and flow control are validated when this is built."""

    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    bind_type: BindType = BindType.TRANSCEIVER
    address_range: str = ""
    addr_ton: int = 0
    addr_npi: int = 0
    timers: SessionTimers = field(default_factory=SessionTimers)
    flow: FlowControl = field(default_factory=FlowControl)

    def __post_init__(self) -> None:
        if not 0 < len(self.system_id) < SYSTEM_ID_LENGTH:
            raise ValueError(f"system_id must have 1..{SYSTEM_ID_LENGTH - 1} characters")
        if len(self.password) >= PASSWORD_LENGTH:
            raise ValueError(
                f"password must have at most {PASSWORD_LENGTH - 1} characters (SMPP 3.4 limit)"
            )

    def bind_pdu(self) -> PDU:
        return self.bind_type.pdu_class(
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            addr_ton=self.addr_ton,
            addr_npi=self.addr_npi,
            address_range=self.address_range,
        )


# Called with each deliver_sm / data_sm; returns the command_status to answer (or a Deferred of it).
# Returning ESME_ROK promises the message is safe: the daemon answers only after a durable write.
MessageHandler = Callable[[PDU], int | Deferred]


def _accept_and_drop(pdu: PDU) -> int:
    return CommandStatus.ESME_ROK


class ESMEProtocol(SMPPProtocol):
    """Binds on connect; `when_bound` fires with the protocol once bound or fails with BindError."""

    role = Role.ESME

    def __init__(
        self,
        reactor: IReactorTime,
        config: ESMEConfig,
        on_message: MessageHandler = _accept_and_drop,
        counts: PduCounts | None = None,
    ) -> None:
        super().__init__(reactor, config.timers, config.flow, counts)
        self.config = config
        self.on_message = on_message
        self.when_bound: Deferred = Deferred()
        self.when_closed: Deferred = Deferred()

    def connectionMade(self) -> None:
        super().connectionMade()
        self.send_request(self.config.bind_pdu()).addCallbacks(
            self._on_bind_response, self._on_bind_failure
        )

    def _on_bind_response(self, response: PDU) -> None:
        if response.command_status != CommandStatus.ESME_ROK:
            self._on_bind_failure(Failure(BindError(response.command_status)))

    def _on_bind_failure(self, failure: Failure) -> None:
        if not self.when_bound.called:
            self.when_bound.errback(failure)
        if self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        # Before the in-flight bind is failed with a bare "link closed": a refused TLS handshake
        # must reach the operator as what it is (tls.refusal), not as a lost connection.
        if reason is not None and not self.when_bound.called:
            refused = _tls_refusal(self.transport, reason)
            if refused is not None:
                self.close_reason = str(refused)
                self.when_bound.errback(Failure(refused))
        super().connectionLost(reason)

    def on_bound(self, event: Bound) -> None:
        if not self.when_bound.called:
            self.when_bound.callback(self)

    def on_closed(self, reason: Failure) -> None:
        if not self.when_bound.called:
            self.when_bound.errback(reason)
        self.when_closed.callback(None)

    def submit(self, pdu: PDU) -> Deferred:
        """Queue a submit_sm / submit_multi / data_sm; fires with the SMSC's response PDU."""
        if not self.config.bind_type.can_submit:
            raise SMPPError("a receiver bind cannot submit")
        return self.enqueue(pdu)

    def handle_request(self, pdu: PDU) -> PDU | Deferred | None:
        if pdu.command_id in (C.DELIVER_SM, C.DATA_SM):
            result = self.on_message(pdu)
            if isinstance(result, Deferred):
                return result.addCallback(lambda status: pdu.make_response(status))
            return pdu.make_response(result)
        if pdu.command_id == C.ALERT_NOTIFICATION:
            # The SMSC's delivery pending flag fired (SMPP 3.4 4.12); no response exists for it.
            self.log.info(
                "alert_notification: {addr} is available again for {esme_addr}"
                " (ms_availability_status {status})",
                addr=pdu.source_addr,
                esme_addr=pdu.esme_addr,
                status=pdu.tlvs.get("ms_availability_status", 0),
            )
            return None
        return pdu.make_response(CommandStatus.ESME_RINVCMDID)

    def failed_request_status(self) -> int:
        # The message is not stored: a temporary error makes the SMSC deliver it again later.
        return CommandStatus.ESME_RX_T_APPN


def _tls_refusal(transport: object, reason: Failure) -> Exception | None:
    if not hasattr(transport, "getHandle"):
        return None
    from smscore.tls import refusal

    peer = transport.getPeer() if hasattr(transport, "getPeer") else None
    where = f"{peer.host}:{peer.port}" if hasattr(peer, "host") else "the SMSC"
    try:
        handle = transport.getHandle()  # the OpenSSL connection, when TLS wraps the link
    except Exception:  # a transport without one; the refusal is then described without it
        handle = None
    return refusal(reason, where, handle)


class ESMEFactory(Factory):
    """Builds ESMEProtocols sharing one config and message handler."""

    noisy = False  # no "Starting factory <... at 0x...>" line at info for every link or port

    def __init__(
        self,
        reactor: IReactorTime,
        config: ESMEConfig,
        on_message: MessageHandler = _accept_and_drop,
    ) -> None:
        self.reactor = reactor
        self.config = config
        self.on_message = on_message

    def buildProtocol(self, addr: object) -> ESMEProtocol:
        protocol = ESMEProtocol(self.reactor, self.config, self.on_message)
        protocol.factory = self
        return protocol
