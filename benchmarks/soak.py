"""Soak benchmark: the real daemon at a steady offered rate for a long time; do its memory and its
MO→reply latency stay flat?

`smscore run` runs as its own process (SQLite in a temporary directory, subscribers seeded straight
into it before it starts, as benchmarks/e2e.py does); the SMSC simulator and the load run in this
process on the real reactor, through e2e's harness. Open loop: MO i is due at start + i / rate and is
injected then, a mix of `BAL` and `SEND` (from a random seeded subscriber to a random other, a random
amount, no (payer, payee, amount) twice) chosen by `--mix`. Receipts come back at once, so each SEND
is posted (the daemon's default holds it until its confirmation is delivered) and its payee told.

Every `--sample-s` seconds it records: the daemon's RSS (/proc/PID/status VmRSS) and CPU time, this
process's RSS (simulator and load), the 1-minute load average, the queue depths from the daemon's
/metrics (`smscore_queue_depth`: inbox new, outbox queued/in_flight/submitted, moves pending...),
and for the interval: MOs sent, acknowledged (deliver_sm_resp) and answered (the reply reached the
sender's phone), notices to payees, and latency p50/p95/p99/max from the moment each answered MO
was due. After `--duration-s` of sending it waits for the last replies (at most `--drain-s`).

The summary fits a least-squares line through the steady samples (after `--warmup-s`) of the
daemon's RSS and of the intervals' p99 latency; `verdict` is "flat" when the RSS slope is at most
`--rss-bound` MiB per hour and the p99 slope at most `--p99-bound` ms per minute ("too short" with
fewer than 3 steady samples). Prints one JSON object; `--plot FILE` draws it (matplotlib; redraw a
saved JSON with `python -m benchmarks.soak_plot`), `--samples-file FILE` appends each sample as it
is taken, `--tracemalloc DIR` traces the daemon's allocations (benchmarks/soak_tracemalloc.py).
Exit status 0 when every MO was acknowledged and answered, whatever the verdict (an MO the SMSC
delivered again, its deliver_sm_resp late, is answered again: counted as `unexpected_replies`).

    smscore bench soak [--rate 200] [--duration-s 1800] [--mix BAL=50,SEND=50] [--plot soak.png]
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import e2e, soak_stats
from benchmarks.soak_stats import Interval, Totals

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorTime

    from simulators.simulator import Simulator
    from simulators.store import HandsetMessage

PIN = e2e.PIN
FIRST_MSISDN = e2e.FIRST_MSISDN
KINDS = ("BAL", "SEND")
# What the phones show (English: the seeded subscribers' language).
NOTICE_MARK = " You have received "  # to a SEND's payee: not an answer to an MO of theirs
REPLY_MARKS = {"balance": " balance is ", "confirmation": " sent to "}
METRICS_TIMEOUT_S = 5.0
BACKREFS_TIMEOUT_S = 600.0  # walking every object of a traced daemon is slow


@dataclass(frozen=True)
class SoakPlan:
    rate_per_s: float = 200.0
    duration_s: float = 1800.0
    sample_s: float = 10.0
    warmup_s: float = 60.0  # samples before this are not in the slopes
    mix: tuple[tuple[str, float], ...] = (("BAL", 0.5), ("SEND", 0.5))
    subscribers: int = 50_000
    opening_minor: int = 500_000  # KES 5,000: under the balance cap, far above a run's SENDs
    amount_min: int = 10  # whole units
    amount_max: int = 200
    seed: int = 1
    drain_s: float = 60.0
    grace_s: float = 1.0
    window: int = 10
    rss_bound_mib_per_h: float = soak_stats.RSS_SLOPE_BOUND_MIB_PER_H
    p99_bound_ms_per_min: float = soak_stats.P99_SLOPE_BOUND_MS_PER_MIN
    keep_dir: Path | None = None
    samples_file: Path | None = None  # each sample appended as a JSON line when it is taken
    tracemalloc_dir: Path | None = None  # the daemon under benchmarks.soak_tracemalloc
    plot: Path | None = None

    @property
    def total(self) -> int:
        return int(self.rate_per_s * self.duration_s)

    @property
    def send_share(self) -> float:
        return dict(self.mix).get("SEND", 0.0)

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.duration_s <= 0 or self.sample_s <= 0:
            raise ValueError("--rate, --duration-s and --sample-s must be positive")
        if self.subscribers < 2 or not 1 <= self.amount_min <= self.amount_max:
            raise ValueError("at least 2 subscribers; 1 <= amount min <= amount max")


def parse_mix(text: str) -> tuple[tuple[str, float], ...]:
    """ "BAL=60,SEND=40" -> (("BAL", 0.6), ("SEND", 0.4)): weights, normalised."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        kind = kind.strip().upper()
        if kind not in KINDS:
            raise ValueError(f"--mix: {kind!r} is not one of {', '.join(KINDS)}")
        try:
            weights[kind] = float(weight)
        except ValueError:
            raise ValueError(f"--mix: {part.strip()!r} needs a number after '='") from None
        if weights[kind] < 0:
            raise ValueError(f"--mix: {kind} has a negative weight")
    whole = sum(weights.values())
    if whole <= 0:
        raise ValueError("--mix: the weights add up to nothing")
    return tuple((kind, weights[kind] / whole) for kind in KINDS if kind in weights)


