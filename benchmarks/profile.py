"""Where a message's CPU goes: benchmarks/e2e.py's run (the daemon as `smscore run`, the SMSC simulator
in this process, open-loop BAL at a fixed rate) with the daemon under py-spy (`pip install py-spy`;
no root needed: it starts the daemon as its child), every sample attributed to one stage.

py-spy samples every thread it does not find idle, with native frames, from outside the process
(so it never holds the GIL itself). A thread blocked in C (waiting for the GIL or a lock, fsync,
epoll) is still sampled by its native mode; such samples (innermost frames in WAIT_MARKS) are no
CPU and are set apart. On a loaded machine a thread waiting for a CPU is sampled too: that only
inflates every stage alike, so the CPU samples are scaled to the daemon's measured CPU (utime +
stime from /proc): a stage's CPU per message is its share of the CPU samples times the daemon's CPU
over the MOs sent (each MO brings its reply and the reply's receipt).

A sample goes to the first stage found walking from its innermost frame outwards:
- `garbage collection` if the collector is running (gc_collect_main), whoever allocated;
- `database driver (SQLite)` if any frame is in the sqlite3 module or libsqlite3 (the statement,
  the commit's write); `driver_by_caller` then says whose statement it was;
- else the innermost frame of ours (or of a library named in STAGE_RULES) that a rule names; helper
  frames (SQLAlchemy, ledger.fastpath, daemon.clock) are skipped, so SQLAlchemy's work counts for the
  stage that called it (`sqlalchemy_by_stage` says how much of each stage it was);
- `start-up` for samples under an import or the migrations (not counted per message).

    .venv/bin/python -m benchmarks.profile [--rate 1000] [--duration 20] [--sample-hz 100]

Prints one JSON object: the run's figures (benchmarks.e2e), CPU ms per message by stage (slowest
first, `slowest_stage` named), by thread, the simulator's CPU per message (this process: the SMSC
simulator and the load generator), and the hottest innermost frames of ours.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import e2e

DRIVER = "database driver (SQLite)"
GC = "garbage collection"
START_UP = "start-up"
OTHER = "other"
# (path fragment of a frame's file, stage); the first rule a frame matches names its stage.
STAGE_RULES: tuple[tuple[str, str], ...] = (
    ("smscore/pdu", "codec"),
    ("smscore/codec", "codec"),
    ("smscore/tlv", "codec"),
    ("smscore/text", "codec"),
    ("smscore/concat", "codec"),
    ("smscore/smpptime", "codec"),
    ("smscore/", "SMPP protocol/session"),
    ("daemon/receipts", "receipts/DLR matching"),
    ("daemon/outbox/rollup", "receipts/DLR matching"),
    ("ledger/", "ledger"),
    ("daemon/commands/registry", "tranproc: command parse"),
    ("daemon/commands/types", "tranproc: command parse"),
    ("daemon/commands/normalise", "tranproc: command parse"),
    ("daemon/commands/msisdn", "tranproc: command parse"),
    ("phonenumbers/", "tranproc: command parse"),
    ("daemon/replies", "tranproc: reply render"),
    ("daemon/catalogues", "tranproc: reply render"),
    ("babel/", "tranproc: reply render"),
    ("daemon/commands/", "tranproc: BAL handler"),
    ("daemon/money/", "tranproc: BAL handler"),
    ("daemon/subscribers", "tranproc: subscriber and PIN"),
    ("hmac", "tranproc: subscriber and PIN"),
    ("daemon/repeats", "tranproc: repeats"),
    ("daemon/tranproc", "tranproc: batch"),
    ("daemon/masking", "tranproc: batch"),
    ("daemon/ussd/", "tranproc: batch"),
    ("daemon/security/", "tranproc: batch"),
    ("daemon/outbox/__init__", "outbox"),
    ("daemon/sender", "sender/submit"),
    ("daemon/submit", "sender/submit"),
    ("daemon/outbox/", "sender/submit"),
    ("daemon/lis", "LIS and inbox commit"),
    ("daemon/inbox_queue", "LIS and inbox commit"),
    ("daemon/binds", "LIS and inbox commit"),
    ("daemon/backpressure", "LIS and inbox commit"),
    ("daemon/metrics/", "metrics/logging"),
    ("daemon/logs", "metrics/logging"),
    ("daemon/log_lines", "metrics/logging"),
    ("daemon/correlation", "metrics/logging"),
    ("twisted/logger/", "metrics/logging"),
    ("prometheus_client/", "metrics/logging"),
    ("daemon/db", "transactions (daemon.db)"),
    ("twisted/", "Twisted reactor"),
    ("threading", "Twisted reactor"),
    ("queue.py", "Twisted reactor"),
    ("selectors", "Twisted reactor"),
    ("daemon/", "daemon, other"),
)
# Frames that do work for whoever called them: skipped, so the caller's stage gets the time.
HELPERS = ("sqlalchemy/", "ledger/fastpath", "daemon/clock", "daemon/deferreds", "<frozen abc>")
DRIVER_MARKS = ("libsqlite3", "sqlite3/", "(cursor.c", "(connection.c", "(statement.c",
                "(row.c", "(module.c", "(util.c", "_sqlite3")  # fmt: skip
GC_MARK = "gc_collect_main ("
START_UP_MARKS = ("importlib", "daemon/migrate", "alembic/")
WAITING = "waiting (not CPU)"
WAIT_MARKS = ("fdatasync (", "fsync (", "epoll_wait (", "pthread_cond_timedwait (",
              "pthread_cond_wait (", "PyThread_acquire_lock_timed (", "sem_wait (",
              "sem_timedwait (", "nanosleep (", "take_gil (", "poll (libc", "select (libc")  # fmt: skip
WAIT_DEPTH = 3  # how many innermost frames may show the wait


@dataclass
class Attribution:
    samples: int = 0
    waiting: int = 0  # of a thread blocked in C (WAIT_MARKS): no CPU, not counted below
    by_stage: Counter = field(default_factory=Counter)
    driver_by_caller: Counter = field(default_factory=Counter)
    sqlalchemy_by_stage: Counter = field(default_factory=Counter)
    by_thread: Counter = field(default_factory=Counter)
    frames: Counter = field(default_factory=Counter)  # innermost frame of ours, outside start-up


def frame_file(frame: str) -> str:
    """'name (path:line)' -> 'path:line' (native frames: 'lib.so')."""
    open_at = frame.rfind(" (")
    return frame[open_at + 2 : -1] if open_at >= 0 and frame.endswith(")") else frame


def stage_of_frame(frame: str) -> str | None:
    where = frame_file(frame)
    if any(helper in where for helper in HELPERS):
        return None
    for fragment, stage in STAGE_RULES:
        if fragment in where:
            return stage
    return None


def caller_stage(frames: list[str]) -> tuple[str, str | None]:
    """The stage of the innermost frame a rule names, and that frame (frames: outermost first)."""
    for frame in reversed(frames):
        stage = stage_of_frame(frame)
        if stage is not None:
            return stage, frame
    return OTHER, None


def classify(frames: list[str]) -> tuple[str, str, str | None]:
    """(stage, caller stage, innermost frame of ours) of one sample's stack, outermost first."""
    if any(mark in frame for frame in frames[-WAIT_DEPTH:] for mark in WAIT_MARKS):
        return WAITING, WAITING, None
    if any(mark in frame for frame in frames for mark in START_UP_MARKS):
        return START_UP, START_UP, None
    caller, ours = caller_stage(frames)
    if any(GC_MARK in frame for frame in frames):
        return GC, caller, ours
    if any(mark in frame for frame in frames for mark in DRIVER_MARKS):
        return DRIVER, caller, ours
    return caller, caller, ours


