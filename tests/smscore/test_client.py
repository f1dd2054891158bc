"""PersistentBind (reconnect with backoff and injected jitter) and BindPool, on a Clock and a fake endpoint."""

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import _WrapperEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs

from smscore.client import (
    BindPool,
    NoBindAvailable,
    PersistentBind,
    ReconnectPolicy,
    SMSCAddress,
    client_endpoint,
)
from smscore.codec import StreamDecoder, encode
from smscore.esme import BindType, ESMEConfig
from smscore.pdu import PDU, DeliverSm, SubmitSm, UnbindResp
from smscore.session import SessionTimers
from smscore.smsc import SMSCFactory
from smscore.status import CommandStatus as S
from tests.smscore.loopback import BoundedClock, FakeEndpoint

TIMERS = SessionTimers(response_timeout_s=10, enquire_link_interval_s=60, window=4)
POLICY = ReconnectPolicy(initial_delay_s=1, max_delay_s=10, factor=2)
JITTER_S = 0.25


def decode_all(data: bytes) -> list[PDU]:
    decoder = StreamDecoder()
    decoder.feed(data)
    return list(decoder)


def outcome(deferred: Deferred) -> list[Any]:
    box: list[Any] = []
    deferred.addBoth(box.append)
    return box


class Harness:
    """One PersistentBind to an in-memory SMSC whose authenticator the test controls."""

    def __init__(
        self,
        name: str = "smsc-a",
        bind_type: BindType = BindType.TRANSCEIVER,
        unbind_timeout_s: float = 10.0,
    ) -> None:
        self.clock = BoundedClock()
        self.auth_status = S.ESME_ROK
        self.submitted: list[PDU] = []
        self.factory = SMSCFactory(self.clock, self._authenticate, self._handle)
        self.endpoint = FakeEndpoint(self.clock, self.factory)
        self.connect_times: list[float] = []
        real_connect = self.endpoint.connect

        def timed_connect(factory: Any) -> Deferred:
            self.connect_times.append(self.clock.seconds())
            return real_connect(factory)

        self.endpoint.connect = timed_connect  # type: ignore[method-assign]
        config = ESMEConfig("esme1", "pw", bind_type=bind_type, timers=TIMERS)
        self.received: list[bytes] = []
        self.bind = PersistentBind(
            self.clock,
            name,
            self.endpoint,
            config,
            on_message=self._on_message,
            policy=POLICY,
            jitter=lambda: JITTER_S,
            unbind_timeout_s=unbind_timeout_s,
        )

    def _authenticate(self, bind: PDU, peer: str) -> int:
        return self.auth_status

    def _handle(self, protocol: Any, pdu: PDU) -> PDU:
        self.submitted.append(pdu)
        return pdu.make_response(message_id=f"id{len(self.submitted)}")

    def _on_message(self, pdu: PDU) -> int:
        self.received.append(pdu.short_message)
        return S.ESME_ROK

    def start(self) -> None:
        self.bind.start()
        self.endpoint.pump()

    def advance(self, seconds: float) -> None:
        self.endpoint.advance(seconds)

    def run(self, seconds: float, step_s: float = 0.25) -> None:
        for _ in range(round(seconds / step_s)):
            self.advance(step_s)


def test_binds_on_start_submits_and_receives():
    harness = Harness()
    harness.start()
    assert harness.bind.is_bound
    assert (harness.bind.counters.connects, harness.bind.counters.binds) == (1, 1)
    result = outcome(harness.bind.protocol.submit(SubmitSm(short_message=b"out")))
    harness.endpoint.pump()
    assert result[0].message_id == "id1"
    [smsc] = harness.factory.receivers("esme1")
    smsc.deliver(DeliverSm(short_message=b"in"))
    harness.endpoint.pump()
    assert harness.received == [b"in"]
    assert harness.bind.counters.messages_received == 1


def test_reconnects_and_binds_again_after_the_peer_drops():
    harness = Harness()
    harness.start()
    first = harness.bind.protocol
    harness.endpoint.current.drop()
    assert not harness.bind.is_bound and harness.bind.protocol is None
    assert harness.factory.bound_protocols == []
    delay_s = POLICY.initial_delay_s  # the first retry waits exactly what the policy says
    harness.advance(delay_s - 0.01)
    assert len(harness.connect_times) == 1
    harness.advance(0.01)
    assert len(harness.connect_times) == 2
    assert harness.bind.is_bound and harness.bind.protocol is not first
    assert harness.bind.counters.binds == 2
    assert len(harness.factory.bound_protocols) == 1


