"""The callback deliverer driven by task.Clock with a scripted HTTP layer (tests/api/
callback_helpers.FakeHttp) on SQLite and PostgreSQL: a receiver down for a while then up, 500s,
timeouts and refusals, the attempts and the backoff as configured, failure after the last attempt,
a crash while sending, the bound on PUTs in flight, refused URLs, the signature and the headers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher

from daemon.api.callback_keys import callback_key_path, master_key
from daemon.api.callback_rows import LOST_SENDER, Attempt
from daemon.api.callbacks import CallbackDeliverer
from daemon.api.errors import iso_time
from daemon.config import Config, build_config
from daemon.db import InlineDatabase
from tests.api.callback_helpers import (
    BODY,
    CORRELATION_ID,
    FakeHttp,
    Put,
    add_business_row,
    queue,
    receiver_secret,
    row,
    signature_valid,
)

NS = 1_000_000_000
SETTINGS = {
    "callback_first_retry_s": 5.0,
    "callback_backoff": 2.0,
    "callback_max_interval_s": 3600.0,
    "callback_max_attempts": 5,
    "callback_interval_s": 1.0,
    "callback_timeout_s": 10.0,
    "callback_max_in_flight": 3,
}
REFUSED = Attempt(None, "ConnectionRefusedError: Connection was refused by other side")


@dataclass
class Bench:
    engine: Engine
    clock: Clock
    config: Config
    http: FakeHttp
    business_id: int
    start_s: float

    def deliverer(
        self, http: FakeHttp | None = None, jitter: float = 0.0, clock: Clock | None = None
    ) -> CallbackDeliverer:
        return CallbackDeliverer(
            clock or self.clock, InlineDatabase(self.engine), self.config, http or self.http,
            master_key(self.config), jitter=lambda: jitter,
        )  # fmt: skip

    def started(self, http: FakeHttp | None = None, jitter: float = 0.0) -> CallbackDeliverer:
        deliverer = self.deliverer(http, jitter)
        deliverer.start()
        self.clock.advance(0)  # its first claim
        return deliverer

    def doomed(self) -> Clock:
        """A process that claims now, then dies: its own clock, never advanced again."""
        clock = Clock()
        clock.advance(self.clock.seconds())
        self.deliverer(clock=clock).start()
        clock.advance(0)
        return clock

    def queue(self, **kw) -> int:
        return queue(self.engine, self.business_id, int(self.clock.seconds() * NS), **kw)

    def run_for(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)

    def put_times(self, puts: list[Put] | None = None) -> list[float]:
        return [put.at_s - self.start_s for put in (self.http.puts if puts is None else puts)]


def make_bench(engine: Engine, clock: Clock, tmp_path: Path, **api) -> Bench:
    config = build_config({"service": {"state_dir": str(tmp_path)}, "api": {**SETTINGS, **api}})
    with engine.begin() as conn:
        business_id = add_business_row(conn, "ACME", int(clock.seconds() * NS))
    return Bench(engine, clock, config, FakeHttp(clock.seconds), business_id, clock.seconds())


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1_700_000_000)
    return clock


@pytest.fixture
def bench(engine: Engine, clock: Clock, tmp_path: Path) -> Bench:
    return make_bench(engine, clock, tmp_path)


def answers(*script: Attempt):
    """The receiver's answers in turn; the last one again and again."""
    given = list(script)

    def answer(put: Put) -> Attempt:
        return given.pop(0) if len(given) > 1 else given[0]

    return answer


def test_receiver_down_then_up_gets_it_once_after_the_configured_backoff(bench):
    bench.http.answer = answers(REFUSED, REFUSED, REFUSED, Attempt(204))
    callback_id = bench.queue()
    bench.started()
    bench.run_for(200)
    # 5 s, then 10 s, then 20 s after each failed attempt (first_retry 5, backoff 2, no jitter).
    assert bench.put_times() == [0, 5, 15, 35]
    found = row(bench.engine, callback_id)
    assert (found.state, found.attempts, found.last_status) == ("delivered", 4, 204)
    assert found.delivered_at_ns == int((bench.start_s + 35) * NS)
    bench.clock.advance(5000)  # a tick long after: anything due would be claimed by it
    assert len(bench.http.puts) == 4  # delivered once, never again