def _innermost_python_is_sqlalchemy(frames: list[str]) -> bool:
    for frame in reversed(frames):
        where = frame_file(frame)
        if ".py:" in where:
            return "sqlalchemy/" in where
    return False


def attribute(lines: Iterable[str]) -> Attribution:
    """Attribute py-spy's raw lines ('thread (tid): name;frame;...;frame count')."""
    result = Attribution()
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        stage, caller, ours = classify(frames)
        result.samples += count
        if stage == WAITING:
            result.waiting += count
            continue
        result.by_stage[stage] += count
        result.by_thread[thread.split(": ", 1)[-1]] += count
        if stage == DRIVER:
            result.driver_by_caller[caller] += count
        elif stage != START_UP and _innermost_python_is_sqlalchemy(frames):
            result.sqlalchemy_by_stage[stage] += count
        if stage != START_UP and ours is not None:
            result.frames[ours] += count
    return result


def per_message_ms(counts: Counter, ms_per_sample: float, top: int | None = None) -> dict:
    return {name: round(n * ms_per_sample, 4) for name, n in counts.most_common(top)}


def summary(attribution: Attribution, daemon_cpu_s: float, messages: int) -> dict[str, Any]:
    """CPU ms per message by stage, by thread, of the hottest frames: the CPU samples scaled to the
    daemon's measured CPU."""
    cpu_samples = attribution.samples - attribution.waiting
    if not cpu_samples or not messages:
        return {"error": "no samples (does py-spy work here?)"}
    ms_per_sample = daemon_cpu_s * 1000 / cpu_samples / messages
    stages = Counter(attribution.by_stage)
    start_up = stages.pop(START_UP, 0)
    return {
        "samples": attribution.samples,
        "waiting_samples": attribution.waiting,
        "start_up_cpu_s": round(start_up * ms_per_sample * messages / 1000, 2),
        "daemon_cpu_ms_per_message_running": round(sum(stages.values()) * ms_per_sample, 4),
        "stages_ms_per_message": per_message_ms(stages, ms_per_sample),
        "slowest_stage": stages.most_common(1)[0][0] if stages else None,
        "driver_by_caller_ms_per_message": per_message_ms(
            attribution.driver_by_caller, ms_per_sample
        ),
        "sqlalchemy_by_stage_ms_per_message": per_message_ms(
            attribution.sqlalchemy_by_stage, ms_per_sample
        ),
        "threads_ms_per_message": per_message_ms(attribution.by_thread, ms_per_sample),
        "hottest_frames_ms_per_message": per_message_ms(attribution.frames, ms_per_sample, 25),
    }


