"""The SMSC simulator in one object: `Simulator(reactor, config)`, the in-process API.

sim = Simulator(reactor, config)
ports = sim.start_listening()            # needs IReactorTCP; tests use sim.factory in memory
sim.inject_mo("254711000001", "3456", "BAL 1234")   # Deferred[MOResult] once acknowledged
sim.handset_inbox("254711000001")         # what that phone has received
sim.ussd.start("254711000001", "*334#")    # a USSD dialogue (simulators.ussd)
sim.stats(); sim.faults.configure({"throttle": {"every_n": 5}}); sim.stop()
"""

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from simulators.accounts import Accounts
from simulators.airtime import AirtimeProvider
from simulators.availability import ABSENT_SUBSCRIBER_ERR, Subscribers
from simulators.config import SimulatorConfig, parse_address
from simulators.delivery import DeliveryQueue
from simulators.events import EventHub
from simulators.fates import FateSchedule
from simulators.faults import FaultInjector
from simulators.guard import AllowList, AllowListFactory, BindFailures, source_of
from simulators.handler import SMSCLogic
from simulators.mo import MOBuilder, MOResult
from simulators.outbind import Outbinder
from simulators.phones import PhoneBook
from simulators.receipts import (
    Outcome,
    OutcomePicker,
    intermediate_pdu,
    receipt_pdu,
    wants_receipt,
)
from simulators.server import LinkCounters, SimulatorFactory
from simulators.store import HandsetMessage, Handsets, MessageStore, StoredMessage
from simulators.timing import timed_outcome
from simulators.ussd import UssdNetwork
from smscore.constants import MessageState, RegisteredDelivery
from smscore.pdu import PDU
from smscore.protocol import FlowControl
from smscore.session import SessionTimers
from smscore.smsc import SMSCConfig, SMSCProtocol
from smscore.status import CommandStatus

log = Logger()
# registered_delivery bit 4 asks for an intermediate notification (spec 5.2.17); an int, as
# `int & IntFlag` runs Python code per message.
_INTERMEDIATE = int(RegisteredDelivery.INTERMEDIATE_NOTIFICATION)
CREDENTIAL_REFUSALS = frozenset({CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID})


class StartError(Exception):
    """The simulator cannot start (e.g. a port in use); the message is one line."""


@dataclass(frozen=True, slots=True)
class ListeningAddresses:
    smpp: tuple[str, int]
    http: tuple[str, int] | None


