"""Our Twisted factories start and stop without "Starting factory <... object at 0x...>" lines:
Twisted logs one at info for every noisy factory each time a port opens or a link is made."""

from collections.abc import Callable

import pytest
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.web.resource import Resource
from twisted.web.server import Site

from daemon.api.transport import ConnectionCap
from simulators.http import control_site
from smscore.esme import ESMEConfig, ESMEFactory
from smscore.outbind import OutbindListenerFactory
from smscore.smsc import SMSCFactory
from tests.simulators.harness import make_simulator

ESME = ESMEConfig("esme1", "pw")


def _simulator_listener() -> Factory:
    return make_simulator(Clock(), allow=["127.0.0.1/32"]).listening_factory()


FACTORIES: dict[str, Callable[[], Factory]] = {
    "smsc": lambda: SMSCFactory(Clock(), lambda bind, peer: 0, lambda protocol, pdu: None),
    "simulator": lambda: make_simulator(Clock()).factory,
    "simulator behind its allow-list": _simulator_listener,
    "simulator control API": lambda: control_site(make_simulator(Clock())),
    "esme": lambda: ESMEFactory(Clock(), ESME),
    "outbind listener": lambda: OutbindListenerFactory(Clock(), ESME, "pw"),
    "api connection cap": lambda: ConnectionCap(_quiet_site(), 10),
}


def _quiet_site() -> Site:
    site = Site(Resource())
    site.noisy = False  # as daemon.api.server.api_site makes it; the cap must be quiet itself
    return site


@pytest.mark.parametrize("name", FACTORIES)
def test_a_factory_starts_and_stops_without_a_line(name: str) -> None:
    factory = FACTORIES[name]()
    with capturedLogs() as events:
        factory.doStart()
        factory.doStop()
    assert [event["log_format"] for event in events] == []