RUN_FIGURES = ("offered_rate_per_s", "measured_s", "sent", "replies", "replies_per_s",
               "latency_ms_p50", "latency_ms_p99", "ack_ms_p99", "drain_s", "daemon_cpu_s",
               "bench_cpu_s", "daemon_cpu_us_per_mo", "exactly_once")  # fmt: skip


def profile(plan: e2e.BenchPlan, sample_hz: int, raw_path: Path) -> dict[str, Any]:
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        return {"error": f"{py_spy} not found: pip install py-spy"}
    wrapper = (str(py_spy), "record", "--native", "--threads", "--format", "raw",
               "--rate", str(sample_hz), "--output", str(raw_path), "--")  # fmt: skip
    result = e2e.run(dataclasses.replace(plan, daemon_wrapper=wrapper))
    run = {name: result.get(name) for name in RUN_FIGURES}
    out: dict[str, Any] = {"machine": result["machine"], "run": run}
    out["machine"]["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    sent = result.get("sent") or 0
    if result.get("bench_cpu_s") is not None and sent:
        out["simulator_cpu_ms_per_message"] = round(result["bench_cpu_s"] * 1000 / sent, 4)
    if result.get("daemon_cpu_s") is not None and sent:
        out["daemon_cpu_ms_per_message"] = round(result["daemon_cpu_s"] * 1000 / sent, 4)
    if not raw_path.exists():
        out["error"] = (
            f"no profile written ({result.get('error') or result.get('daemon_log_tail')})"
        )
        return out
    with raw_path.open() as lines:
        attribution = attribute(lines)
    out.update(summary(attribution, result.get("daemon_cpu_s") or 0.0, sent))
    return out


def _number(text: str, least: float, strict: bool) -> float:
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(number) or number < least or (strict and number == least):
        bound = f"above {least:g}" if strict else f"at least {least:g}"
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number {bound}")
    return number


def _positive(text: str) -> float:
    return _number(text, 0.0, strict=True)


def _not_negative(text: str) -> float:
    return _number(text, 0.0, strict=False)


def _sample_hz(text: str) -> int:
    return int(_number(text, 1.0, strict=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="smscore bench profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rate", type=_positive, default=1000.0, help="BAL MOs per second")
    parser.add_argument("--duration", type=_positive, default=20.0, help="measured seconds")
    parser.add_argument(
        "--warmup", type=_not_negative, default=2.0, help="seconds sent, not measured"
    )
    parser.add_argument(
        "--sample-hz", type=_sample_hz, default=100, help="py-spy samples per second"
    )
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw stacks in this file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    plan = e2e.BenchPlan(rate_per_s=args.rate, duration_s=args.duration, warmup_s=args.warmup)
    with tempfile.TemporaryDirectory(prefix="smscore-profile-") as temporary:
        raw_path = args.raw or Path(temporary) / "daemon.raw"
        out = profile(plan, args.sample_hz, raw_path)
    print(json.dumps(out, indent=2))
    return 0 if out.get("run", {}).get("exactly_once") and "error" not in out else 1


if __name__ == "__main__":
    sys.exit(main())
