"""The run's plan, drawn up front from its seed: when each fault switches on, for how long and with
which parameters, and when the daemon is killed. The same seed gives the same plan (the daemon's own
timing is real time, so a replay repeats the plan, not every interleaving: as Jepsen, not as
TigerBeetle's VOPR, whose whole world is simulated).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from daemon.chaos.world import ROLLBACK_TIMEOUT_S

# Each kind of fault and how to draw its parameters. Simulator faults are simulators.faults names.
FAULT_KINDS = (
    "dropped_links",
    "throttling",
    "lost_responses",
    "delayed_responses",
    "generic_nacks",
    "redelivered_mos",
    "lost_receipts",
    "late_receipts",
    "undelivered_replies",
    "airtime_failures",
    "db_lock",
)
AIRTIME_KINDS = ("failure", "timeout", "slow", "error_5xx")


@dataclass(frozen=True, slots=True)
class Episode:
    kind: str
    start_s: float  # from the start of the load
    duration_s: float
    params: dict[str, Any]

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class Plan:
    seed: int
    duration_s: float
    episodes: tuple[Episode, ...]
    kills_at_s: tuple[float, ...]
    restart_delays_s: tuple[float, ...]


def fault_params(kind: str, rng: random.Random) -> dict[str, Any]:
    """A fault's parameters: what the simulator, the airtime provider or the lock holder is told."""
    draw = {
        "dropped_links": lambda: {"drop_connection": {"after_pdus": rng.randint(3, 40)}},
        "throttling": lambda: {"throttle": {"probability": round(rng.uniform(0.1, 0.5), 2)}},
        "lost_responses": lambda: {"withhold": {"probability": round(rng.uniform(0.05, 0.2), 2)}},
        "delayed_responses": lambda: {
            "delay": {"delay_s": round(rng.uniform(0.2, 1.5), 2), "probability": 0.3}
        },
        "generic_nacks": lambda: {
            "generic_nack": {"probability": round(rng.uniform(0.05, 0.2), 2)}
        },
        "redelivered_mos": lambda: {"redeliver": {"probability": round(rng.uniform(0.1, 0.4), 2)}},
        "lost_receipts": lambda: {
            "lose_receipts": {"probability": round(rng.uniform(0.2, 0.7), 2)}
        },
        "late_receipts": lambda: {"delay_s": round(ROLLBACK_TIMEOUT_S + rng.uniform(0.5, 3.0), 2)},
        "undelivered_replies": lambda: {"undeliv": round(rng.uniform(0.2, 0.5), 2)},
        "airtime_failures": lambda: _airtime_fault(rng),
        "db_lock": lambda: {},
    }
    return draw[kind]()


def _airtime_fault(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(AIRTIME_KINDS)
    fault: dict[str, Any] = {"kind": kind}
    if kind == "timeout":
        fault["succeed_after_queries"] = rng.randint(0, 2)  # bought; queries say so in the end
    elif kind == "slow":
        fault["delay_s"] = round(rng.uniform(0.2, 2.5), 2)  # beyond timeout_s: queried
    elif kind == "error_5xx":
        fault["times"] = rng.randint(1, 3)
    return fault


def make_plan(
    seed: int, duration_s: float, kills: int, mean_gap_s: float = 1.5, min_kill_gap_s: float = 3.0
) -> Plan:
    """Fault episodes at exponential gaps (mean `mean_gap_s`), each 0.5-6 s long (a database lock
    0.5-3 s: longer than the daemon's busy timeout sometimes), and `kills` SIGKILLs spread over
    the run at least `min_kill_gap_s` apart."""
    rng = random.Random(seed)
    episodes: list[Episode] = []
    at_s = rng.expovariate(1 / mean_gap_s)
    while at_s < duration_s:
        kind = rng.choice(FAULT_KINDS)
        length_s = rng.uniform(0.5, 3.0) if kind == "db_lock" else rng.uniform(0.5, 6.0)
        episodes.append(Episode(kind, round(at_s, 2), round(length_s, 2), fault_params(kind, rng)))
        at_s += rng.expovariate(1 / mean_gap_s)
    return Plan(seed, duration_s, tuple(episodes), *_kills(rng, duration_s, kills, min_kill_gap_s))


def _kills(
    rng: random.Random, duration_s: float, kills: int, min_gap_s: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if kills <= 0:
        return (), ()
    slot_s = duration_s / kills
    times = [
        round(index * slot_s + rng.uniform(0.2, max(0.3, slot_s - min_gap_s)), 2)
        for index in range(kills)
    ]
    delays = tuple(round(rng.uniform(0.05, 1.0), 2) for _ in range(kills))
    return tuple(times), delays