class Traffic:
    """MO after MO from a seeded random stream: (sender, text, kind)."""

    def __init__(self, plan: SoakPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self._sent: set[int] = set()  # (payer, payee, amount) as one int: none twice

    def next(self) -> tuple[str, str, str]:
        plan, rng = self.plan, self.rng
        if rng.random() >= plan.send_share:
            sender = rng.randrange(plan.subscribers)
            return str(FIRST_MSISDN + sender), f"BAL {PIN}", "BAL"
        while True:
            payer, payee = rng.sample(range(plan.subscribers), 2)
            amount = rng.randint(plan.amount_min, plan.amount_max)
            key = (payer * plan.subscribers + payee) * (plan.amount_max + 1) + amount
            if key not in self._sent:
                self._sent.add(key)
                return (
                    str(FIRST_MSISDN + payer),
                    f"SEND {FIRST_MSISDN + payee} {amount} {PIN}",
                    "SEND",
                )


class SoakLoad:
    """Offers the MOs when due and matches each reply to its sender's oldest unanswered MO."""

    def __init__(self, reactor: IReactorTime, simulator: Simulator, plan: SoakPlan) -> None:
        self.reactor = reactor
        self.simulator = simulator
        self.plan = plan
        self.traffic = Traffic(plan)
        self.tally = Totals()  # `tally.sent`: what e2e.drive_load watches
        self.interval = Interval()
        self.start_s = 0.0
        self._waiting: dict[str, deque[float]] = {}
        self._cursor = simulator.handsets.last_seq

    def due_at(self, index: int) -> float:
        return self.start_s + index / self.plan.rate_per_s

    def tick(self) -> None:
        now_s = self.reactor.seconds()
        tally = self.tally
        while tally.sent < self.plan.total and self.due_at(tally.sent) <= now_s:
            due = self.due_at(tally.sent)
            msisdn, text, kind = self.traffic.next()
            tally.sent += 1
            tally.sent_by_kind[kind] = tally.sent_by_kind.get(kind, 0) + 1
            self.interval.sent += 1
            self._waiting.setdefault(msisdn, deque()).append(due)
            acked = self.simulator.inject_mo(msisdn, e2e.SHORT_CODE, text)
            acked.addCallbacks(self._acked, self._ack_failed)

    def _acked(self, _result: Any) -> None:
        self.tally.acked += 1
        self.interval.acked += 1

    def _ack_failed(self, _failure: Any) -> None:
        self.tally.ack_failed += 1

    def collect(self) -> None:
        handsets = self.simulator.handsets
        newest = handsets.last_seq
        if newest != self._cursor:
            for message in handsets.since(self._cursor, newest - self._cursor):
                self._received(message)
            self._cursor = newest

    def _received(self, message: HandsetMessage) -> None:
        tally = self.tally
        if NOTICE_MARK in message.text:
            tally.notices += 1
            self.interval.notices += 1
            return
        waiting = self._waiting.get(message.msisdn)
        if not waiting:
            tally.unexpected_reply(message.text)
            return
        due = waiting.popleft()
        if not waiting:
            del self._waiting[message.msisdn]  # bounded by the MOs in flight, not by subscribers
        latency_ms = (message.delivered_at_s - due) * 1000
        tally.answered += 1
        tally.latencies_ms.append(latency_ms)
        self.interval.answered += 1
        self.interval.latencies_ms.append(latency_ms)
        kind = next((k for k, mark in REPLY_MARKS.items() if mark in message.text), "other")
        tally.reply(kind, message.text)

    def done(self) -> bool:
        tally = self.tally
        confirmations = tally.replies_by_kind.get("confirmation", 0)
        return (
            tally.sent >= self.plan.total
            and tally.answered >= tally.sent
            and (tally.notices >= confirmations)
        )


class Sampler:
    """Every sample_s: the daemon's memory, CPU and queues, and the load's interval figures."""

    def __init__(self, load: SoakLoad, daemon_pid: int, status_port: int) -> None:
        self.load = load
        self.daemon_pid = daemon_pid
        self.status_port = status_port
        self.samples: list[dict[str, Any]] = []
        self._last_s = 0.0
        self._last_cpu_s = 0.0

    def phase(self, t_s: float) -> str:
        plan = self.load.plan
        if t_s <= plan.warmup_s:
            return "warmup"
        return "steady" if t_s <= plan.duration_s + plan.sample_s / 2 else "drain"

    def sample(self, final: bool = False) -> None:
        """Take one; `final`: the last, while the daemon stops (its queues are not asked for)."""
        from twisted.internet.threads import deferToThread

        load = self.load
        t_s = round(load.reactor.seconds() - load.start_s, 2)  # as recorded: phases re-derivable
        cpu_s = e2e.cpu_seconds(self.daemon_pid)
        seconds = t_s - self._last_s
        record: dict[str, Any] = {
            "t_s": t_s,
            "phase": self.phase(t_s),
            "daemon_rss_kib": soak_stats.rss_kib(self.daemon_pid),
            "daemon_cpu_s": cpu_s,
            "daemon_cpu_pct": None
            if cpu_s is None
            else round((cpu_s - self._last_cpu_s) / seconds * 100, 1),
            "bench_rss_kib": soak_stats.rss_kib("self"),
            "loadavg_1m": soak_stats.loadavg_1m(),
            **load.interval.figures(seconds),
        }
        load.interval = Interval()
        self._last_s, self._last_cpu_s = t_s, cpu_s or 0.0
        self.samples.append(record)
        if final:
            self._write_line(record)
            return
        fetched = deferToThread(self._queues)
        fetched.addCallback(record.update).addErrback(
            lambda failure: record.update(queues_error=failure.getErrorMessage())
        )
        fetched.addBoth(lambda _: self._write_line(record))

    def _write_line(self, record: dict[str, Any]) -> None:
        """Each sample as it is complete, one JSON line: a long run can be watched (and a run that
        dies keeps its samples) before the JSON at the end."""
        if self.load.plan.samples_file is not None:
            with self.load.plan.samples_file.open("a") as lines:
                lines.write(json.dumps(record) + "\n")

    def _queues(self) -> dict[str, Any]:
        import urllib.request

        url = f"http://127.0.0.1:{self.status_port}/metrics"
        with urllib.request.urlopen(url, timeout=METRICS_TIMEOUT_S) as response:
            return {"queues": soak_stats.queue_depths(response.read().decode())}


def _drive(plan: SoakPlan, work: Path, result: dict[str, Any]) -> tuple[SoakLoad, Sampler] | None:
    """Seed, start the daemon, run the load and the sampler on the reactor, stop the daemon."""
    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall
    from twisted.internet.threads import deferToThread

    # Bounded stores: the run's messages would otherwise all be kept in this process.
    simulator = e2e.make_simulator(
        reactor, max_messages=50_000, max_pending_deliveries=200_000, max_inbox_per_msisdn=1
    )
    port = simulator.start_listening().smpp[1]
    status_port = e2e.free_port()
    config_path = work / "smscore.toml"
    config_path.write_text(e2e.daemon_config_text(work / "state", port, plan.window, status_port))
    seed_s = e2e.seed_database(config_path, plan.subscribers, opening_minor=plan.opening_minor,
                               name="Soak Subscriber")  # fmt: skip
    result["seed_s"] = round(seed_s, 2)
    daemon = e2e.start_daemon(config_path, work / "daemon.log", _wrapper(plan))
    made: dict[str, Any] = {}

    def make_load() -> SoakLoad:
        load = made["load"] = SoakLoad(reactor, simulator, plan)
        sampler = made["sampler"] = Sampler(load, daemon.pid, status_port)
        made["loop"] = LoopingCall(sampler.sample)
        made["loop"].clock = reactor
        made["loop"].start(plan.sample_s, now=False)
        return load

    def stop_daemon() -> None:  # blocking: on a thread, the simulator answers the unbind
        result["daemon_cpu_s"] = e2e.cpu_seconds(daemon.pid)
        result["daemon_exit"] = e2e.stop_daemon(daemon)

    def stop(outcome: Any) -> None:
        if "loop" in made and made["loop"].running:
            made["loop"].stop()
            # The last interval too: every MO and every answer is in a sample.
            made["sampler"].sample(final=True)
        if not isinstance(outcome, tuple):
            result["error"] = outcome.getErrorMessage()
        stopped = _backrefs_first(plan, daemon)
        stopped.addCallback(lambda _: deferToThread(stop_daemon))
        stopped.addErrback(lambda failure: result.update(error=failure.getErrorMessage()))
        stopped.addBoth(lambda _: simulator.stop()).addBoth(lambda _: reactor.stop())

    traced = plan.tracemalloc_dir is not None  # a traced daemon starts slowly
    bind_timeout_s = e2e.BIND_TIMEOUT_S * (10 if traced else 1)
    done = e2e.drive_load(reactor, simulator, plan, daemon, make_load, SoakLoad.done,
                          bind_timeout_s=bind_timeout_s)  # fmt: skip
    done.addBoth(stop)
    reactor.run()  # stops by itself: every wait in drive_load has a timeout, then stop() runs
    result["simulator"] = {k: v for k, v in simulator.stats().items() if isinstance(v, int)}
    if "load" not in made:
        return None
    return made["load"], made["sampler"]


def _backrefs_first(plan: SoakPlan, daemon: subprocess.Popen) -> Deferred:
    """Traced: ask the daemon what keeps the memory that grew (SIGUSR1), wait for its answer."""
    from twisted.internet import reactor
    from twisted.internet.defer import succeed

    from benchmarks.soak_tracemalloc import BACKREFS_FILE

    if plan.tracemalloc_dir is None or daemon.poll() is not None:
        return succeed(None)
    answer = plan.tracemalloc_dir / BACKREFS_FILE
    os.kill(daemon.pid, signal.SIGUSR1)
    return e2e._wait_until(reactor, answer.exists, BACKREFS_TIMEOUT_S, poll_s=0.5)


def _wrapper(plan: SoakPlan) -> tuple[str, ...]:
    if plan.tracemalloc_dir is None:
        return ()
    interval_s = str(max(plan.sample_s, 30.0))  # a snapshot holds the GIL for a while
    return (sys.executable, "-m", "benchmarks.soak_tracemalloc", "--dir",
            str(plan.tracemalloc_dir), "--start-after-s", str(plan.warmup_s),
            "--interval-s", interval_s, "--")  # fmt: skip


def database_counts(db_path: Path) -> dict[str, Any]:
    """The daemon's rows by status, read after it stopped: every inbox row should be done."""
    with sqlite3.connect(db_path) as conn:
        inbox = dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
        outbox = dict(
            conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        )
        moves = dict(conn.execute("SELECT state, count(*) FROM moves GROUP BY state").fetchall())
    return {"inbox_by_status": inbox, "outbox_by_status": outbox, "moves_by_state": moves,
            "db_bytes": db_path.stat().st_size}  # fmt: skip


def machine() -> dict[str, Any]:
    """e2e's machine figures, with the CPU model and the RAM (Linux)."""
    found = e2e.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found["cpu_model"] = next(
            line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
            if line.startswith("model name")
        )  # fmt: skip
        meminfo = Path("/proc/meminfo").read_text().split()
        found["ram_mib"] = int(meminfo[meminfo.index("MemTotal:") + 1]) // 1024
    except (OSError, StopIteration, ValueError):
        pass
    return found


def run(plan: SoakPlan) -> dict[str, Any]:
    """The whole soak on the global reactor (once per process); returns the result."""
    plan_json = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(plan).items()}
    result: dict[str, Any] = {"benchmark": "soak", "machine": machine(), "plan": plan_json}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smscore-soak-") as temporary:
        work = plan.keep_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        driven = _drive(plan, work, result)
        log = (work / "daemon.log").read_text(errors="replace").splitlines()
        result["daemon_log_tail"] = log[-5:]
        if driven is None:
            result["summary"] = {"verdict": "no run", "all_answered": False}
            return result
        load, sampler = driven
        result["database"] = database = database_counts(work / "state" / "smscore.db")
        sends = load.tally.sent_by_kind.get("SEND", 0)
        # Each SEND one move, posted, and one notice to its payee, even when the SMSC delivered
        # it twice; every inbox row (re-deliveries too) done.
        result["sends_posted_once"] = (
            database["moves_by_state"] == ({"posted": sends} if sends else {})
            and load.tally.notices == sends
            and set(database["inbox_by_status"]) <= {"done"}
        )
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["samples"] = sampler.samples
    result["summary"] = soak_stats.summary(
        sampler.samples, load.tally, plan.rss_bound_mib_per_h, plan.p99_bound_ms_per_min
    )
    if plan.plot is not None:
        from benchmarks.soak_plot import write_plot

        write_plot(result, plan.plot)
    return result