def test_backoff_delays_grow_to_the_cap_with_the_injected_jitter():
    harness = Harness()
    harness.endpoint.refusing = True
    harness.start()
    harness.run(60)
    gaps = [b - a for a, b in zip(harness.connect_times, harness.connect_times[1:], strict=False)]
    expected = [POLICY.initial_delay_s] + [
        min(POLICY.initial_delay_s * 2**n + JITTER_S, POLICY.max_delay_s) for n in range(1, 8)
    ]
    assert gaps[: len(expected)] == pytest.approx(expected[: len(gaps)])
    assert len(gaps) >= 6
    # the SMSC comes back: the next attempt binds, and the delays start again from the bottom
    harness.endpoint.refusing = False
    harness.run(POLICY.max_delay_s + 1)
    assert harness.bind.is_bound
    harness.endpoint.current.drop()
    attempts = len(harness.connect_times)
    harness.advance(POLICY.initial_delay_s)
    assert len(harness.connect_times) == attempts + 1 and harness.bind.is_bound


def test_a_refused_bind_counts_as_a_failed_attempt_and_is_retried_with_backoff():
    harness = Harness()
    harness.auth_status = S.ESME_RBINDFAIL
    harness.start()
    assert not harness.bind.is_bound
    assert harness.bind.counters.bind_failures == 1
    assert "Bind Failed" in harness.bind.last_error
    assert harness.bind.state == "down"
    harness.run(20)
    assert harness.bind.counters.bind_failures >= 3
    gaps = [b - a for a, b in zip(harness.connect_times, harness.connect_times[1:], strict=False)]
    assert gaps[:3] == pytest.approx([1, 2.25, 4.25])
    harness.auth_status = S.ESME_ROK
    harness.run(POLICY.max_delay_s + 1)
    assert harness.bind.is_bound


def test_stop_unbinds_and_stops_reconnecting():
    harness = Harness()
    harness.start()
    smsc = harness.factory.bound_protocols[0]
    heard: list[bytes] = []
    receive = smsc.dataReceived
    smsc.dataReceived = lambda data: heard.append(data) or receive(data)  # type: ignore[method-assign]
    stopped = outcome(harness.bind.stop())
    harness.endpoint.pump()
    assert [pdu.name for pdu in decode_all(b"".join(heard))] == ["unbind"]
    assert harness.endpoint.current.closed
    assert stopped == [None]
    harness.run(30)
    assert len(harness.connect_times) == 1 and not harness.bind.is_bound


def silence(smsc: Any) -> list[PDU]:
    """The SMSC hears but never answers; returns what it heard."""
    heard: list[PDU] = []
    smsc.dataReceived = lambda data: heard.extend(decode_all(data))
    return heard


def test_stop_waits_for_the_unbind_resp_before_closing():
    harness = Harness()
    harness.start()
    smsc = harness.factory.bound_protocols[0]
    heard = silence(smsc)
    stopped = outcome(harness.bind.stop())
    harness.endpoint.pump()
    [unbind] = heard
    assert unbind.name == "unbind"
    harness.advance(5)  # no answer yet: the link stays open, stop() has not finished
    assert not harness.endpoint.current.closed and stopped == []
    harness.endpoint.current.inject_to_client(
        encode(UnbindResp(sequence_number=unbind.sequence_number))
    )
    assert harness.endpoint.current.closed
    assert stopped == [None]
    harness.run(30)
    assert len(harness.connect_times) == 1


def test_stop_closes_after_unbind_timeout_s_without_an_answer():
    harness = Harness(unbind_timeout_s=3)
    harness.start()
    silence(harness.factory.bound_protocols[0])
    stopped = outcome(harness.bind.stop())
    harness.advance(2.99)
    assert not harness.endpoint.current.closed and stopped == []
    harness.advance(0.01)
    assert harness.endpoint.current.closed
    assert stopped == [None]
    harness.run(30)
    assert len(harness.connect_times) == 1 and not harness.bind.is_bound


def test_a_deliberate_stop_logs_stopped_and_a_drop_logs_reconnecting():
    harness = Harness()
    harness.start()
    with capturedLogs() as events:
        harness.endpoint.current.drop()
    assert [e["log_format"] for e in events if "reconnecting" in e["log_format"]]
    harness.advance(POLICY.initial_delay_s)
    assert harness.bind.is_bound
    with capturedLogs() as events:
        harness.bind.stop()
        harness.endpoint.pump()
    formats = [event["log_format"] for event in events]
    assert "bind {name} stopped" in formats
    assert not any("reconnecting" in text for text in formats)


def test_a_connect_says_no_starting_factory_line():
    # A real endpoint calls doStart/doStop on the factory it is given (ClientService's proxy for
    # ours) every (re)connect; Twisted logs "Starting factory <... at 0x...>" at info unless quiet.
    harness = Harness()
    given: list[Any] = []
    connect = harness.endpoint.connect
    harness.endpoint.connect = lambda factory: given.append(factory) or connect(factory)  # type: ignore[method-assign]
    harness.start()
    with capturedLogs() as events:
        given[0].doStart()
        given[0].doStop()
    assert [event["log_format"] for event in events] == []


