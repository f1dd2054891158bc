"""Outbind (SMPP 3.4 4.1.7): the simulator connects to a listening ESME (smscore.outbind), which
checks the password and binds back as a receiver on that connection; MOs then flow on it."""

from collections.abc import Iterator

import pytest
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from simulators.outbind import OutbindFailed
from smscore.outbind import OutbindListenerFactory
from smscore.session import State
from tests.simulators.harness import Inbox, MemoryEndpoint, Network, esme_config, make_simulator

ADDRESS = "127.0.0.1:2776"  # never dialled: the endpoint is the in-memory network
OUTBIND_PASSWORD = "obpw"


def _listener(clock: Clock, inbox: Inbox, **kwargs: object) -> OutbindListenerFactory:
    return OutbindListenerFactory(clock, esme_config(), OUTBIND_PASSWORD, inbox, **kwargs)  # type: ignore[arg-type]


def _outbind(network: Network, simulator, listener, password: str = OUTBIND_PASSWORD) -> list:  # type: ignore[no-untyped-def]
    simulator.outbinder.endpoint_for = lambda address: MemoryEndpoint(network, listener)
    results: list = []
    simulator.outbinder.outbind(ADDRESS, password).addBoth(results.append)
    network.run(0.2)
    return results


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    lines: list[str] = []

    def observe(event: dict) -> None:
        lines.append(repr(event))

    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


def test_the_esme_binds_back_as_a_receiver_and_gets_mos(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock)
    inbox = Inbox()
    listener = _listener(clock, inbox)
    [bound] = _outbind(network, simulator, listener)
    assert bound.system_id == "esme" and bound.session.state is State.BOUND_RX
    [esme] = listener.bound
    assert esme.session.state is State.BOUND_RX and esme.session.peer_system_id == "SMSCSIM"
    simulator.inject_mo("254711000009", "3456", "BAL 1234")
    network.run(0.2)
    assert [pdu.short_message for pdu in inbox.mos()] == [b"BAL 1234"]
    counters = simulator.stats()
    assert (counters["outbinds_sent"], counters["outbind_binds"], counters["binds"]) == (1, 1, 1)


def test_a_wrong_password_is_refused_and_never_logged(
    network: Network, clock: Clock, warnings_logged: list[str]
) -> None:
    simulator = make_simulator(clock)
    listener = _listener(clock, Inbox())
    [failure] = _outbind(network, simulator, listener, password="guess")
    assert failure.check(OutbindFailed) and listener.bound == [] and listener.refused == 1
    assert simulator.stats()["outbind_failures"] == 1 and simulator.stats()["binds"] == 0
    assert not any("guess" in line or OUTBIND_PASSWORD in line for line in warnings_logged)
    assert any("wrong credentials" in line for line in warnings_logged)


def test_an_expected_smsc_system_id_must_match(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock)
    listener = _listener(clock, Inbox(), smsc_system_id="OTHERSMSC")
    [failure] = _outbind(network, simulator, listener)
    assert failure.check(OutbindFailed) and listener.refused == 1


def test_a_link_that_sends_no_outbind_is_closed(network: Network, clock: Clock) -> None:
    listener = _listener(clock, Inbox())
    silent = Protocol()
    pump = network.connect(listener, silent)
    network.run(4.0)
    assert listener.refused == 0 and not pump.clientIO.disconnected
    network.run(2.0)  # past the response timeout (5 s in esme_config)
    assert listener.refused == 1 and pump.clientIO.disconnected


def test_configured_targets_are_outbound_again_after_their_link_drops(
    network: Network, clock: Clock
) -> None:
    target = {"address": ADDRESS, "password": OUTBIND_PASSWORD, "retry_s": 2.0}
    simulator = make_simulator(clock, outbind=[target])
    listener = _listener(clock, Inbox())
    simulator.outbinder.endpoint_for = lambda address: MemoryEndpoint(network, listener)
    simulator.outbinder.start()
    network.run(0.2)
    [first] = listener.bound
    first.transport.loseConnection()
    network.run(1.0)
    assert listener.bound == [] and simulator.stats()["outbinds_sent"] == 1
    network.run(1.5)
    assert len(listener.bound) == 1 and simulator.stats()["outbinds_sent"] == 2
    simulator.stop()
    network.run(5.0)
    assert simulator.stats()["outbinds_sent"] == 2


def test_the_outbind_flag_and_the_example_config() -> None:
    from simulators.cli import _outbind_flag
    from simulators.config import ConfigError, build_config

    flags = [_outbind_flag("pw@127.0.0.1:2776"), _outbind_flag("localhost:2777")]
    config = build_config({"outbind": flags}, "command line")
    assert [(t.address, t.password, t.retry_s) for t in config.outbind] == [
        ("127.0.0.1:2776", "pw", 5.0),
        ("localhost:2777", "", 5.0),
    ]
    with pytest.raises(ConfigError, match=r"command line: outbind.0.address: .*not HOST:PORT"):
        build_config({"outbind": [_outbind_flag("pw@nowhere")]}, "command line")
