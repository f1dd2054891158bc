"""Persistent ESME binds: reconnect with exponential backoff and jitter, to several SMSCs at once."""

import random
from collections.abc import Callable
from dataclasses import dataclass

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from smscore.errors import SMPPError
from smscore.esme import ESMEConfig, ESMEProtocol, MessageHandler, _accept_and_drop
from smscore.pdu import PDU

log = Logger()


class NoBindAvailable(SMPPError):
    """No bind that may submit is up right now; keep the message queued and try later."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    initial_delay_s: float = 1.0
    max_delay_s: float = 60.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay_s <= self.max_delay_s or self.factor < 1:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s and factor >= 1")


@dataclass(frozen=True, slots=True)
class SMSCAddress:
    host: str
    port: int
    tls: bool = False
    tls_ca_file: str | None = None  # PEM trust root; None means the platform's trust store

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is not a TCP port")


def client_endpoint(reactor: object, address: SMSCAddress) -> IStreamClientEndpoint:
    """A TCP (or TLS over TCP) client endpoint for an SMSC."""
    tcp = HostnameEndpoint(reactor, address.host, address.port)
    if not address.tls:
        return tcp
    from twisted.internet.ssl import Certificate, optionsForClientTLS, platformTrust

    if address.tls_ca_file:
        with open(address.tls_ca_file, "rb") as pem:
            trust = Certificate.loadPEM(pem.read())
    else:
        trust = platformTrust()
    return wrapClientTLS(optionsForClientTLS(address.host, trustRoot=trust), tcp)


@dataclass(slots=True)
class BindCounters:
    connects: int = 0
    binds: int = 0
    bind_failures: int = 0
    messages_received: int = 0
    drops: int = 0  # links lost while bound (not our own unbind); last_error says why


class PersistentBind:
    """One SMSC link that stays bound. `protocol` is the bound ESMEProtocol, or None while down."""

    def __init__(
        self,
        reactor: IReactorTime,
        name: str,
        endpoint: IStreamClientEndpoint,
        config: ESMEConfig,
        on_message: MessageHandler = _accept_and_drop,
        policy: ReconnectPolicy | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.reactor = reactor
        self.name = name
        self.config = config
        self.counters = BindCounters()
        self.protocol: ESMEProtocol | None = None
        self.last_error = ""
        self._on_message = on_message
        self._failed_binds_in_a_row = 0
        policy = policy or ReconnectPolicy()
        backoff = backoffPolicy(
            policy.initial_delay_s, policy.max_delay_s, policy.factor, jitter=jitter
        )
        self._service = ClientService(
            endpoint,
            Factory.forProtocol(self._build_protocol),
            # ClientService counts only failed TCP connects; refused binds must slow us down too.
            retryPolicy=lambda attempt: backoff(max(attempt, self._failed_binds_in_a_row)),
            clock=reactor,
            prepareConnection=self._prepare,
        )

    def _build_protocol(self) -> ESMEProtocol:
        self.counters.connects += 1
        protocol = ESMEProtocol(self.reactor, self.config, self._count_and_handle)
        # Here, not in _prepare: ClientService hands _prepare a proxy, not this protocol.
        protocol.when_closed.addCallback(self._on_closed, protocol)
        return protocol

    def _count_and_handle(self, pdu: PDU) -> int | Deferred:
        self.counters.messages_received += 1
        return self._on_message(pdu)

    def _prepare(self, protocol: ESMEProtocol) -> Deferred:
        # Never fail: ClientService's state machine cannot take a connection that closes before
        # prepareConnection succeeded (automat raises NoTransition out of connectionLost). A refused
        # bind closes its connection and _failed_binds_in_a_row keeps the backoff growing instead.
        return protocol.when_bound.addCallbacks(self._on_bound, self._on_bind_failed)

    def _on_bound(self, protocol: ESMEProtocol) -> ESMEProtocol:
        self.counters.binds += 1
        self._failed_binds_in_a_row = 0
        self.protocol = protocol
        log.info("bind {name} is up ({state})", name=self.name, state=protocol.session.state.value)
        return protocol

    def _on_bind_failed(self, failure: Failure) -> None:
        self.counters.bind_failures += 1
        self._failed_binds_in_a_row += 1
        self.last_error = failure.getErrorMessage()
        log.warn("bind {name} failed: {error}", name=self.name, error=self.last_error)

    def _on_closed(self, _: object, protocol: ESMEProtocol) -> None:
        if self.protocol is protocol:
            self.protocol = None
            if self._service.running:  # not our own stop
                self.counters.drops += 1
                self.last_error = protocol.close_reason
                log.warn("bind {name} is down: {reason}", name=self.name, reason=self.last_error)

    @property
    def is_bound(self) -> bool:
        return self.protocol is not None and self.protocol.session.is_bound

    def start(self) -> None:
        self._service.startService()

    def stop(self) -> Deferred:
        """Unbind politely if bound, then stop reconnecting."""
        if self.is_bound and self.protocol is not None:
            self.protocol.unbind().addErrback(lambda _: None)
        return self._service.stopService()


class BindPool:
    """Several persistent binds; submits go to a preferred bind or the least loaded bound one."""

    def __init__(self, binds: list[PersistentBind]) -> None:
        self.binds = {bind.name: bind for bind in binds}

    def start(self) -> None:
        for bind in self.binds.values():
            bind.start()

    def stop(self) -> Deferred:
        from twisted.internet.defer import gatherResults

        return gatherResults([bind.stop() for bind in self.binds.values()], consumeErrors=True)

    def transmitters(self) -> list[PersistentBind]:
        return [
            bind
            for bind in self.binds.values()
            if bind.is_bound and bind.config.bind_type.can_submit
        ]

    def submit(self, pdu: PDU, prefer: str | None = None) -> Deferred:
        """Submit through `prefer` if it is bound, else the least loaded bind; NoBindAvailable if none."""
        candidates = self.transmitters()
        if not candidates:
            raise NoBindAvailable("no transmitter or transceiver bind is up")
        chosen = next((bind for bind in candidates if bind.name == prefer), None)
        if chosen is None:
            chosen = min(candidates, key=_load)
        assert chosen.protocol is not None
        return chosen.protocol.submit(pdu)


def _load(bind: PersistentBind) -> int:
    protocol = bind.protocol
    return 0 if protocol is None else protocol.queued_count + protocol.session.outstanding_count