def plan_from_args(argv: list[str]) -> SoakPlan:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="MOs per second (open loop)")
    parser.add_argument("--duration-s", type=float, default=1800.0, help="seconds of sending")
    parser.add_argument("--mix", default="BAL=50,SEND=50", help="weights of BAL and SEND")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds per sample")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="seconds left out of slopes")
    parser.add_argument("--subscribers", type=int, default=50_000, help="seeded funded wallets")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the traffic")
    parser.add_argument(
        "--drain-s", type=float, default=60.0, help="max seconds to wait at the end"
    )
    parser.add_argument("--rss-bound", type=float, default=soak_stats.RSS_SLOPE_BOUND_MIB_PER_H,
                        help="flat: RSS slope at most this many MiB per hour")  # fmt: skip
    parser.add_argument("--p99-bound", type=float, default=soak_stats.P99_SLOPE_BOUND_MS_PER_MIN,
                        help="flat: p99 latency slope at most this many ms per minute")  # fmt: skip
    parser.add_argument("--plot", type=Path, help="write the plot (PNG, SVG...) here")
    parser.add_argument("--keep-dir", type=Path, help="keep the database and daemon log here")
    parser.add_argument("--samples-file", type=Path, help="append each sample here (JSON lines)")
    parser.add_argument("--tracemalloc", type=Path, metavar="DIR",
                        help="trace the daemon's allocations, snapshots in DIR (slow: low rates)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        return SoakPlan(
            rate_per_s=args.rate, duration_s=args.duration_s, sample_s=args.sample_s,
            warmup_s=args.warmup_s, mix=parse_mix(args.mix), subscribers=args.subscribers,
            seed=args.seed, drain_s=args.drain_s, rss_bound_mib_per_h=args.rss_bound,
            p99_bound_ms_per_min=args.p99_bound, keep_dir=args.keep_dir, plot=args.plot,
            samples_file=args.samples_file, tracemalloc_dir=args.tracemalloc,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    plan = plan_from_args(sys.argv[1:] if argv is None else argv)
    result = run(plan)
    print(json.dumps(result, indent=2))
    return 0 if result["summary"].get("all_answered") else 1


if __name__ == "__main__":  # python -m benchmarks.soak
    sys.exit(main())
