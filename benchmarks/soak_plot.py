"""The soak run drawn (matplotlib, no display needed): the daemon's RSS with its fitted line; the
intervals' latency p50/p95/p99 with the p99's fitted line; answers per second, queue depths and the
machine's load average. Minutes since the load started on the x axis; the warm-up is shaded."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.soak_stats import KIB_PER_MIB, slope_per_s, trend

QUEUE_LINES = ("inbox_new", "outbox_queued", "outbox_submitted", "moves_pending")


def _series(samples: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(s["t_s"] / 60, s[key]) for s in samples if s.get(key) is not None]
    return [t for t, _ in points], [v for _, v in points]


def _fitted(axis: Any, samples: list[dict[str, Any]], key: str, scale: float) -> None:
    steady = [
        (s["t_s"], s[key]) for s in samples if s["phase"] == "steady" and s.get(key) is not None
    ]
    slope = slope_per_s(steady)
    if slope is None:
        return
    times = [t for t, _ in steady]
    mean_t = sum(times) / len(times)
    mean_v = sum(v for _, v in steady) / len(steady)
    ends = [times[0], times[-1]]
    axis.plot([t / 60 for t in ends], [(mean_v + slope * (t - mean_t)) * scale for t in ends],
              "k--", linewidth=1, label="least squares (steady)")  # fmt: skip


def _memory(axis: Any, samples: list[dict[str, Any]]) -> None:
    times, rss = _series(samples, "daemon_rss_kib")
    axis.plot(times, [v / KIB_PER_MIB for v in rss], label="daemon RSS")
    _fitted(axis, samples, "daemon_rss_kib", 1 / KIB_PER_MIB)
    axis.set_ylabel("daemon RSS, MiB")


def _latency(axis: Any, samples: list[dict[str, Any]]) -> None:
    for key in ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "latency_ms_max"):
        style = ":" if key.endswith("max") else "-"
        axis.plot(*_series(samples, key), style, label=key.removeprefix("latency_ms_"))
    _fitted(axis, samples, "latency_ms_p99", 1.0)
    axis.set_ylabel("MO→reply ms (log)")
    axis.set_yscale("log")


def _queues(axis: Any, samples: list[dict[str, Any]]) -> None:
    for name in QUEUE_LINES:
        points = [(s["t_s"] / 60, s["queues"].get(name)) for s in samples if "queues" in s]
        axis.plot([t for t, _ in points], [v for _, v in points], label=f"{name} rows")
    axis.set_ylabel("rows waiting")
    load = axis.twinx()
    load.plot(*_series(samples, "loadavg_1m"), "r:", label="machine load average (1 min)")
    load.set_ylabel("load average", color="r")
    load.legend(loc="upper right", fontsize=7)


def _throughput(axis: Any, samples: list[dict[str, Any]]) -> None:
    axis.plot(*_series(samples, "answered_per_s"), label="MOs answered per s")
    axis.plot(*_series(samples, "daemon_cpu_pct"), label="daemon CPU % of a core")
    axis.set_ylabel("per s / %")
    axis.set_xlabel("minutes since the load started (shaded: warm-up, not in the slopes)")


def write_plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    samples = result["samples"]
    plan, summary = result["plan"], result["summary"]
    figure, axes = pyplot.subplots(4, 1, sharex=True, figsize=(10, 11))
    for draw, axis in zip((_memory, _latency, _queues, _throughput), axes, strict=True):
        draw(axis, samples)
        axis.axvspan(0, plan["warmup_s"] / 60, color="0.9", zorder=0)
        axis.legend(loc="upper left", fontsize=7)
        axis.grid(alpha=0.3)
    machine = result["machine"]
    axes[0].set_title(
        f"smscore soak {machine.get('date', '')}: {plan['rate_per_s']:g} MO/s, mix {_mix(plan)},"
        f" {machine.get('cores')} cores: {summary['verdict']} (RSS slope"
        f" {summary['rss_slope_mib_per_h']} MiB/h, p99 slope {summary['p99_slope_ms_per_min']}"
        f" ms/min)\n{_load(summary)}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot.close(figure)


def _load(summary: dict[str, Any]) -> str:
    """The machine's load beside the figures: on a shared machine it explains the latency."""
    load = summary.get("loadavg_1m")
    if not load:
        return ""
    return (
        f"machine load average {load['min']}-{load['max']} (median {load['median']}) during the run"
    )


def _mix(plan: dict[str, Any]) -> str:
    return ",".join(f"{kind}={round(share * 100)}" for kind, share in plan["mix"])


def main(argv: list[str] | None = None) -> int:
    """python -m benchmarks.soak_plot RESULT.json OUT.png [--warmup-s N]: redraw a saved run's JSON,
    its trend recomputed from the samples (a run kept from older code gets today's figures; with
    --warmup-s, samples up to N s are taken as warm-up instead of the run's own); prints the
    summary."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("result", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--warmup-s", type=float, help="re-phase the samples with this warm-up")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    result = json.loads(args.result.read_text())
    plan = result["plan"]
    if args.warmup_s is not None:
        plan["warmup_s"] = args.warmup_s
        for sample in result["samples"]:
            if sample["phase"] != "drain":
                sample["phase"] = "warmup" if sample["t_s"] <= args.warmup_s else "steady"
    result["summary"].update(
        trend(result["samples"], plan["rss_bound_mib_per_h"], plan["p99_bound_ms_per_min"])
    )
    write_plot(result, args.out)
    print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