class Simulator:
    """An SMSC with virtual subscribers, receipts and faults. All time comes from `reactor`."""

    def __init__(self, reactor: IReactorTime, config: SimulatorConfig | None = None) -> None:
        self.reactor = reactor
        self.config = config = config or SimulatorConfig()
        self.random = random.Random(config.seed)
        self.events = EventHub(reactor)  # GET /v1/events (the console)
        self.phones = PhoneBook(reactor, self.events.publish)  # the console's phones and threads
        self.accounts = Accounts(config.account)
        self.store = MessageStore(config.max_messages)
        self.handsets = Handsets(reactor, config.max_inbox_per_msisdn, config.max_messages)
        self.outcomes = OutcomePicker(config.dlr, self.random)
        self.faults = FaultInjector(self.random, reactor)
        self.faults.configure(config.faults)
        self.airtime = AirtimeProvider(reactor, config.airtime)  # served by the HTTP control API
        self.counters = LinkCounters()
        self.allow = AllowList(config.allow)
        self.bind_failures = BindFailures(config.max_bind_failures, config.bind_failure_window_s)
        self.logic = SMSCLogic(
            reactor,
            self.accounts,
            self.store,
            self._accepted,
            self._cancelled,
            lambda system_id, pdu: self.ussd.on_submit(system_id, pdu),
            self._replaced,
        )
        self.factory = self._smsc_factory()
        self.delivery = DeliveryQueue(
            reactor,
            self.factory,
            retry_interval_s=config.redelivery_interval_s,
            max_attempts=config.max_delivery_attempts,
            max_pending=config.max_pending_deliveries,
            # A window in flight and one more waiting on the bind: the link never idles between
            # windows, and what waits beyond that stays in the backlog for any receiver to take.
            per_bind_queue=config.window_size * 2,
            should_redeliver=self.faults.should_redeliver,
        )
        self.ussd = UssdNetwork(
            reactor,
            config,
            self.delivery,
            self.store.next_id,
            lambda: (protocol.system_id for protocol in self.factory.receivers()),
        )
        self.subscribers = Subscribers(self.factory)  # absent ones, DPF, alert_notification
        self.outbinder = Outbinder(reactor, self.factory, config.outbind)
        self.mo_builder = MOBuilder(config.mo_concat)
        self.fates = FateSchedule(reactor, self._finish)
        self._ports: list[IListeningPort] = []

    def _smsc_factory(self) -> SimulatorFactory:
        config = self.config
        timers = SessionTimers(
            response_timeout_s=config.response_timeout_s,
            enquire_link_interval_s=config.enquire_link_interval_s,
            window=config.window_size,
        )
        return SimulatorFactory(
            self.reactor,
            self.authenticate,
            self.answer,
            SMSCConfig(config.system_id, timers, FlowControl()),
            faults=self.faults,
            counters=self.counters,
            on_bound=self._on_bound,
        )

    # --- SMPP callbacks ---

    def authenticate(self, bind: PDU, peer: str) -> int:
        source, now_s = source_of(peer), self.reactor.seconds()
        if self.bind_failures.locked(source, now_s):
            # Not even checked: a right password now must not tell a guesser it was right.
            self.counters.bind_lockouts += 1
            self.counters.bind_refused()
            return CommandStatus.ESME_RBINDFAIL
        status = self.faults.bind_status()
        if status is None:
            status = self.accounts.bind_status(bind, self.factory.binds_of)
            if status in CREDENTIAL_REFUSALS and self.bind_failures.record(source, now_s):
                log.warn(
                    "binds from {source} locked out for {window_s:.0f}s: {count} refused for "
                    "their credentials within the window",
                    source=source,
                    window_s=self.bind_failures.window_s,
                    count=self.bind_failures.max_failures,
                )
        if status != CommandStatus.ESME_ROK:
            self.counters.bind_refused()
            log.info(
                "bind of {system_id!r} from {peer} refused: {status}",
                system_id=bind.system_id,
                peer=peer,
                status=CommandStatus.describe(status),
            )
        return status

    def answer(self, protocol: SMSCProtocol, pdu: PDU) -> PDU | None:
        return self.logic.answer(protocol, pdu)

    def _on_bound(self) -> None:
        self.delivery.pump()  # a new receiver may take what waits
        self.subscribers.flush()

    # --- message fate ---

    def _accepted(self, message: StoredMessage) -> None:
        self._schedule_fate(message)
        self.phones.mt_accepted(message)
        if message.registered_delivery & _INTERMEDIATE:
            # After the submit_sm_resp (sent once this returns): the ESME knows the id by then.
            self.reactor.callLater(0, self.send_intermediate, message)

    def _schedule_fate(self, message: StoredMessage) -> None:
        outcome = self.outcomes.pick(message.destination_addr)
        timed = message.scheduled_at_s is not None or message.expires_at_s is not None
        if timed or self.faults.active:
            now_s = self.reactor.seconds()
            outcome = timed_outcome(message, outcome, now_s, self.faults.hold_s())
        self.fates.add(message, outcome)

    def _replaced(self, message: StoredMessage, rescheduled: bool) -> None:
        if rescheduled:
            self._schedule_fate(message)  # the fate already waiting will do nothing
        self.phones.mt_changed(message)

    def _cancelled(self, message: StoredMessage) -> None:
        message.fate_pending = False
        message.state = MessageState.DELETED
        message.done_at_s = self.reactor.seconds()
        self.phones.mt_changed(message)
        if wants_receipt(message.registered_delivery, MessageState.DELETED):
            self._send_receipt(message)

    def _finish(self, message: StoredMessage, outcome: Outcome) -> None:
        message.state = state = outcome.state
        message.error_code = outcome.error_code
        message.done_at_s = self.reactor.seconds()
        dpf_result = None
        if state is MessageState.DELIVERED:
            if self.subscribers.absent and message.destination_addr in self.subscribers.absent:
                message.state = state = MessageState.UNDELIVERABLE
                message.error_code = ABSENT_SUBSCRIBER_ERR
                dpf_result = int(self.subscribers.flag(message))
            else:
                self.handsets.deliver(message)
        self.phones.mt_changed(message)
        wanted = wants_receipt(message.registered_delivery, state)
        if wanted and not self.faults.should_lose_receipt():
            self._send_receipt(message, dpf_result)

    def _send_receipt(self, message: StoredMessage, dpf_result: int | None = None) -> None:
        pdu = receipt_pdu(message, dpf_result)
        self.delivery.deliver(pdu, (message.system_id,), "dlr").addErrback(
            lambda failure: log.warn("receipt lost: {error}", error=failure.getErrorMessage())
        )

    def send_intermediate(
        self, message: StoredMessage, state: MessageState = MessageState.ENROUTE
    ) -> None:
        """An intermediate notification for a message not yet final (nothing once it is)."""
        if message.state.is_final:
            return
        pdu = intermediate_pdu(message, self.reactor.seconds(), state)
        self.delivery.deliver(pdu, (message.system_id,), "dlr").addErrback(
            lambda failure: log.warn("notification lost: {error}", error=failure.getErrorMessage())
        )

    # --- the in-process API ---

    def inject_mo(self, source: str, destination: str, text: str) -> Deferred:
        """A subscriber sends an SMS. Fires with MOResult once every part is acknowledged by an ESME
        (fails with DeliveryFailed); raises InvalidMO / BacklogFull at once."""
        parts = self.mo_builder.build(source, destination, text)
        route = self.accounts.mo_recipients(destination)
        injected_at_s = self.reactor.seconds()
        acks = [self.delivery.deliver(part, route, "mo") for part in parts]
        done = acks[0] if len(acks) == 1 else gatherResults(acks, consumeErrors=True)
        if len(acks) > 1:
            done.addErrback(lambda failure: failure.value.subFailure)
        sent = self.phones.mo_sent(source, destination, text)
        done.addBoth(self._mo_done, source, sent)
        return done.addCallback(lambda _: MOResult(source, destination, len(parts), injected_at_s))

    def _mo_done(self, result: Any, source: str, sent: Any) -> Any:
        failed = isinstance(result, Failure)
        self.phones.mo_done(source, sent, result.getErrorMessage() if failed else None)
        return result

    def inject_mos(self, source: str, destination: str, text: str, count: int) -> None:
        """`count` copies of one MO that nobody waits for (outcomes show in stats()): no Deferred
        per MO. Raises InvalidMO at once, BacklogFull once the backlog is full (those queued stay)."""
        route = self.accounts.mo_recipients(destination)
        build, add = self.mo_builder.build, self.delivery.add_unwatched
        try:
            for _ in range(count):
                for part in build(source, destination, text):
                    add(part, route, "mo")
            self.phones.mo_sent(source, destination, text, count)  # nobody waits: it stays "sent"
        finally:
            self.delivery.pump()

    def handset_inbox(self, msisdn: str) -> list[HandsetMessage]:
        return self.handsets.inbox(msisdn)

    def stats(self) -> dict[str, Any]:
        mo, dlr = self.delivery.counters["mo"], self.delivery.counters["dlr"]
        return {
            "connections": self.counters.connections,
            "binds": len(self.factory.bound_protocols),
            "bind_refusals": self.counters.bind_refusals,
            "bind_lockouts": self.counters.bind_lockouts,
            "connections_refused": self.counters.connections_refused,
            **self.logic.counters,
            "messages_stored": len(self.store),
            "mo_sent": mo.sent,
            "mo_acknowledged": mo.acknowledged,
            "mo_retried": mo.retried,
            "mo_failed": mo.failed,
            "mo_redelivered": mo.redelivered,
            "dlr_sent": dlr.sent,
            "dlr_acknowledged": dlr.acknowledged,
            "dlr_retried": dlr.retried,
            "dlr_failed": dlr.failed,
            **self.ussd.counters,
            **self.subscribers.counters,
            **self.outbinder.counters,
            "ussd_open": self.ussd.open_count,
            "ussd_sent": self.delivery.counters["ussd"].sent,
            "ussd_acknowledged": self.delivery.counters["ussd"].acknowledged,
            "deliveries_pending": self.delivery.pending,
            "handset_messages": self.handsets.last_seq,
            "faults_active": self.faults.describe(),
            "fault_actions": self.faults.counts,
        }

    def start_listening(self) -> ListeningAddresses:
        """Listen for SMPP (and HTTP, if configured); raises StartError with a one-line reason."""
        smpp = self._listen("SMPP", self.config.listen, self.listening_factory())
        http = None
        if self.config.http is not None:
            from simulators.http import control_site

            http = self._listen("HTTP", self.config.http, control_site(self))
        self.outbinder.start()  # the configured [[outbind]] ESMEs (none by default)
        return ListeningAddresses(smpp, http)

    def listening_factory(self) -> Factory:
        """The SMPP factory as the listener sees it: TLS if configured, inside the allow-list.
        Raises StartError for an unusable certificate or key."""
        factory: Factory = self.factory
        if self.config.tls_cert_file is not None and self.config.tls_key_file is not None:
            from twisted.protocols.tls import TLSMemoryBIOFactory

            from smscore.tls import TLSFileError, server_options

            try:
                options = server_options(
                    Path(self.config.tls_cert_file), Path(self.config.tls_key_file)
                )
            except TLSFileError as exc:
                raise StartError(f"cannot listen for SMPP with TLS: {exc}") from None
            factory = TLSMemoryBIOFactory(options, False, factory)
            factory.noisy = False
        if self.allow.networks:
            factory = AllowListFactory(factory, self.allow, self._connection_refused)
        return factory

    def _connection_refused(self, addr: object) -> None:
        self.counters.connections_refused += 1
        log.warn(
            "connection from {peer} refused: not in allow ({networks})",
            peer=getattr(addr, "host", addr),
            networks=", ".join(str(network) for network in self.allow.networks),
        )

    def _listen(self, what: str, address: str, factory: Factory) -> tuple[str, int]:
        host, port = parse_address(address)
        tcp = IReactorTCP(self.reactor)  # the one place a real reactor is needed (TypeError if not)
        try:
            listening = tcp.listenTCP(port, factory, interface=host)
        except CannotListenError as exc:
            reason = exc.socketError.strerror if exc.socketError is not None else str(exc)
            raise StartError(f"cannot listen for {what} on {address}: {reason}") from None
        self._ports.append(listening)
        bound = listening.getHost()
        return bound.host, bound.port

    def stop(self) -> Deferred:
        """Stop listening and close every ESME connection (and the console's event streams)."""
        self.events.close_all()
        self.outbinder.stop()
        for protocol in list(self.factory.bound_protocols):
            if protocol.transport is not None:
                protocol.transport.loseConnection()
        stops = [maybeDeferred(port.stopListening) for port in self._ports]
        self._ports.clear()
        return gatherResults(stops) if stops else succeed(None)