def test_each_put_is_signed_with_the_business_secret_and_carries_the_headers(bench):
    bench.queue()
    bench.started()
    [put] = bench.http.puts
    assert put.url == "https://receiver.example/callbacks" and put.body == BODY
    assert put.headers["Content-Type"] == "application/json"
    assert put.headers["X-CorrelationID"] == CORRELATION_ID
    assert put.headers["X-Date"] == iso_time(int(bench.start_s * NS))
    key_file = callback_key_path(bench.config)
    secret = receiver_secret(key_file, "ACME", 1)
    date, signature = put.headers["X-Date"], put.headers["X-Signature"]
    assert signature_valid(secret, date, BODY, signature)
    assert not signature_valid(receiver_secret(key_file, "ACME", 2), date, BODY, signature)
    assert not signature_valid(receiver_secret(key_file, "OTHER", 1), date, BODY, signature)
    assert not signature_valid(secret, date, BODY + b" ", signature)
    # the date is signed: a captured callback replayed later under a fresh X-Date fails
    assert not signature_valid(secret, iso_time(int((bench.start_s + 60) * NS)), BODY, signature)


def test_no_correlation_id_header_when_the_client_sent_none(bench):
    bench.queue(correlation_id=None)
    bench.started()
    assert "X-CorrelationID" not in bench.http.puts[0].headers


def test_http_500_is_retried_until_the_last_attempt_then_failed(bench):
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        bench.http.answer = answers(Attempt(500, "HTTP 500"))
        callback_id = bench.queue()
        deliverer = bench.started()
        bench.run_for(500)
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert bench.put_times() == [0, 5, 15, 35, 75]  # 5 attempts (callback_max_attempts)
    found = row(bench.engine, callback_id)
    assert (found.state, found.attempts, found.last_status) == ("failed", 5, 500)
    assert found.last_error == "HTTP 500"
    assert deliverer.status().counters["failed"] == 1
    assert deliverer.status().counters["retry"] == 4
    logged = " ".join(formatEvent(event) for event in events)
    assert f"callback {callback_id} of business ACME failed after 5 attempt(s): HTTP 500" in logged
    secret = receiver_secret(callback_key_path(bench.config), "ACME", 1)
    master = callback_key_path(bench.config).read_text().strip()
    assert secret.hex() not in logged and master not in logged


def test_timeouts_and_refusals_are_retried_with_their_reason_kept(bench):
    timeout = Attempt(None, "no answer within 10 s")
    bench.http.answer = answers(timeout, REFUSED, Attempt(200))
    callback_id = bench.queue()
    bench.started()
    found = row(bench.engine, callback_id)
    assert (found.state, found.last_status, found.last_error) == ("pending", None, timeout.error)
    assert found.next_at_ns == int((bench.start_s + 5) * NS)
    bench.run_for(5)
    assert row(bench.engine, callback_id).last_error == REFUSED.error
    bench.run_for(10)
    found = row(bench.engine, callback_id)
    assert (found.state, found.attempts, found.last_status) == ("delivered", 3, 200)


def test_backoff_is_capped_and_jittered_earlier_only(engine, clock, tmp_path):
    bench = make_bench(engine, clock, tmp_path, callback_max_interval_s=8.0)
    bench.http.answer = answers(REFUSED)
    callback_id = bench.queue()
    bench.started(jitter=0.5)  # each wait 10% shorter (JITTER 0.2 * 0.5)
    bench.run_for(60)
    # 5 s, 10 s -> cap 8 s, 20 s -> cap 8 s ...: each * 0.9, and claimed on the next tick.
    assert bench.put_times() == [0, 5, 13, 21, 29]
    assert row(bench.engine, callback_id).state == "failed"


def test_a_crash_while_sending_is_sent_again_after_the_lease(bench):
    callback_id = bench.queue()
    lost: Deferred = Deferred()
    bench.http.answer = lambda put: lost  # the process stalls, its lease runs out
    bench.doomed()
    assert row(bench.engine, callback_id).state == "sending"
    answer: Deferred = Deferred()
    again = FakeHttp(bench.clock.seconds, answer=lambda put: answer)
    bench.started(again)  # a new process
    bench.run_for(14)
    assert again.puts == []  # the lease: callback_timeout_s + 5 s
    bench.run_for(1)
    assert [put.at_s - bench.start_s for put in again.puts] == [15]
    lost.callback(Attempt(204))  # the old claim's answer, late: not recorded over the new claim
    found = row(bench.engine, callback_id)
    assert (found.state, found.attempts, found.last_status) == ("sending", 2, None)
    answer.callback(Attempt(500, "HTTP 500"))
    found = row(bench.engine, callback_id)
    assert (found.state, found.attempts, found.last_status) == ("pending", 2, 500)


