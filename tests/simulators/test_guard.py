"""The simulator's SMSC-side defences, in memory on a Clock: wrong credentials are refused; too many
from one address lock it out (even with the right password) until the window has passed; an address
off the allow-list gets no protocol at all."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.test import iosim

from simulators.config import ConfigError, build_config
from simulators.guard import BindFailures
from simulators.simulator import Simulator, StartError
from smscore.esme import BindError, ESMEProtocol
from smscore.status import CommandStatus as S
from tests.simulators.harness import Network, esme_config, make_simulator

WINDOW_S = 60.0
MAX_FAILURES = 3


def bind_from(network: Network, simulator: Simulator, host: str, **config) -> int:  # type: ignore[no-untyped-def]
    """One bind attempt from `host` through the listening factory: its command_status, or None
    if the connection was refused before any PDU."""
    peer = IPv4Address("TCP", host, 40000)
    server = simulator.listening_factory().buildProtocol(peer)
    if server is None:
        return None
    esme = ESMEProtocol(network.clock, esme_config(**config))
    failures: list = []
    esme.when_bound.addErrback(failures.append)
    pump = iosim.connect(
        server, iosim.FakeTransport(server, isServer=True, peerAddress=peer),
        esme, iosim.makeFakeClient(esme), greet=False, clock=network.clock,
    )  # fmt: skip
    network.pumps.append(pump)
    network.flush()
    if esme.session.is_bound:
        esme.transport.loseConnection()
        network.flush()
        return S.ESME_ROK
    return failures[0].value.status if failures[0].check(BindError) else -1


@pytest.fixture
def guarded(clock: Clock) -> Simulator:
    return make_simulator(clock, max_bind_failures=MAX_FAILURES, bind_failure_window_s=WINDOW_S)


def test_a_wrong_password_or_system_id_is_refused(network, guarded):
    assert bind_from(network, guarded, "10.0.0.1", password="wrong") == S.ESME_RINVPASWD
    assert bind_from(network, guarded, "10.0.0.1", system_id="nobody") == S.ESME_RINVSYSID
    assert bind_from(network, guarded, "10.0.0.1") == S.ESME_ROK


def test_too_many_failures_lock_the_address_out_until_the_window_passes(network, clock, guarded):
    with capturedLogs() as events:
        for _ in range(MAX_FAILURES):
            assert bind_from(network, guarded, "10.0.0.9", password="guess") == S.ESME_RINVPASWD
            clock.advance(1)
    # locked: the right password is not even checked
    assert bind_from(network, guarded, "10.0.0.9") == S.ESME_RBINDFAIL
    assert bind_from(network, guarded, "10.0.0.9", password="guess2") == S.ESME_RBINDFAIL
    assert bind_from(network, guarded, "10.0.0.10") == S.ESME_ROK  # another address is not
    assert guarded.stats()["bind_lockouts"] == 2
    [locked] = [e for e in events if "locked out" in e["log_format"]]
    assert locked["source"] == "10.0.0.9"
    # the oldest failure leaves the window WINDOW_S after it was made
    clock.advance(WINDOW_S - MAX_FAILURES - 0.5)
    assert bind_from(network, guarded, "10.0.0.9") == S.ESME_RBINDFAIL
    clock.advance(1)
    assert bind_from(network, guarded, "10.0.0.9") == S.ESME_ROK


def test_injected_bind_faults_do_not_count_as_guesses(network, clock):
    simulator = make_simulator(
        clock, max_bind_failures=1, faults={"reject_binds": {"status": "ESME_RINVPASWD"}}
    )
    assert bind_from(network, simulator, "10.0.0.9") == S.ESME_RINVPASWD
    assert bind_from(network, simulator, "10.0.0.9") == S.ESME_RINVPASWD
    simulator.faults.clear()
    assert bind_from(network, simulator, "10.0.0.9") == S.ESME_ROK


@settings(max_examples=60, deadline=None)
@given(
    gaps_s=st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=60),
    max_failures=st.integers(min_value=1, max_value=5),
)
def test_no_window_sees_more_than_max_failures_checked(gaps_s, max_failures):
    failures = BindFailures(max_failures, WINDOW_S)
    now_s, checked = 0.0, []
    for gap_s in gaps_s:
        now_s += gap_s
        if not failures.locked("a", now_s):
            checked.append(now_s)  # a password was tried (and was wrong)
            failures.record("a", now_s)
    for start_s in checked:
        in_window = [t for t in checked if start_s <= t < start_s + WINDOW_S]
        assert len(in_window) <= max_failures
    assert not failures.locked("a", now_s + WINDOW_S)


def test_the_table_of_sources_is_bounded():
    failures = BindFailures(2, WINDOW_S, max_sources=3)
    for n in range(10):
        failures.record(f"10.0.0.{n}", 0.0)
    assert len(failures._failures) == 3


def test_an_address_off_the_allow_list_gets_no_protocol_and_is_counted_and_logged(network, clock):
    simulator = make_simulator(clock, allow=["127.0.0.1/32", "192.168.0.0/16", "::1/128"])
    factory = simulator.listening_factory()
    with capturedLogs() as events:
        assert bind_from(network, simulator, "10.1.2.3") is None
        assert factory.buildProtocol(IPv6Address("TCP", "2001:db8::1", 1)) is None
    assert simulator.stats()["connections_refused"] == 2
    assert [e["peer"] for e in events if "not in allow" in e["log_format"]] == [
        "10.1.2.3",
        "2001:db8::1",
    ]
    assert bind_from(network, simulator, "127.0.0.1") == S.ESME_ROK
    assert bind_from(network, simulator, "192.168.7.7") == S.ESME_ROK
    assert factory.buildProtocol(IPv6Address("TCP", "::ffff:127.0.0.1", 1)) is not None
    assert factory.buildProtocol(IPv6Address("TCP", "::1", 1)) is not None
    assert simulator.stats()["connections_refused"] == 2


def test_without_allow_any_address_connects(network, clock):
    simulator = make_simulator(clock)
    assert simulator.listening_factory() is simulator.factory
    assert bind_from(network, simulator, "203.0.113.5") == S.ESME_ROK


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"allow": ["10.0.0.1/8"]}, "test: allow.0: "),
        ({"allow": ["not-a-net"]}, "test: allow.0: "),
        ({"tls_cert_file": "a.pem"}, "tls_cert_file and tls_key_file go together"),
        ({"max_bind_failures": 0}, "test: max_bind_failures: "),
    ],
)
def test_bad_security_config_is_one_line(data, expected):
    with pytest.raises(ConfigError, match=expected):
        build_config(data, "test")


def test_an_unusable_certificate_stops_start_in_one_line(tmp_path, clock):
    (tmp_path / "cert.pem").write_text("not a certificate")
    simulator = make_simulator(
        clock, tls_cert_file=str(tmp_path / "cert.pem"), tls_key_file=str(tmp_path / "key.pem")
    )
    with pytest.raises(
        StartError, match=r"cannot listen for SMPP with TLS: .*cert.pem is not a PEM"
    ):
        simulator.listening_factory()
