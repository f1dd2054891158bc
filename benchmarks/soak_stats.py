"""The soak benchmark's figures: one sample per interval (the daemon's memory, CPU and queues, the
interval's latencies and counts), and the summary: the least-squares slope of RSS and of p99
latency over the steady part of the run, and the verdict.

Kept apart from benchmarks/soak.py, which drives the processes, so the arithmetic can be read (and
tested) without a daemon.
"""

from __future__ import annotations

import math
import os
import statistics
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import e2e

KIB_PER_MIB = 1024
# The verdict's bounds, per unit of time so they read the same for any run length. A leak of even
# 100 bytes per MO at 200 MO/s is ~69 MiB/h, far above the RSS bound; a queue that backs up by a
# little every minute shows in the p99 slope long before it is seen by eye.
RSS_SLOPE_BOUND_MIB_PER_H = 10.0
P99_SLOPE_BOUND_MS_PER_MIN = 2.0


def rss_kib(pid: int | str) -> int | None:
    """Resident memory of a process (Linux /proc/PID/status VmRSS), KiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def queue_depths(metrics_text: str) -> dict[str, int]:
    """`smscore_queue_depth` of a /metrics answer as {"inbox_new": rows, "outbox_queued": ...}."""
    from prometheus_client.parser import text_string_to_metric_families

    depths: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "smscore_queue_depth":
            continue
        for sample in family.samples:
            depths[f"{sample.labels['queue']}_{sample.labels['state']}"] = int(sample.value)
    return depths


@dataclass
class Interval:
    """What happened since the last sample (reset at each one)."""

    sent: int = 0
    acked: int = 0
    answered: int = 0
    notices: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def figures(self, seconds: float) -> dict[str, Any]:
        latency = e2e.latency_summary(self.latencies_ms, "latency")
        return {
            "sent": self.sent,
            "acknowledged": self.acked,
            "answered": self.answered,
            "notices": self.notices,
            "answered_per_s": round(self.answered / seconds, 1) if seconds > 0 else None,
            **latency,
        }


@dataclass
class Totals:
    sent: int = 0
    acked: int = 0
    ack_failed: int = 0
    answered: int = 0
    notices: int = 0
    unexpected: int = 0
    replies_by_kind: dict[str, int] = field(default_factory=dict)
    sent_by_kind: dict[str, int] = field(default_factory=dict)
    other_samples: list[str] = field(default_factory=list)  # a few replies neither kind
    unexpected_samples: list[str] = field(default_factory=list)  # a few with no MO waiting
    latencies_ms: array = field(default_factory=lambda: array("d"))  # every answer, compact

    def unexpected_reply(self, text: str) -> None:
        """A message to a phone with no MO waiting that is no notice (an SMSC re-delivery answered
        again, or a second reply)."""
        self.unexpected += 1
        if len(self.unexpected_samples) < 5:
            self.unexpected_samples.append(text[:100])

    def reply(self, kind: str, text: str) -> None:
        self.replies_by_kind[kind] = self.replies_by_kind.get(kind, 0) + 1
        if kind == "other" and len(self.other_samples) < 5:
            self.other_samples.append(text[:100])


def slope_per_s(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t_s, value) points, per second; None with fewer than 3 points."""
    fitted = fit(points)
    return None if fitted is None else fitted[0]


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(slope, its standard error) of the least-squares line, per second; None below 3 points."""
    if len(points) < 3:
        return None
    times, values = zip(*points, strict=True)
    if len(set(times)) < 2:
        return None
    line = statistics.linear_regression(times, values)
    mean_t = statistics.fmean(times)
    spread = sum((t - mean_t) ** 2 for t in times)
    residual = sum((v - line.intercept - line.slope * t) ** 2 for t, v in points)
    return line.slope, math.sqrt(residual / (len(points) - 2) / spread)


def _steady(samples: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    return [
        (sample["t_s"], sample[key])
        for sample in samples
        if sample["phase"] == "steady" and sample.get(key) is not None
    ]


def _per(points: list[tuple[float, float]], scale: float) -> tuple[float | None, float | None]:
    fitted = fit(points)
    return (None, None) if fitted is None else (fitted[0] * scale, fitted[1] * scale)


def trend(
    samples: list[dict[str, Any]],
    rss_bound_mib_per_h: float = RSS_SLOPE_BOUND_MIB_PER_H,
    p99_bound_ms_per_min: float = P99_SLOPE_BOUND_MS_PER_MIN,
) -> dict[str, Any]:
    """The slopes of the steady samples and the verdict: "flat" when both are within bounds."""
    rss = _steady(samples, "daemon_rss_kib")
    p99 = _steady(samples, "latency_ms_p99")
    rss_per_h = 3600 / KIB_PER_MIB
    rss_slope, rss_error = _per(rss, rss_per_h)
    p99_slope, p99_error = _per(p99, 60.0)
    # Memory that grows while caches fill, then stops, shows as a smaller slope here.
    late_rss_slope, _ = _per(rss[len(rss) // 2 :], rss_per_h)
    rss_flat = None if rss_slope is None else rss_slope <= rss_bound_mib_per_h
    p99_flat = None if p99_slope is None else p99_slope <= p99_bound_ms_per_min
    if rss_flat is None or p99_flat is None:
        verdict = "too short"  # fewer than 3 steady samples of either figure
    else:
        verdict = "flat" if rss_flat and p99_flat else "not flat"
    loads = [s["loadavg_1m"] for s in samples if s["phase"] == "steady"]
    return {
        "verdict": verdict,
        "bounds": {
            "rss_slope_mib_per_h": rss_bound_mib_per_h,
            "p99_slope_ms_per_min": p99_bound_ms_per_min,
        },
        "rss_flat": rss_flat,
        "p99_flat": p99_flat,
        "rss_slope_mib_per_h": _rounded(rss_slope, 2),
        "rss_slope_stderr_mib_per_h": _rounded(rss_error, 2),
        "rss_slope_mib_per_h_second_half": _rounded(late_rss_slope, 2),
        "p99_slope_ms_per_min": _rounded(p99_slope, 3),
        "p99_slope_stderr_ms_per_min": _rounded(p99_error, 3),
        "steady_samples": len(rss),
        "daemon_rss_mib": _spread([value for _, value in rss], 1 / KIB_PER_MIB),
        "latency_ms_p99_of_intervals": _spread([value for _, value in p99], 1.0),
        "loadavg_1m": _spread(loads, 1.0),
    }


def summary(
    samples: list[dict[str, Any]],
    totals: Totals,
    rss_bound_mib_per_h: float = RSS_SLOPE_BOUND_MIB_PER_H,
    p99_bound_ms_per_min: float = P99_SLOPE_BOUND_MS_PER_MIN,
) -> dict[str, Any]:
    """The run in a few figures: the trend, the latency of every answer, the counts."""
    return {
        **trend(samples, rss_bound_mib_per_h, p99_bound_ms_per_min),
        **e2e.latency_summary(list(totals.latencies_ms), "latency"),
        **counts(totals),
    }


def counts(totals: Totals) -> dict[str, Any]:
    return {
        "sent": totals.sent,
        "sent_by_kind": dict(totals.sent_by_kind),
        "acknowledged": totals.acked,
        "ack_failed": totals.ack_failed,
        "answered": totals.answered,
        "notices": totals.notices,
        "unexpected_replies": totals.unexpected,
        "replies_by_kind": dict(totals.replies_by_kind),
        "other_reply_samples": list(totals.other_samples),
        "unexpected_reply_samples": list(totals.unexpected_samples),
        # Every MO acknowledged and answered. A reply more (unexpected) is the answer to an MO the
        # SMSC delivered again, its deliver_sm_resp late: see the simulator's mo_redelivered.
        "all_answered": totals.sent == totals.acked == totals.answered and totals.ack_failed == 0,
    }


def _spread(values: list[float], scale: float) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "first": round(values[0] * scale, 1),
        "min": round(min(values) * scale, 1),
        "median": round(statistics.median(values) * scale, 1),
        "max": round(max(values) * scale, 1),
        "last": round(values[-1] * scale, 1),
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def loadavg_1m() -> float:
    return round(os.getloadavg()[0], 2)
