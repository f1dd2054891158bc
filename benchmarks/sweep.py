"""`smscore bench sweep`: one workload at rising offered rates, each rate in a process of its own
(`python -m benchmarks workload ...`: the reactor runs once per process), then the knee and a plot.

Rates: `--rates 500,1000,2000`, or doubling from `--start` until the workload saturates (its
sustained rate under 95 % of the offered) or `--max-rate`. The knee is the highest offered rate
whose sustained rate is at least 95 % of it and whose p99 latency is under the bound (None: no rate
was). The PNG (matplotlib, Agg) draws p50 and p99 latency (log scale) and the sustained rate
against the offered rate, the knee marked. Prints one JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUSTAINED_SHARE = 0.95
POINT_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class SweepSettings:
    workload: str = "bal"
    rates: tuple[float, ...] | None = None  # None: doubling from start_rate
    start_rate: float = 250.0
    max_rate: float = 16_000.0
    p99_bound_ms: float = 100.0
    duration_s: float = 30.0
    warmup_s: float = 2.0
    accounts: int | None = None
    seed: int = 1
    drain_s: float = 60.0
    progress: bool = False
    plot: Path = Path("sweep.png")

    def __post_init__(self) -> None:
        if self.start_rate <= 0 or self.max_rate < self.start_rate:
            raise ValueError("--start must be positive and at most --max-rate")
        if self.p99_bound_ms <= 0:
            raise ValueError("--p99-bound-ms must be positive")


def parse_rates(text: str | None) -> tuple[float, ...] | None:
    """ "500,1000" -> (500.0, 1000.0); None or "" -> None (doubling)."""
    if not text:
        return None
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--rates: {text!r} is not a comma-separated list of numbers") from None
    if not rates or any(rate <= 0 for rate in rates):
        raise ValueError("--rates: every rate must be positive")
    return tuple(sorted(rates))


def point_of(result: dict[str, Any]) -> dict[str, Any]:
    """The figures of one rate's workload JSON that the sweep keeps."""
    latency = result.get("latency_ms") or {}
    return {
        "offered_rate_per_s": result.get(
            "offered_rate_per_s", result.get("plan", {}).get("rate_per_s")
        ),
        "sustained_rate_per_s": result.get("sustained_rate_per_s"),
        "latency_ms_p50": latency.get("p50"),
        "latency_ms_p95": latency.get("p95"),
        "latency_ms_p99": latency.get("p99"),
        "latency_ms_max": latency.get("max"),
        "cpu_ms_per_mo": (result.get("daemon") or {}).get("cpu_ms_per_mo"),
        "peak_rss_mib": (result.get("daemon") or {}).get("peak_rss_mib"),
        "exactly_once": bool((result.get("exactly_once") or {}).get("ok")),
        "loadavg_start": result.get("loadavg_start"),
        "loadavg_end": result.get("loadavg_end"),
        "error": result.get("error"),
    }


def keeps_up(point: dict[str, Any]) -> bool:
    offered, sustained = point["offered_rate_per_s"], point["sustained_rate_per_s"]
    return bool(offered) and sustained is not None and sustained >= SUSTAINED_SHARE * offered


def knee(points: Sequence[dict[str, Any]], p99_bound_ms: float) -> dict[str, Any] | None:
    """The point of the highest offered rate that keeps up with p99 under the bound."""
    good = [
        point for point in points
        if keeps_up(point) and point["latency_ms_p99"] is not None
        and point["latency_ms_p99"] < p99_bound_ms
    ]  # fmt: skip
    return max(good, key=lambda point: point["offered_rate_per_s"], default=None)


def rates_to_run(settings: SweepSettings) -> Callable[[list[dict[str, Any]]], float | None]:
    """The next rate given the points so far (None: done)."""

    def given(points: list[dict[str, Any]]) -> float | None:
        assert settings.rates is not None
        return settings.rates[len(points)] if len(points) < len(settings.rates) else None

    def doubling(points: list[dict[str, Any]]) -> float | None:
        if not points:
            return settings.start_rate
        last = points[-1]
        following = last["offered_rate_per_s"] * 2
        if not keeps_up(last) or following > settings.max_rate:
            return None
        return following

    return given if settings.rates is not None else doubling


def run_point(settings: SweepSettings, rate: float) -> dict[str, Any]:
    """One rate, in its own process; its JSON (or an error)."""
    with tempfile.TemporaryDirectory(prefix="smscore-sweep-") as temporary:
        out = Path(temporary) / "point.json"
        command = [
            sys.executable, "-m", "benchmarks", "workload", settings.workload,
            "--rate", f"{rate:g}", "--duration", f"{settings.duration_s:g}",
            "--warmup", f"{settings.warmup_s:g}", "--seed", str(settings.seed),
            "--drain", f"{settings.drain_s:g}", "--json-out", str(out),
            "--progress" if settings.progress else "--no-progress",
        ]  # fmt: skip
        if settings.accounts is not None:
            command += ["--accounts", str(settings.accounts)]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, timeout=POINT_TIMEOUT_S)
        if not out.exists():
            return {"offered_rate_per_s": rate, "error": f"exit status {done.returncode}"}
        return json.loads(out.read_text())


def sweep(
    settings: SweepSettings, run: Callable[[SweepSettings, float], dict[str, Any]] | None = None
) -> dict[str, Any]:
    run = run or run_point
    next_rate = rates_to_run(settings)
    points: list[dict[str, Any]] = []
    while (rate := next_rate(points)) is not None:
        points.append(point_of(run(settings, rate)))
    found = knee(points, settings.p99_bound_ms)
    return {
        "workload": settings.workload,
        "p99_bound_ms": settings.p99_bound_ms,
        "sustained_share": SUSTAINED_SHARE,
        "duration_s": settings.duration_s,
        "points": points,
        "knee": found,
    }


def plot(result: dict[str, Any], path: Path) -> Path:
    """Latency (p50, p99; log scale) and sustained rate against offered rate, the knee marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [p for p in result["points"] if p.get("sustained_rate_per_s") is not None]
    offered = [p["offered_rate_per_s"] for p in points]
    figure, (latency, rate) = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    for key, label in (("latency_ms_p50", "p50"), ("latency_ms_p99", "p99")):
        latency.plot(offered, [p[key] for p in points], marker="o", label=label)
    latency.axhline(result["p99_bound_ms"], color="grey", linestyle=":", label="p99 bound")
    latency.set(xlabel="offered rate (/s)", ylabel="latency (ms)", yscale="log",
                title=f"{result['workload']}: latency")  # fmt: skip
    rate.plot(offered, [p["sustained_rate_per_s"] for p in points], marker="o", label="sustained")
    rate.plot(offered, offered, color="grey", linestyle=":", label="offered")
    rate.set(xlabel="offered rate (/s)", ylabel="rate (/s)", title=f"{result['workload']}: rate")
    found = result.get("knee")
    if found is not None:
        for axis in (latency, rate):
            axis.axvline(found["offered_rate_per_s"], color="red", alpha=0.4, label="knee")
    for axis in (latency, rate):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def main(settings: SweepSettings, json_out: Path | None = None) -> int:
    from benchmarks import e2e
    from benchmarks.workload import loadavg

    started = {"machine": e2e.machine(), "loadavg_start": loadavg()}
    result = {**started, **sweep(settings), "loadavg_end": loadavg()}
    result["plot"] = str(plot(result, settings.plot))
    text = json.dumps(result, indent=2)
    if json_out is not None:
        json_out.write_text(text + "\n")
    print(text)
    return 0 if all(point["exactly_once"] for point in result["points"]) else 1
