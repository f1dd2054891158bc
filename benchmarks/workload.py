"""`smscore bench workload NAME`: one standard workload against the real daemon and the SMSC simulator
over 127.0.0.1; one JSON object.

The runner every workload shares: the simulator in this process (its airtime provider on HTTP for
the mix), `smscore run` as its own process (SQLite WAL in a temporary directory), the customers
seeded in bulk beforehand (e2e.seed_database: the ledger's batch API and executemany; `seed_s`),
the load offered open loop (MO i due at start + i / rate, benchmarks.live; USSD dialogues:
benchmarks.ussd_load), a drain until the daemon is quiet (no MO unhandled, no SMS unsent or
awaiting its receipt, no move open) and the phones too, then the daemon stopped and the exactly-once
check read from its database (benchmarks.answers). Figures: offered and sustained rate (answers
that arrived inside the measured window, per second), latency from the moment an MO was due to
its answer on the phone, the daemon's CPU per MO (utime+stime from /proc over the run / MOs),
SMS per request (MT / MO), its peak RSS (VmHWM), the load average at start and end.

Workloads (benchmarks.traffic has the texts and the mix's weights):
- bal: BAL only;
- send: SEND between random subscribers among --accounts (1,000,000), DLR-gated posting on;
- mix: SEND, DEPOSIT, WITHDRAW, PAY, BUY, BAL, REQ and 5 % malformed texts, DLR-gated posting;
- mix-encrypted: the mix, every sender an enrolled app device, each MO its encrypted frame;
- ussd: USSD dialogues (My balance; Send money) through the simulator's USSD subscribers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import e2e, traffic

WORKLOADS = ("bal", "send", "mix", "mix-encrypted", "ussd")
DEFAULT_ACCOUNTS = {"bal": 10_000, "send": 1_000_000, "mix": 100_000, "mix-encrypted": 10_000,
                    "ussd": 10_000}  # fmt: skip
ON_DELIVERY = {"send": ["SEND", "WITHDRAW"], "mix": ["SEND", "WITHDRAW", "PAY"]}
USSD_DIALECT = "dialog"  # 32-bit session keys: thousands of dialogues at once


@dataclass(frozen=True)
class WorkloadPlan:
    workload: str = "bal"
    rate_per_s: float = 200.0
    duration_s: float = 30.0
    warmup_s: float = 2.0
    accounts: int | None = None  # None: the workload's default
    seed: int = 1
    drain_s: float = 60.0
    grace_s: float = 0.5
    window: int = 10
    keep_dir: Path | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS:
            raise ValueError(f"no workload {self.workload!r}; one of {', '.join(WORKLOADS)}")
        if self.rate_per_s <= 0 or self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("--rate and --duration must be positive, --warmup not negative")
        if self.accounts is not None and self.accounts < 2:
            raise ValueError("--accounts must be at least 2")

    @property
    def account_count(self) -> int:
        return self.accounts or DEFAULT_ACCOUNTS[self.workload]

    @property
    def total(self) -> int:
        return int(self.rate_per_s * (self.warmup_s + self.duration_s))

    @property
    def warmup_count(self) -> int:
        return int(self.rate_per_s * self.warmup_s)

    @property
    def mix_like(self) -> bool:
        return self.workload in ("mix", "mix-encrypted")


def planned_mos(plan: WorkloadPlan) -> list[traffic.Mo]:
    accounts, total, seed = plan.account_count, plan.total, plan.seed
    if plan.workload == "bal":
        return traffic.plan_bal(accounts, total, seed)
    if plan.workload == "send":
        return traffic.plan_send(accounts, total, seed)
    return traffic.plan_mix(accounts, total, seed)


def config_extra(plan: WorkloadPlan) -> str:
    on_delivery = ON_DELIVERY.get("mix" if plan.mix_like else plan.workload)
    if on_delivery is None:
        return ""
    return f"\n[money]\npost_on_delivery = {on_delivery!r}\n".replace("'", '"')


# --- the daemon process's figures (Linux /proc) ----------------------------------------------------


def process_cpu_s(pid: int) -> float | None:
    return e2e.cpu_seconds(pid)


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM: the most resident memory the process had at any time."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def loadavg() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


# --- figures ---------------------------------------------------------------------------------------


def rates_and_latency(
    plan: WorkloadPlan,
    due_at: Callable[[int], float],
    answer_at: list[float | None],
    start_s: float,
) -> dict[str, Any]:
    """Sustained rate: answers that arrived in the measured window, per second; latency from each
    measured MO's due time to its answer."""
    window_start = start_s + plan.warmup_s
    window_end = window_start + plan.duration_s
    in_window = sum(1 for at in answer_at if at is not None and window_start <= at < window_end)
    latencies = sorted(
        (at - due_at(index)) * 1000
        for index, at in enumerate(answer_at)
        if at is not None and index >= plan.warmup_count
    )
    return {
        "offered_rate_per_s": plan.rate_per_s,
        "sustained_rate_per_s": round(in_window / plan.duration_s, 1),
        "latency_ms": {
            "p50": e2e.percentile(latencies, 50),
            "p95": e2e.percentile(latencies, 95),
            "p99": e2e.percentile(latencies, 99),
            "max": round(latencies[-1], 1) if latencies else None,
        },
        "answered": sum(1 for at in answer_at if at is not None),
    }


