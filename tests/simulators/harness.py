"""In-memory network for simulator tests: iosim pumps between our ESME and the simulator on a Clock."""

from collections.abc import Callable
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.test import iosim
from zope.interface import implementer

from simulators.config import build_config
from simulators.simulator import Simulator
from smscore.client import PersistentBind, ReconnectPolicy
from smscore.constants import CommandId, EsmClass
from smscore.errors import SMPPError
from smscore.esme import BindType, ESMEConfig, ESMEProtocol
from smscore.pdu import PDU, SubmitSm
from smscore.session import SessionTimers


class Network:
    """Connections between client protocols and a server factory; `run(s)` moves bytes and time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pumps: list[iosim.IOPump] = []

    def connect(self, server_factory: Factory, client: object) -> iosim.IOPump:
        server = server_factory.buildProtocol(None)
        pump = iosim.connect(
            server,
            iosim.makeFakeServer(server),
            client,
            iosim.makeFakeClient(client),
            greet=False,
            clock=self.clock,
        )
        self.pumps.append(pump)
        return pump

    def flush(self) -> None:
        for _ in range(10_000):
            moved = False
            for pump in list(self.pumps):
                moved |= pump.pump(advanceClock=False)
                if pump.serverIO.disconnected and pump.clientIO.disconnected:
                    self.pumps.remove(pump)
            if not moved:
                return
        raise AssertionError("the network never went quiet")

    def run(self, seconds: float, step_s: float = 0.05) -> None:
        end = self.clock.seconds() + seconds
        self.flush()
        while self.clock.seconds() < end:
            self.clock.advance(min(step_s, end - self.clock.seconds()))
            self.flush()


@implementer(IStreamClientEndpoint)
class MemoryEndpoint:
    """Connects each time to the simulator over the in-memory network (for PersistentBind)."""

    def __init__(self, network: Network, server_factory: Factory) -> None:
        self.network = network
        self.server_factory = server_factory

    def connect(self, factory: Factory) -> Deferred:
        client = factory.buildProtocol(None)
        self.network.connect(self.server_factory, client)
        return succeed(client)


def make_simulator(clock: Clock, **config: object) -> Simulator:
    data: dict[str, object] = {
        "account": [{"system_id": "esme", "password": "secret"}],
        "dlr": {"delay_s": 1.0},
        "redelivery_interval_s": 1.0,
    }
    data.update(config)
    return Simulator(clock, build_config(data, "test"))


def esme_config(bind_type: BindType = BindType.TRANSCEIVER, **overrides: object) -> ESMEConfig:
    values: dict[str, object] = {
        "system_id": "esme",
        "password": "secret",
        "bind_type": bind_type,
        "timers": SessionTimers(response_timeout_s=5.0, enquire_link_interval_s=30.0),
    }
    values.update(overrides)
    return ESMEConfig(**values)  # type: ignore[arg-type]


@dataclass
class Inbox:
    """What our ESME received (deliver_sm PDUs), answering each with `status`."""

    status: int = 0
    pdus: list[PDU] = field(default_factory=list)

    def __call__(self, pdu: PDU) -> int:
        self.pdus.append(pdu)
        return self.status

    def receipts(self) -> list[PDU]:
        return [pdu for pdu in self.pdus if pdu.esm_class & EsmClass.TYPE_DELIVERY_RECEIPT]

    def mos(self) -> list[PDU]:
        return [pdu for pdu in self.pdus if not pdu.esm_class & EsmClass.TYPE_DELIVERY_RECEIPT]


def bound_esme(
    network: Network,
    simulator: Simulator,
    config: ESMEConfig | None = None,
    inbox: Inbox | None = None,
) -> ESMEProtocol:
    esme = ESMEProtocol(network.clock, config or esme_config(), inbox or Inbox())
    network.connect(simulator.factory, esme)
    network.run(0.1)
    assert esme.session.is_bound, "the ESME did not bind"
    return esme


def submit_pdu(
    destination: str, text: str, registered_delivery: int = 1, **fields: object
) -> SubmitSm:
    return SubmitSm(
        source_addr="3456",
        destination_addr=destination,
        registered_delivery=registered_delivery,
        short_message=text.encode(),
        **fields,  # type: ignore[arg-type]
    )


class ReliableSender:
    """What the daemon's sender does: submit through whichever bind is up; re-submit what may not
    have reached the SMSC (NotSent, lost link, timeout, temporary error, generic_nack) after a pause."""

    TEMPORARY = frozenset({0x08, 0x14, 0x58, 0x64})

    def __init__(self, clock: Clock, bind: PersistentBind, retry_s: float = 1.0) -> None:
        self.clock = clock
        self.bind = bind
        self.retry_s = retry_s
        self.message_ids: dict[str, str] = {}  # text -> SMSC message_id
        self.attempts: dict[str, int] = {}
        self.failures: list[str] = []

    def send(self, destination: str, text: str) -> None:
        protocol = self.bind.protocol
        if protocol is None or not protocol.session.is_bound:
            self.clock.callLater(self.retry_s, self.send, destination, text)
            return
        self.attempts[text] = self.attempts.get(text, 0) + 1
        protocol.submit(submit_pdu(destination, text)).addCallbacks(
            self._answered,
            self._failed,
            callbackArgs=(destination, text),
            errbackArgs=(destination, text),
        )

    def _answered(self, response: PDU, destination: str, text: str) -> None:
        if response.command_status == 0 and response.command_id != CommandId.GENERIC_NACK:
            self.message_ids[text] = response.message_id
        elif (
            response.command_status in self.TEMPORARY
            or response.command_id == CommandId.GENERIC_NACK
        ):
            self.clock.callLater(self.retry_s, self.send, destination, text)
        else:
            self.failures.append(f"{text}: status {response.command_status}")

    def _failed(self, failure, destination: str, text: str) -> None:  # type: ignore[no-untyped-def]
        failure.trap(SMPPError)
        self.clock.callLater(self.retry_s, self.send, destination, text)


def persistent_bind(
    network: Network, simulator: Simulator, inbox: Inbox, **config: object
) -> PersistentBind:
    bind = PersistentBind(
        network.clock,
        "sim",
        MemoryEndpoint(network, simulator.factory),
        esme_config(**config),
        inbox,
        ReconnectPolicy(initial_delay_s=0.5, max_delay_s=2.0),
        jitter=lambda: 0.0,
    )
    bind.start()
    return bind


def stored_texts(simulator: Simulator) -> list[str]:
    return sorted(m.short_message.decode() for m in simulator.store._messages.values())


Check = Callable[[], None]
