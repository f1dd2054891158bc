"""Persistent ESME binds: reconnect with exponential backoff and jitter, to several SMSCs at once."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from twisted.application.internet import ClientService
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IConnector,
    IDelayedCall,
    IHostnameResolver,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from smscore.defaults import (
    DEFAULT_RECONNECT_FACTOR,
    DEFAULT_RECONNECT_INITIAL_DELAY_S,
    DEFAULT_RECONNECT_MAX_DELAY_S,
    DEFAULT_STABLE_LINK_S,
    DEFAULT_UNBIND_TIMEOUT_S,
)
from smscore.errors import SMPPError
from smscore.esme import BindError, ESMEConfig, ESMEProtocol, MessageHandler, _accept_and_drop
from smscore.pdu import PDU
from smscore.pdu_counts import PduCounts
from smscore.retire import Retirement
from smscore.status import CommandStatus

log = Logger()
_MAX_PORT = 0xFFFF  # TCP ports are 16 bits; 0 is not a port one can connect to
# Credentials refused: these wait the longest delay (a quick retry looks like password guessing).
CREDENTIAL_REFUSALS = frozenset({CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID})
# A leaving bind's answer to a new deliver_sm: temporary, so the SMSC delivers it again elsewhere.
LEAVING_STATUS = CommandStatus.ESME_RX_T_APPN


class NoBindAvailable(SMPPError):
    """No bind that may submit is up right now; keep the message queued and try later."""


class ClientReactor(Protocol):
    """The reactor a client endpoint needs, which no one Twisted interface covers: IReactorTCP
    (connectTCP), IReactorTime (timers) and IReactorPluggableNameResolver (HostnameEndpoint resolves
    the host). TLS is layered over TCP by wrapClientTLS, so IReactorSSL is not needed."""

    def connectTCP(
        self, host: str, port: int, factory: Any, timeout: float = ..., bindAddress: Any = ...
    ) -> IConnector: ...

    def callLater(self, delay: float, callable: Any, *args: Any, **kw: Any) -> IDelayedCall: ...

    def seconds(self) -> float: ...

    @property
    def nameResolver(self) -> IHostnameResolver: ...


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """The first retry waits exactly `initial_delay_s`; each next one `factor` times longer plus
    up to a second of jitter (so binds cut at once do not come back at once), never over
    `max_delay_s`."""

    initial_delay_s: float = DEFAULT_RECONNECT_INITIAL_DELAY_S
    max_delay_s: float = DEFAULT_RECONNECT_MAX_DELAY_S
    factor: float = DEFAULT_RECONNECT_FACTOR

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay_s <= self.max_delay_s or self.factor < 1:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s and factor >= 1")

    def delay_s(self, attempt: int, jitter_s: float) -> float:
        """The wait before retry number `attempt` (1 for the first retry)."""
        if attempt <= 1:
            return self.initial_delay_s
        try:
            grown_s = self.initial_delay_s * float(self.factor) ** (attempt - 1)
        except OverflowError:
            grown_s = self.max_delay_s
        return min(grown_s + jitter_s, self.max_delay_s)


@dataclass(frozen=True, slots=True)
class SMSCAddress:
    host: str
    port: int
    tls: bool = False
    tls_ca_file: str | None = None  # PEM trust root; None means the platform's trust store

    def __post_init__(self) -> None:
        if not 0 < self.port <= _MAX_PORT:
            raise ValueError(f"port {self.port} is not a TCP port")


def client_endpoint(reactor: ClientReactor, address: SMSCAddress) -> IStreamClientEndpoint:
    """A TCP (or TLS over TCP) client endpoint for an SMSC."""
    tcp = HostnameEndpoint(reactor, address.host, address.port)
    if not address.tls:
        return tcp
    from smscore.tls import client_options

    ca_file = Path(address.tls_ca_file) if address.tls_ca_file else None
    return wrapClientTLS(client_options(address.host, ca_file), tcp)


@dataclass(slots=True)
class BindCounters:
    connects: int = 0
    binds: int = 0
    bind_failures: int = 0
    messages_received: int = 0
    refused_leaving: int = 0  # deliver_sm answered LEAVING_STATUS once its gate closed
    drops: int = 0  # links lost while bound (not our own unbind); last_error says why


@implementer(IStreamClientEndpoint)
class _ReportingEndpoint:
    """An endpoint that tells its bind why a TCP/TLS connect failed (ClientService only retries)."""

    def __init__(self, inner: IStreamClientEndpoint, on_failure: Callable[[Failure], None]):
        self._inner = inner
        self._on_failure = on_failure

    def connect(self, factory: Any) -> Deferred:
        def failed(failure: Failure) -> Failure:
            self._on_failure(failure)
            return failure

        return self._inner.connect(factory).addErrback(failed)


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
        unbind_timeout_s: float = DEFAULT_UNBIND_TIMEOUT_S,
        stable_after_s: float = DEFAULT_STABLE_LINK_S,
    ) -> None:
        if unbind_timeout_s <= 0 or stable_after_s < 0:
            raise ValueError("unbind_timeout_s must be positive and stable_after_s not negative")
        self.reactor = reactor
        self.name = name
        self.config = config
        self.counters = BindCounters()
        self.pdu_counts = PduCounts()  # every PDU of every connection this bind makes
        self.protocol: ESMEProtocol | None = None
        self.last_error = ""
        self.unbind_timeout_s = unbind_timeout_s
        self.stable_after_s = stable_after_s  # a drop sooner after the bind: a failed attempt
        self._bound_at_s = 0.0
        self._young_drops_in_a_row = 0  # links that dropped soon after binding, one after another
        self._on_message = on_message
        self.accepting = True  # its own MO gate, closed when it leaves the pool (smscore.retire)
        self._answering = 0  # deliver_sm handed on whose deliver_sm_resp is not written yet
        self._failed_binds_in_a_row = 0
        self.refused = ""  # "credentials" or "tls" while the last attempt was refused for that
        self._stopping = False
        self._policy = policy or ReconnectPolicy()
        self._jitter = jitter
        # While a made link's bind is unanswered: that link, and what fires once it is answered.
        self._linking: Any = None
        self._settling: Deferred | None = None
        factory = Factory.forProtocol(self._build_protocol)
        factory.noisy = False  # no "Starting factory <...>" line at info on every (re)connect
        self._service = ClientService(
            _ReportingEndpoint(endpoint, self._on_connect_failed),
            factory,
            retryPolicy=self._retry_delay_s,
            clock=reactor,
            prepareConnection=self._prepare,
        )

    def _retry_delay_s(self, attempt: int) -> float:
        # ClientService counts only failed TCP connects (1 for the first retry); refused binds
        # and links that die soon after their bind (an SMSC that breaks each one) slow us too.
        if self.refused == "credentials":
            return self._policy.max_delay_s
        attempt = max(attempt, self._failed_binds_in_a_row, self._young_drops_in_a_row)
        return self._policy.delay_s(attempt, self._jitter() if attempt > 1 else 0.0)

    def _build_protocol(self) -> ESMEProtocol:
        self.counters.connects += 1
        protocol = ESMEProtocol(self.reactor, self.config, self._count_and_handle, self.pdu_counts)
        # Here, not in _prepare: ClientService hands _prepare a proxy, not this protocol.
        protocol.when_closed.addCallback(self._on_closed, protocol)
        return protocol

    def _count_and_handle(self, pdu: PDU) -> int | Deferred:
        if not self.accepting:
            self.counters.refused_leaving += 1
            return LEAVING_STATUS
        self.counters.messages_received += 1
        result = self._on_message(pdu)
        return self._answered_later(result) if isinstance(result, Deferred) else result

    def _answered_later(self, result: Deferred) -> Deferred:
        # The protocol writes the deliver_sm_resp from callbacks on what we return: the answer
        # counts as given only once they have run (a retirement unbinds only after that).
        self._answering += 1
        answered: Deferred = Deferred()

        def settle(value: object) -> None:
            try:
                if isinstance(value, Failure):
                    answered.errback(value)
                else:
                    answered.callback(value)
            finally:
                self._answering -= 1

        result.addBoth(settle)
        return answered

    def close_gate(self) -> None:
        """Answer every deliver_sm from now on LEAVING_STATUS, unstored (the bind is leaving)."""
        self.accepting = False

    @property
    def unanswered_mos(self) -> int:
        """deliver_sm handed on whose deliver_sm_resp is not written yet."""
        return self._answering

    @property
    def unanswered_submits(self) -> int:
        """Requests sent or queued on this link (submit_sm mostly) still without a response."""
        protocol = self.protocol
        if protocol is None or protocol.connection_lost:
            return 0
        return protocol.queued_count + protocol.session.outstanding_count

    def _prepare(self, protocol: ESMEProtocol) -> Deferred:
        # Never fail: ClientService's state machine cannot take a connection that closes before
        # prepareConnection succeeded (automat raises NoTransition out of connectionLost). A refused
        # bind closes its connection and _failed_binds_in_a_row keeps the backoff growing instead.
        settling = self._settling = Deferred()
        self._linking = protocol

        def settled(result: object) -> object:
            self._linking = None
            settling.callback(None)
            return result

        return protocol.when_bound.addCallbacks(self._on_bound, self._on_bind_failed).addBoth(
            settled
        )

    def _on_bound(self, protocol: ESMEProtocol) -> ESMEProtocol:
        self.counters.binds += 1
        self._failed_binds_in_a_row = 0
        self._bound_at_s = self.reactor.seconds()  # _on_closed judges the link by its life
        self.refused = ""
        self.protocol = protocol
        log.info("bind {name} is up ({state})", name=self.name, state=protocol.session.state.value)
        return protocol

    def _on_connect_failed(self, failure: Failure) -> None:
        error = f"connect failed: {failure.getErrorMessage()}"
        if error != self.last_error:  # ClientService retries forever: say it once per reason
            log.warn("bind {name}: {error}; retrying with backoff", name=self.name, error=error)
        self.last_error = error

    def _on_bind_failed(self, failure: Failure) -> None:
        from smscore.tls import TLSRefused

        self.counters.bind_failures += 1
        self._failed_binds_in_a_row += 1
        self.last_error = failure.getErrorMessage()
        after_credentials, self.refused = self.refused == "credentials", ""
        if (
            after_credentials
            and failure.check(BindError)
            and failure.value.status == CommandStatus.ESME_RBINDFAIL
        ):
            self.refused = "credentials"  # an SMSC's lockout: retrying sooner would only extend it
            log.warn(
                "bind {name} refused ({error}) right after refusals for its credentials: the SMSC "
                "has likely locked this address out; check system_id and the password, it binds "
                "once the lockout ends; next try in {delay_s:.0f}s",
                name=self.name,
                error=self.last_error,
                delay_s=self._policy.max_delay_s,
            )
            return
        if failure.check(BindError) and failure.value.status in CREDENTIAL_REFUSALS:
            self.refused = "credentials"
            log.warn(
                "bind {name} refused for its credentials (system_id {system_id!r}): {error}; "
                "check system_id and the password; next try in {delay_s:.0f}s",
                name=self.name,
                system_id=self.config.system_id,
                error=self.last_error,
                delay_s=self._policy.max_delay_s,
            )
            return
        if failure.check(TLSRefused):
            self.refused = "tls"
        log.warn("bind {name} failed: {error}", name=self.name, error=self.last_error)

    def _on_closed(self, _: object, protocol: ESMEProtocol) -> None:
        if self.protocol is not protocol:
            return
        self.protocol = None
        if self._stopping or not self._service.running:
            log.info("bind {name} stopped", name=self.name)
            return
        self.counters.drops += 1
        self.last_error = protocol.close_reason
        lived_s = self.reactor.seconds() - self._bound_at_s
        young = lived_s < self.stable_after_s
        self._young_drops_in_a_row = self._young_drops_in_a_row + 1 if young else 0
        log.warn(
            "bind {name} is down after {lived_s:.1f}s bound: {reason}; reconnecting with "
            "backoff{young}",
            name=self.name,
            lived_s=lived_s,
            reason=self.last_error,
            young=f" ({self._young_drops_in_a_row} short-lived link(s) in a row)" if young else "",
        )

    @property
    def is_bound(self) -> bool:
        return self.protocol is not None and self.protocol.session.is_bound

    @property
    def state(self) -> str:
        """up, down, refused-credentials or refused-tls (the last attempt's refusal)."""
        if self.is_bound:
            return "up"
        return f"refused-{self.refused}" if self.refused else "down"

    def start(self) -> None:
        self._stopping = False
        self._service.startService()

    def stop(self) -> Deferred:
        """Stop reconnecting; if bound, unbind first and wait for the unbind_resp (at most
        `unbind_timeout_s`), then close. Fires when the connection is closed."""
        self._stopping = True
        if self._settling is not None and not self._settling.called:
            return self._stop_once_answered(self._settling, self._linking)
        protocol = self.protocol
        if protocol is None or not protocol.session.is_bound:
            return self._service.stopService()
        unbound = protocol.unbind()
        unbound.addTimeout(self.unbind_timeout_s, self.reactor)
        unbound.addErrback(self._unbind_failed)
        return unbound.addBoth(lambda _: self._service.stopService())

    def _stop_once_answered(self, settling: Deferred, linking: Any) -> Deferred:
        # ClientService cannot cancel an attempt whose prepareConnection (the bind) is running:
        # automat raises NoTransition out of stop(). So the bind is left to finish (bound: then
        # unbound as usual; refused: closed), its link closed after unbind_timeout_s if unanswered.
        def close() -> None:
            transport = getattr(linking, "transport", None)
            if transport is not None:
                getattr(transport, "abortConnection", transport.loseConnection)()

        timer = self.reactor.callLater(self.unbind_timeout_s, close)
        stopped: Deferred = Deferred()

        def answered(_: object) -> None:
            if timer.active():
                timer.cancel()
            # Next turn: ClientService must first see the attempt's outcome.
            self.reactor.callLater(0, lambda: self.stop().chainDeferred(stopped))

        settling.addCallback(answered)
        return stopped

    def _unbind_failed(self, failure: Failure) -> None:
        log.info(
            "bind {name}: no unbind_resp ({error}); closing anyway",
            name=self.name,
            error=failure.getErrorMessage() or failure.type.__name__,
        )


class BindPool:
    """Several persistent binds; submits go to a preferred bind or the least loaded bound one.

    Binds can be added, removed and replaced while the pool runs; the others are not touched. A
    removed bind is retired (smscore.retire: its MO gate closed, what it took answered, then
    unbound). A replaced one is retired first and its successor started after: an SMSC may allow
    one session per system_id (or count a refused second bind towards a lockout), and two
    sessions of one name would split a USSD dialogue between them. `settled()` fires once no
    removal or replacement is under way."""

    def __init__(self, binds: list[PersistentBind]) -> None:
        self.binds = {bind.name: bind for bind in binds}
        self._running = False
        self._stopped = False
        self._leaving: dict[str, Deferred] = {}  # name -> fires once its old bind has stopped
        self._retiring: dict[str, Retirement] = {}

    def start(self) -> None:
        self._running = True
        for bind in self.binds.values():
            bind.start()

    def stop(self) -> Deferred:
        self._running = False
        self._stopped = True
        for retirement in list(self._retiring.values()):
            retirement.hurry()  # the drain before the stop has already waited for the answers
        stopping = [bind.stop() for bind in self.binds.values()]
        stopping += [_fired(leaving) for leaving in self._leaving.values()]
        return gatherResults(stopping, consumeErrors=True)

    def add(self, bind: PersistentBind) -> None:
        """Take a new bind (started at once if the pool runs); ValueError if the name is taken or
        its predecessor is still leaving."""
        if bind.name in self.binds or bind.name in self._leaving:
            raise ValueError(f"bind {bind.name!r} is already in the pool")
        self.binds[bind.name] = bind
        if self._running:
            bind.start()

    def remove(
        self, name: str, wait_s: float = 0.0, flush: Callable[[], Any] | None = None
    ) -> Deferred:
        """Drop one bind at once (no new submit_sm goes to it) and retire it (smscore.retire:
        waiting at most `wait_s` for its answers, `flush` asked to commit its MOs now); fires once
        its connection is closed."""
        bind = self.binds.pop(name)
        retirement = self._retiring[name] = Retirement(bind, wait_s, flush)
        stopped = _fired(retirement.run().addErrback(self._stop_failed, name))
        self._leaving[name] = stopped
        stopped.addCallback(lambda _: self._left(name, stopped))
        return _fired(stopped)

    def replace(
        self, bind: PersistentBind, wait_s: float = 0.0, flush: Callable[[], Any] | None = None
    ) -> Deferred:
        """Retire the bind of the same name (as remove does), then start `bind` in its place;
        fires once it has been added (not bound: it binds in the background like any other)."""
        gone = self.remove(bind.name, wait_s, flush)
        return gone.addCallback(lambda _: None if self._stopped else self.add(bind))

    def settled(self) -> Deferred:
        return _fired(gatherResults([_fired(d) for d in self._leaving.values()]))

    def _left(self, name: str, stopped: Deferred) -> None:
        if self._leaving.get(name) is stopped:
            del self._leaving[name]
            self._retiring.pop(name, None)

    def _stop_failed(self, failure: Failure, name: str) -> None:
        log.failure("bind {name}: stopping failed", failure, name=name)

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


def _fired(work: Deferred) -> Deferred:
    """A Deferred that fires with None once `work` has fired, leaving `work`'s result to it."""
    done: Deferred = Deferred()

    def fire(result: object) -> object:
        done.callback(None)
        return result

    work.addBoth(fire)
    return done


def _load(bind: PersistentBind) -> int:
    protocol = bind.protocol
    return 0 if protocol is None else protocol.queued_count + protocol.session.outstanding_count