def daemon_figures(
    before: dict[str, Any], after: dict[str, Any], mos: int, idle_probe_s: float
) -> dict[str, Any]:
    """CPU over the run (from the bind to the drained end) per MO; the idle CPU per second (the
    daemon's timers and pollers, measured for `idle_probe_s` after the run) and the CPU per MO
    above it, which at a low rate is most of the difference."""
    figures: dict[str, Any] = {"cpu_s": None, "cpu_ms_per_mo": None,
                               "peak_rss_mib": after.get("peak_rss_mib")}  # fmt: skip
    if before.get("cpu_s") is None or after.get("cpu_s") is None:
        return figures
    cpu_s = after["cpu_s"] - before["cpu_s"]
    run_s = after["at_s"] - before["at_s"]
    figures.update(cpu_s=round(cpu_s, 2), run_s=round(run_s, 2))
    if mos:
        figures["cpu_ms_per_mo"] = round(cpu_s / mos * 1000, 3)
    if after.get("idle_end_cpu_s") is not None and mos:
        idle_per_s = (after["idle_end_cpu_s"] - after["cpu_s"]) / idle_probe_s
        figures["idle_cpu_ms_per_s"] = round(idle_per_s * 1000, 1)
        figures["cpu_ms_per_mo_above_idle"] = round((cpu_s - idle_per_s * run_s) / mos * 1000, 3)
    return figures


def run(plan: WorkloadPlan) -> dict[str, Any]:
    """The whole workload on the global reactor (once per process); returns the JSON result."""
    from benchmarks import workload_run

    result: dict[str, Any] = {
        "workload": plan.workload,
        "machine": e2e.machine(),
        "plan": {"rate_per_s": plan.rate_per_s, "duration_s": plan.duration_s,
                 "warmup_s": plan.warmup_s, "accounts": plan.account_count, "seed": plan.seed},
        "loadavg_start": loadavg(),
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix=f"smscore-bench-{plan.workload}-") as temporary:
        work = plan.keep_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        workload_run.execute(plan, work, result)
    result["loadavg_end"] = loadavg()
    return result


def exactly_once(result: dict[str, Any]) -> bool:
    return bool(result.get("exactly_once", {}).get("ok"))


def main(plan: WorkloadPlan, json_out: Path | None = None) -> int:
    """Run, print the JSON on stdout (and to `json_out`); 0 when exactly once held, else 1."""
    result = run(plan)
    text = json.dumps(result, indent=2)
    if json_out is not None:
        json_out.write_text(text + "\n")
    print(text)
    return 0 if exactly_once(result) else 1
