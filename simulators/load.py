"""Steady MO traffic from N virtual subscribers at R messages/s for D seconds, then a JSON summary.

A reply is a message a subscriber's phone received during the run. Each acknowledged MO is paired
with the first reply its subscriber received after the MO was injected and not paired with an
earlier MO (both stamped by the simulator's clock, so pairing and latency are right in-process and
over HTTP alike, and a reply seen before its MO's acknowledgement still counts). The summary says,
per run, how many MOs were `acknowledged`, how many `replies_received`, how many acknowledged MOs
got no reply (`missing_replies`) and how many replies had no MO to pair with (`extra_replies`):
one reply per acknowledged MO is `missing_replies == extra_replies == 0`, and always
acknowledged - missing_replies == replies_received - extra_replies. A run passes when every MO was
acknowledged and answered once (`shortfall` is empty): `smscore sim load` exits 1 otherwise, and a
console run is `failed`.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure

from simulators.store import BEYOND_LAST_SEQ, resume_from
from simulators.targets import Target

TICK_S = 0.05  # MOs go out in batches this often: smooth at any rate, few timer calls
DRAIN_POLL_S = 0.2  # after the last MO, how often the inboxes are read for the last replies
MS_PER_S = 1000


# 2547XXXXXXXX: every number in the block is a valid Kenyan mobile number, as the daemon requires.
LAST_MSISDN = 254_799_999_999


@dataclass(frozen=True, slots=True)
class LoadPlan:
    subscribers: int
    rate_per_s: float
    duration_s: float
    destination: str = "3456"
    text: str = "BAL"
    first_msisdn: int = 254_700_000_000  # subscribers are this number and the next ones
    # After the last MO, wait at most this long for the replies still owed (it ends as soon as every
    # acknowledged MO has one): long enough for a daemon restarted during the run to catch up.
    drain_s: float = 30.0
    max_in_flight: int = 2_000  # MOs not yet acknowledged; beyond it the rate drops

    def __post_init__(self) -> None:
        if self.subscribers < 1 or self.rate_per_s <= 0 or self.duration_s <= 0:
            raise ValueError("subscribers, rate and duration must be positive")
        if self.first_msisdn + self.subscribers - 1 > LAST_MSISDN:
            room = LAST_MSISDN - self.first_msisdn + 1
            raise ValueError(
                f"at most {room} subscribers from {self.first_msisdn}: past {LAST_MSISDN} numbers are not mobile"
            )

    @property
    def total(self) -> int:
        return int(self.rate_per_s * self.duration_s)

    def is_subscriber(self, msisdn: str) -> bool:
        return msisdn.isdigit() and 0 <= int(msisdn) - self.first_msisdn < self.subscribers


@dataclass
class LoadTally:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    replies: int = 0
    in_flight: int = 0


@dataclass(frozen=True, slots=True)
class Pairing:
    latencies_s: list[float]
    missing_replies: int
    extra_replies: int


@dataclass
class ReplyPairing:
    """Acknowledged MOs and replies per subscriber, paired once the run is over."""

    _injected_s: dict[str, list[float]] = field(default_factory=dict)
    _replied_s: dict[str, list[float]] = field(default_factory=dict)
    _unanswered: int = 0  # sum over subscribers of acknowledged MOs beyond their replies

    def acknowledged(self, msisdn: str, injected_at_s: float) -> None:
        injected = self._injected_s.setdefault(msisdn, [])
        if len(injected) >= len(self._replied_s.get(msisdn, ())):
            self._unanswered += 1
        injected.append(injected_at_s)

    def replied(self, msisdn: str, submitted_at_s: float) -> None:
        replied = self._replied_s.setdefault(msisdn, [])
        if len(replied) < len(self._injected_s.get(msisdn, ())):
            self._unanswered -= 1
        replied.append(submitted_at_s)

    @property
    def all_replied(self) -> bool:
        """As many replies as acknowledged MOs for every subscriber (the drain may stop)."""
        return self._unanswered == 0

    def pair(self) -> Pairing:
        latencies_s: list[float] = []
        missing = extra = 0
        for msisdn in self._injected_s.keys() | self._replied_s.keys():
            injected = sorted(self._injected_s.get(msisdn, ()))
            waiting: deque[float] = deque()
            next_mo = 0
            for reply_s in sorted(self._replied_s.get(msisdn, ())):
                while next_mo < len(injected) and injected[next_mo] <= reply_s:
                    waiting.append(injected[next_mo])
                    next_mo += 1
                if waiting:
                    latencies_s.append(reply_s - waiting.popleft())
                else:
                    extra += 1
            missing += len(waiting) + len(injected) - next_mo
        return Pairing(latencies_s, missing, extra)


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
        self.pairing = ReplyPairing()
        self._owed = 0.0
        self._next_subscriber = 0
        self._cursor = 0

    @inlineCallbacks
    def run(self) -> Any:
        stats_before = yield self.target.stats()
        _, self._cursor = yield self.target.messages_since(BEYOND_LAST_SEQ)
        sender = LoopingCall(self._tick)
        sender.clock = self.reactor
        started = sender.start(TICK_S, now=True)
        yield deferLater(self.reactor, self.plan.duration_s, lambda: None)
        sender.stop()
        yield started
        deadline_s = self.reactor.seconds() + self.plan.drain_s
        while self.reactor.seconds() < deadline_s and not self._all_answered():
            yield self._collect_replies()
            yield deferLater(self.reactor, DRAIN_POLL_S, lambda: None)
        yield self._collect_replies()
        stats_after = yield self.target.stats()
        return self.summary(stats_after["dlr_acknowledged"] - stats_before["dlr_acknowledged"])

    def _all_answered(self) -> bool:
        return self.tally.in_flight == 0 and self.pairing.all_replied

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
        self.pairing.acknowledged(msisdn, answer["injected_at"])

    def _failed(self, failure: Failure) -> None:
        self.tally.in_flight -= 1
        self.tally.failed += 1

    def _collect_replies(self) -> Deferred:
        return self.target.messages_since(self._cursor).addCallback(self._take_replies)

    def _take_replies(self, answer: tuple[list[dict[str, Any]], int]) -> None:
        messages, last_seq = answer
        self._cursor = resume_from(self._cursor, messages, last_seq)
        for message in messages:
            if self.plan.is_subscriber(message["msisdn"]):
                self.tally.replies += 1
                self.pairing.replied(message["msisdn"], message["submitted_at"])

    def summary(self, dlrs: int) -> dict[str, Any]:
        pairing = self.pairing.pair()
        latencies_ms = sorted(latency * MS_PER_S for latency in pairing.latencies_s)
        return {
            "subscribers": self.plan.subscribers,
            "rate_per_s": self.plan.rate_per_s,
            "duration_s": self.plan.duration_s,
            "sent": self.tally.sent,
            "acknowledged": self.tally.acknowledged,
            "failed": self.tally.failed,
            "replies_received": self.tally.replies,
            "missing_replies": pairing.missing_replies,
            "extra_replies": pairing.extra_replies,
            "dlrs": dlrs,
            "latency_ms_p50": percentile(latencies_ms, 50),
            "latency_ms_p90": percentile(latencies_ms, 90),
            "latency_ms_p99": percentile(latencies_ms, 99),
            "latency_ms_max": percentile(latencies_ms, 100),
        }


def shortfall(summary: dict[str, Any]) -> list[str]:
    """What kept a run from passing (every MO acknowledged and answered once); [] when it passed."""
    short = [
        f"{summary[key]} {key.replace('_', ' ')}"
        for key in ("failed", "missing_replies", "extra_replies")
        if summary[key]
    ]
    unacknowledged = summary["sent"] - summary["acknowledged"] - summary["failed"]
    if unacknowledged:
        short.insert(0, f"{unacknowledged} not acknowledged")
    return short


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100) in integers
    return round(ordered[int(rank) - 1], 3)
