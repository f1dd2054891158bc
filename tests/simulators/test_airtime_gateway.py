"""The HTTP airtime gateway against the simulator's provider over real HTTP on 127.0.0.1, with
every fault: success, failure, timeout, slow, 5xx, late success; credentials and idempotency.
Each test runs a reactor of its own (never the global one), bounded by TEST_BOUND_S."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from daemon.config import AirtimeConfig
from daemon.money.airtime_gateway import HttpGateway, Outcome, OutcomeKind, TopUp
from simulators.airtime import AirtimeFault, AirtimeProviderConfig
from simulators.config import SimulatorConfig
from simulators.simulator import Simulator

TEST_BOUND_S = 10.0
PASSWORD = "s3cret-airtime"
ORDER = TopUp("QK7A2B9XYZ", "254712000001", 10_000, "KES")


@dataclass
class Provider:
    reactor: SelectReactor
    simulator: Simulator
    url: str
    gateways: list[HttpGateway] = field(default_factory=list)

    def gateway(
        self, password: str = PASSWORD, timeout_s: float = 2.0, url: str | None = None
    ) -> HttpGateway:
        where = url or f"{self.url}/airtime/v1"
        config = AirtimeConfig(url=where, username="smscore", timeout_s=timeout_s)
        self.gateways.append(gateway := HttpGateway(self.reactor, config, password))
        return gateway

    def fault(self, msisdn: str, **fault: object) -> None:
        self.simulator.airtime.configure({"numbers": {msisdn: fault}})

    def run(self, work: Callable[[], Deferred]) -> object:
        """Run the reactor until `work()` fires and everything is closed again (at most
        TEST_BOUND_S): its result. Once per test: a reactor cannot run twice."""
        result: list = []

        @inlineCallbacks
        def whole():
            try:
                result.append((yield work()))
            except Exception:
                result.append(Failure())
            yield gatherResults([gateway.close() for gateway in self.gateways])
            yield self.simulator.stop()
            yield deferLater(self.reactor, 0.05, lambda: None)  # the last connections close

        self.reactor.callWhenRunning(lambda: whole().addBoth(lambda _: self.reactor.stop()))
        bound = self.reactor.callLater(TEST_BOUND_S, self.reactor.stop)
        self.reactor.run(installSignalHandlers=False)
        if bound.active():
            bound.cancel()
        assert result, f"no answer within {TEST_BOUND_S} s"
        if isinstance(result[0], Failure):
            result[0].raiseException()
        return result[0]


@pytest.fixture
def provider() -> Iterator[Provider]:
    reactor = SelectReactor()
    airtime = AirtimeProviderConfig(username="smscore", password=PASSWORD)
    simulator = Simulator(
        reactor, SimulatorConfig(listen="127.0.0.1:0", http="127.0.0.1:0", airtime=airtime)
    )
    addresses = simulator.start_listening()
    assert addresses.http is not None
    found = Provider(reactor, simulator, f"http://127.0.0.1:{addresses.http[1]}")
    yield found


def topup_then_query(gateway: HttpGateway, order: TopUp = ORDER):
    @inlineCallbacks
    def work():
        first = yield gateway.topup(order)
        second = yield gateway.query(order)
        return first, second

    return work


def test_success_is_bought_once_even_when_sent_again(provider):
    gateway = provider.gateway()

    @inlineCallbacks
    def work():
        first = yield gateway.topup(ORDER)
        again = yield gateway.topup(ORDER)  # a retry with the same idempotency key
        found = yield gateway.query(ORDER)
        return first, again, found

    first, again, found = provider.run(work)
    assert first.kind is OutcomeKind.SUCCEEDED and first.provider_ref.startswith("SIM")
    assert again == first == found
    order = provider.simulator.airtime.orders[ORDER.id]
    assert (order.topups, order.requests, order.amount_minor) == (1, 2, 10_000)


def test_failure_is_a_definite_failure(provider):
    provider.fault(ORDER.msisdn, kind="failure", reason="not a prepaid number")
    first, found = provider.run(topup_then_query(provider.gateway()))
    assert first == found == Outcome.failed("not a prepaid number")


def test_timeout_is_unknown_and_queries_say_pending_then_succeeded(provider):
    provider.fault(ORDER.msisdn, kind="timeout", succeed_after_queries=1)
    gateway = provider.gateway(timeout_s=0.3)

    @inlineCallbacks
    def work():
        first = yield gateway.topup(ORDER)
        pending = yield gateway.query(ORDER)
        later = yield gateway.query(ORDER)
        return first, pending, later

    first, pending, later = provider.run(work)
    assert first.kind is OutcomeKind.UNKNOWN and "timeout after 0.3 s" in first.reason
    assert pending.kind is OutcomeKind.UNKNOWN and "pending" in pending.reason
    assert later.kind is OutcomeKind.SUCCEEDED


def test_slow_within_the_timeout_succeeds(provider):
    provider.fault(ORDER.msisdn, kind="slow", delay_s=0.2)
    first, _ = provider.run(topup_then_query(provider.gateway(timeout_s=2.0)))
    assert first.kind is OutcomeKind.SUCCEEDED


def test_slow_past_the_timeout_is_unknown_and_the_query_finds_it_bought(provider):
    provider.fault(ORDER.msisdn, kind="slow", delay_s=1.0)
    first, found = provider.run(topup_then_query(provider.gateway(timeout_s=0.3)))
    assert first.kind is OutcomeKind.UNKNOWN
    assert found.kind is OutcomeKind.SUCCEEDED


def test_5xx_is_unknown_with_nothing_bought_then_a_retry_succeeds(provider):
    provider.fault(ORDER.msisdn, kind="error_5xx", status=503, times=1)
    gateway = provider.gateway()

    @inlineCallbacks
    def work():
        first = yield gateway.topup(ORDER)
        missing = yield gateway.query(ORDER)
        again = yield gateway.topup(ORDER)
        return first, missing, again

    first, missing, again = provider.run(work)
    assert first == Outcome.unknown("HTTP 503")
    assert missing.kind is OutcomeKind.NOT_FOUND
    assert again.kind is OutcomeKind.SUCCEEDED
    assert provider.simulator.airtime.orders[ORDER.id].topups == 1


def test_late_success_answers_failed_then_queries_say_succeeded(provider):
    provider.fault(ORDER.msisdn, kind="late_success")
    first, found = provider.run(topup_then_query(provider.gateway()))
    assert first.kind is OutcomeKind.FAILED
    assert found.kind is OutcomeKind.SUCCEEDED


def test_wrong_credentials_are_unknown_and_nothing_is_bought(provider):
    first, _ = provider.run(topup_then_query(provider.gateway(password="wrong")))
    assert first == Outcome.unknown("HTTP 401")
    assert provider.simulator.airtime.orders == {}


def test_a_refused_connection_is_unknown(provider):
    gateway = provider.gateway(url="http://127.0.0.1:1/airtime/v1")
    outcome = provider.run(lambda: gateway.topup(ORDER))
    assert outcome.kind is OutcomeKind.UNKNOWN and "no answer" in outcome.reason


def test_faults_are_set_over_the_control_api_per_number_and_for_all(provider):
    other = TopUp("OTHER12345", "254733000002", 5_000, "KES")

    def post(body: dict) -> dict:
        request = urllib.request.Request(
            f"{provider.url}/v1/airtime/faults", json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    gateway = provider.gateway()

    @inlineCallbacks
    def work():
        # The control API is asked from a thread: the reactor must keep serving meanwhile.
        from twisted.internet.threads import deferToThreadPool
        from twisted.python.threadpool import ThreadPool

        pool = ThreadPool(1, 1)
        pool.start()
        try:
            body = {"default": {"kind": "failure"}, "numbers": {ORDER.msisdn: {"kind": "success"}}}
            shown = yield deferToThreadPool(provider.reactor, pool, post, body)
            mine = yield gateway.topup(ORDER)
            theirs = yield gateway.topup(other)
            return shown, mine, theirs
        finally:
            pool.stop()

    shown, mine, theirs = provider.run(work)
    assert shown["default"]["kind"] == "failure"
    assert shown["numbers"][ORDER.msisdn]["kind"] == "success"
    assert (mine.kind, theirs.kind) == (OutcomeKind.SUCCEEDED, OutcomeKind.FAILED)


def test_a_bad_fault_is_refused_whole():
    from simulators.airtime import AirtimeFaultError, AirtimeProvider

    provider = AirtimeProvider(SelectReactor())
    with pytest.raises(AirtimeFaultError, match=r"numbers\.254712000001\.kind"):
        provider.configure(
            {"default": {"kind": "failure"}, "numbers": {"254712000001": {"kind": "nope"}}}
        )
    assert provider.default == AirtimeFault()