def test_a_crash_during_the_last_attempt_fails_the_callback(engine, clock, tmp_path):
    bench = make_bench(engine, clock, tmp_path, callback_max_attempts=1)
    callback_id = bench.queue()
    bench.http.answer = lambda put: Deferred()
    bench.doomed()
    again = FakeHttp(bench.clock.seconds)
    bench.started(again)
    bench.run_for(30)
    found = row(bench.engine, callback_id)
    assert (found.state, found.attempts, found.last_error) == ("failed", 1, LOST_SENDER)
    assert again.puts == []


def test_at_most_max_in_flight_puts_at_once(bench):
    waiting: list[Deferred] = []

    def answer(put: Put) -> Deferred:
        waiting.append(Deferred())
        return waiting[-1]

    bench.http.answer = answer
    ids = [bench.queue() for _ in range(7)]
    deliverer = bench.started()
    bench.run_for(30)
    assert len(bench.http.puts) == 3 and deliverer.status().counters["in_flight"] == 3
    waiting[0].callback(Attempt(204))
    bench.clock.advance(0)  # a finished PUT makes room: the next claim at once
    assert len(bench.http.puts) == 4
    while len(bench.http.puts) < 7 or any(not d.called for d in waiting):
        next(d for d in waiting if not d.called).callback(Attempt(204))
        bench.clock.advance(0)
        assert deliverer.status().counters["in_flight"] <= 3
    assert {row(bench.engine, i).state for i in ids} == {"delivered"}
    assert len(bench.http.puts) == 7


def test_a_refused_url_fails_at_once_and_others_still_go(bench):
    bad = [
        bench.queue(url="ftp://receiver.example/x"),
        bench.queue(url="http://receiver.example/plain"),  # plain http, not a test host
        bench.queue(url="https://user:pw@receiver.example/x"),
    ]
    good = bench.queue(url="http://127.0.0.1:9999/ok")  # a callback_http_hosts host
    bench.started()
    assert [put.url for put in bench.http.puts] == ["http://127.0.0.1:9999/ok"]
    assert row(bench.engine, good).state == "delivered"
    for callback_id in bad:
        found = row(bench.engine, callback_id)
        assert (found.state, found.attempts) == ("failed", 1)
        assert found.last_error.startswith("URL refused: ")
        assert "pw" not in found.last_error


def test_stop_waits_for_the_puts_under_way(bench):
    answer: Deferred = Deferred()
    bench.http.answer = lambda put: answer
    callback_id = bench.queue()
    deliverer = bench.started()
    stopped: list = []
    deliverer.stop().addBoth(stopped.append)
    assert stopped == []
    answer.callback(Attempt(204))
    assert stopped == [None] and bench.http.closed
    assert row(bench.engine, callback_id).state == "delivered"
    bench.queue()
    bench.run_for(10)
    assert len(bench.http.puts) == 1  # stopped: nothing more claimed


class HeldClaims(InlineDatabase):
    """Runs each claim at once but hands its result over only when the test releases it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.held: list[tuple[Deferred, object]] = []

    def run_interaction(self, desc, fn, *args):
        done = super().run_interaction(desc, fn, *args)
        if desc != "callbacks.claim":
            return done
        held: Deferred = Deferred()
        done.addCallback(lambda result: self.held.append((held, result)))
        return held

    def release(self) -> None:
        held, result = self.held.pop(0)
        held.callback(result)


def test_stop_during_a_claim_sends_what_it_took_and_waits_for_it(bench):
    answer: Deferred = Deferred()
    bench.http.answer = lambda put: answer
    callback_id = bench.queue()
    database = HeldClaims(bench.engine)
    deliverer = CallbackDeliverer(
        bench.clock, database, bench.config, bench.http, master_key(bench.config)
    )
    deliverer.start()
    bench.clock.advance(0)
    stopped: list = []
    deliverer.stop().addBoth(stopped.append)
    database.release()  # the claim comes back after the stop: its row is sent all the same
    assert len(bench.http.puts) == 1 and stopped == []
    answer.callback(Attempt(204))
    assert stopped == [None] and bench.http.closed
    assert row(bench.engine, callback_id).state == "delivered"