def test_reconnect_delays_start_at_initial_delay_and_never_pass_the_cap():
    policy = ReconnectPolicy(initial_delay_s=2, max_delay_s=30, factor=3)
    assert policy.delay_s(1, jitter_s=0.9) == 2
    assert policy.delay_s(2, jitter_s=0.5) == 6.5
    assert policy.delay_s(3, jitter_s=0.5) == 18.5
    assert all(policy.delay_s(n, jitter_s=0.99) == 30 for n in (4, 50, 10_000))


def test_client_endpoint_connects_by_tcp_to_the_address():
    with pytest.raises(ValueError):
        SMSCAddress("127.0.0.1", 0)
    reactor = MemoryReactorClock()
    for port, tls in ((2775, False), (2776, True)):
        endpoint = client_endpoint(reactor, SMSCAddress("127.0.0.1", port, tls=tls))
        endpoint.connect(Factory.forProtocol(Protocol))
        reactor.advance(0)
        assert reactor.tcpClients[-1][:2] == ("127.0.0.1", port)
    assert isinstance(endpoint, _WrapperEndpoint)  # TLS wraps the TCP endpoint


def test_reconnect_policy_is_validated():
    with pytest.raises(ValueError):
        ReconnectPolicy(initial_delay_s=0)
    with pytest.raises(ValueError):
        ReconnectPolicy(initial_delay_s=5, max_delay_s=1)
    with pytest.raises(ValueError):
        ReconnectPolicy(factor=0.5)


# --- bind pool ------------------------------------------------------------------------------------


def pool_of(*harnesses: Harness) -> BindPool:
    return BindPool([h.bind for h in harnesses])


def test_pool_prefers_the_named_bind_and_otherwise_the_least_loaded():
    a, b = Harness("a"), Harness("b")
    a.start()
    b.start()
    pool = pool_of(a, b)
    pool.submit(SubmitSm(), prefer="b")
    assert (len(b.submitted), len(a.submitted)) == (0, 0)  # not pumped yet: b has one outstanding
    pool.submit(SubmitSm())  # least loaded is a
    pool.submit(SubmitSm(), prefer="b")
    a.endpoint.pump()
    b.endpoint.pump()
    assert (len(a.submitted), len(b.submitted)) == (1, 2)
    pool.submit(SubmitSm(), prefer="nonexistent")  # both idle again: either is fine
    a.endpoint.pump()
    b.endpoint.pump()
    assert len(a.submitted) + len(b.submitted) == 4


def test_pool_skips_binds_that_are_down_or_cannot_submit():
    a, rx = Harness("a"), Harness("rx", bind_type=BindType.RECEIVER)
    a.start()
    rx.start()
    pool = pool_of(a, rx)
    assert [bind.name for bind in pool.transmitters()] == ["a"]
    pool.submit(SubmitSm(), prefer="rx")
    a.endpoint.pump()
    assert len(a.submitted) == 1
    a.endpoint.current.drop()
    with pytest.raises(NoBindAvailable):
        pool.submit(SubmitSm())


def test_pool_with_nothing_bound_raises():
    a = Harness("a")
    a.endpoint.refusing = True
    a.start()
    with pytest.raises(NoBindAvailable):
        pool_of(a).submit(SubmitSm())


def test_a_refused_connect_is_the_binds_last_error_logged_once_per_reason():
    harness = Harness()
    harness.endpoint.refusing = True
    with capturedLogs() as events:
        harness.start()
        harness.run(20)
    assert len(harness.connect_times) >= 4
    assert harness.bind.last_error.startswith("connect failed: ")
    said = [event for event in events if "connect failed" in str(event.get("error", ""))]
    assert len(said) == 1 and said[0]["log_level"].name == "warn"


def test_stop_while_the_bind_is_unanswered_waits_for_it_then_unbinds():
    # Found by hand (SIGTERM while a TLS bind was being refused): ClientService cancelled the
    # attempt, our prepareConnection turned the CancelledError into success, and automat raised
    # NoTransition out of stop(): the daemon never stopped its database thread, never exited.
    harness = Harness()
    harness.bind.start()  # connected, bind sent, its bind_resp not delivered yet
    assert not harness.bind.is_bound
    stopped = outcome(harness.bind.stop())
    assert stopped == []
    for _ in range(3):
        harness.advance(0)  # bind_resp, then our unbind and its unbind_resp
    assert stopped == [None] and harness.endpoint.current.closed
    harness.run(30)
    assert len(harness.connect_times) == 1 and not harness.bind.is_bound


def test_stop_while_the_smsc_never_answers_the_bind_closes_after_unbind_timeout_s():
    harness = Harness(unbind_timeout_s=3)
    harness.bind.start()
    silence(harness.endpoint.links[0].server)
    stopped = outcome(harness.bind.stop())
    harness.advance(2.9)
    assert stopped == []
    for _ in range(3):
        harness.advance(0.1)  # closed at 3 s: the bind fails, then the stop goes on
    assert stopped == [None] and harness.endpoint.current.closed
    harness.run(30)
    assert len(harness.connect_times) == 1 and not harness.bind.is_bound
