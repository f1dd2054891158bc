"""Steady MO traffic from N virtual subscribers at R messages/s for D seconds, then a JSON summary.

Latency is from an MO's injection to the next reply its subscriber's phone received, both stamped
by the simulator's clock (so it is right in-process and over HTTP alike).
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure

from simulators.targets import Target

TICK_S = 0.05


@dataclass(frozen=True, slots=True)
class LoadPlan:
    subscribers: int
    rate_per_s: float
    duration_s: float
    destination: str = "3456"
    text: str = "BAL"
    first_msisdn: int = 254_700_000_000
    drain_s: float = 5.0
    max_in_flight: int = 2_000

    def __post_init__(self) -> None:
        if self.subscribers < 1 or self.rate_per_s <= 0 or self.duration_s <= 0:
            raise ValueError("subscribers, rate and duration must be positive")

    @property
    def total(self) -> int:
        return int(self.rate_per_s * self.duration_s)


@dataclass
class LoadTally:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    replies: int = 0
    latencies_s: list[float] = field(default_factory=list)
    in_flight: int = 0


class LoadGenerator:
    def __init__(
        self,
        reactor: IReactorTime,
        target: Target,
        plan: LoadPlan,
        progress: Callable[[LoadTally], None] = lambda tally: None,
    ) -> None:
        self.reactor = reactor
        self.target = target
        self.plan = plan
        self.progress = progress
        self.tally = LoadTally()
        self._owed = 0.0
        self._next_subscriber = 0
        self._waiting: dict[str, deque[float]] = {}
        self._cursor = 0

    @inlineCallbacks
    def run(self) -> Any:
        stats_before = yield self.target.stats()
        _, self._cursor = yield self.target.messages_since(1 << 62)
        sender = LoopingCall(self._tick)
        sender.clock = self.reactor
        started = sender.start(TICK_S, now=True)
        yield deferLater(self.reactor, self.plan.duration_s, lambda: None)
        sender.stop()
        yield started
        deadline_s = self.reactor.seconds() + self.plan.drain_s
        while self.reactor.seconds() < deadline_s and not self._all_answered():
            yield self._collect_replies()
            yield deferLater(self.reactor, 0.2, lambda: None)
        yield self._collect_replies()
        stats_after = yield self.target.stats()
        return self.summary(stats_after["dlr_acknowledged"] - stats_before["dlr_acknowledged"])

    def _all_answered(self) -> bool:
        return self.tally.in_flight == 0 and not any(self._waiting.values())

    def _tick(self) -> Deferred | None:
        self._owed += self.plan.rate_per_s * TICK_S
        while self._owed >= 1 and self.tally.sent < self.plan.total:
            if self.tally.in_flight >= self.plan.max_in_flight:
                self._owed = min(self._owed, float(self.plan.max_in_flight))
                break
            self._owed -= 1
            self._send_one()
        self.progress(self.tally)
        return self._collect_replies()

    def _send_one(self) -> None:
        msisdn = str(self.plan.first_msisdn + self._next_subscriber)
        self._next_subscriber = (self._next_subscriber + 1) % self.plan.subscribers
        self.tally.sent += 1
        self.tally.in_flight += 1
        sent = self.target.send_mo(msisdn, self.plan.destination, self.plan.text, True)
        sent.addCallbacks(self._acknowledged, self._failed, callbackArgs=(msisdn,))

    def _acknowledged(self, answer: dict[str, Any], msisdn: str) -> None:
        self.tally.in_flight -= 1
        self.tally.acknowledged += 1
        self._waiting.setdefault(msisdn, deque()).append(answer["injected_at"])

    def _failed(self, failure: Failure) -> None:
        self.tally.in_flight -= 1
        self.tally.failed += 1

    def _collect_replies(self) -> Deferred:
        return self.target.messages_since(self._cursor).addCallback(self._match_replies)

    def _match_replies(self, answer: tuple[list[dict[str, Any]], int]) -> None:
        messages, last = answer
        self._cursor = max(self._cursor, last)
        for message in messages:
            waiting = self._waiting.get(message["msisdn"])
            if waiting:
                self.tally.replies += 1
                self.tally.latencies_s.append(message["submitted_at"] - waiting.popleft())

    def summary(self, dlrs: int) -> dict[str, Any]:
        latencies_ms = sorted(latency * 1000 for latency in self.tally.latencies_s)
        return {
            "subscribers": self.plan.subscribers,
            "rate_per_s": self.plan.rate_per_s,
            "duration_s": self.plan.duration_s,
            "sent": self.tally.sent,
            "acknowledged": self.tally.acknowledged,
            "failed": self.tally.failed,
            "replies_received": self.tally.replies,
            "dlrs": dlrs,
            "latency_ms_p50": percentile(latencies_ms, 50),
            "latency_ms_p90": percentile(latencies_ms, 90),
            "latency_ms_p99": percentile(latencies_ms, 99),
            "latency_ms_max": latencies_ms[-1] if latencies_ms else None,
        }


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return round(ordered[int(rank) - 1], 3)
