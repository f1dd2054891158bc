"""The [[binds]] of a config made into PersistentBinds: at start-up (daemon.service) and when a
reload adds or changes one (daemon.reload), the same way."""

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger

from daemon.backpressure import BACKLOG_STATUS
from daemon.config import BindConfig
from daemon.drain import MoGate
from daemon.lis import InboxWriter
from smscore.client import PersistentBind, ReconnectPolicy, SMSCAddress, client_endpoint
from smscore.esme import ESMEConfig
from smscore.pdu import PDU
from smscore.protocol import FlowControl
from smscore.session import SessionTimers
from smscore.status import CommandStatus

log = Logger()
# Permanent: no command is that long, and delivering it again cannot make it shorter.
MO_TOO_LONG_STATUS = CommandStatus.ESME_RINVMSGLEN


def esme_settings(bind: BindConfig) -> ESMEConfig:
    """The ESME side of a [[binds]] table, its password read from where the config says
    (BindPasswordError if it cannot be)."""
    return ESMEConfig(
        system_id=bind.system_id,
        password=bind.read_password().get_secret_value(),
        system_type=bind.system_type,
        bind_type=bind.bind_type,
        timers=SessionTimers(
            response_timeout_s=bind.response_timeout_s,
            enquire_link_interval_s=bind.enquire_link_interval_s,
            window=bind.window,
        ),
        flow=FlowControl(tps_limit=bind.tps_limit),
    )


def bind_endpoint(reactor: IReactorTime, bind: BindConfig) -> IStreamClientEndpoint:
    """The bind's TCP (or TLS) endpoint; reads the TLS CA file (TLSFileError if it cannot)."""
    ca_file = str(bind.tls_ca_file) if bind.tls_ca_file else None
    address = SMSCAddress(bind.host, bind.port, bind.tls, ca_file)
    return client_endpoint(reactor, address)  # type: ignore[arg-type]


def bind_handler(
    inbox: InboxWriter, gate: MoGate, bind: BindConfig
) -> Callable[[PDU], int | Deferred]:
    """What the bind does with a deliver_sm: the inbox, unless a drain has closed the gate, the
    message is longer than inbox.max_mo_bytes, or the inbox backlog is past its bound
    (daemon.backpressure: receipts still pass)."""
    handler = inbox.handler_for(bind.name, bind.default_alphabet, bind.ussd_dialect)
    return gate.guard(size_guard(backlog_guard(handler, inbox), inbox, bind.name))


def backlog_guard(
    handler: Callable[[PDU], int | Deferred], inbox: InboxWriter
) -> Callable[[PDU], int | Deferred]:
    """`handler` behind the inbox's backlog bound, when it has one (read at each deliver_sm: the
    bound may be attached after the binds are built)."""

    def guarded(pdu: PDU) -> int | Deferred:
        backlog = inbox.backlog
        if backlog is None or inbox.is_receipt(pdu) or backlog.admit():
            return handler(pdu)
        return BACKLOG_STATUS

    return guarded


def size_guard(
    handler: Callable[[PDU], int | Deferred], inbox: InboxWriter, bind_name: str
) -> Callable[[PDU], int | Deferred]:
    """`handler` behind inbox.max_mo_bytes: a longer deliver_sm is answered MO_TOO_LONG_STATUS,
    unstored (counted as refused_too_long; logged the first time per bind)."""
    max_bytes = inbox.config.max_mo_bytes
    inbox.counters.setdefault("refused_too_long", 0)
    logged = False

    def guarded(pdu: PDU) -> int | Deferred:
        nonlocal logged
        size = len(getattr(pdu, "short_message", b"") or b"")
        size += len(pdu.tlvs.get("message_payload") or b"")
        if size <= max_bytes:
            return handler(pdu)
        inbox.counters["refused_too_long"] += 1
        if not logged:
            logged = True
            log.warn(
                "{bind}: a deliver_sm of {size} bytes (inbox.max_mo_bytes {limit}) answered "
                "ESME_RINVMSGLEN, unstored (logged once; counted as refused_too_long)",
                bind=bind_name,
                size=size,
                limit=max_bytes,
            )
        return MO_TOO_LONG_STATUS

    return guarded


def make_bind(
    reactor: IReactorTime,
    bind: BindConfig,
    esme: ESMEConfig,
    endpoint: IStreamClientEndpoint,
    handler: Callable[[PDU], int | Deferred],
) -> PersistentBind:
    policy = ReconnectPolicy(bind.reconnect_initial_delay_s, bind.reconnect_max_delay_s)
    return PersistentBind(reactor, bind.name, endpoint, esme, handler, policy)
