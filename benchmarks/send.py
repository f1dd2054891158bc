"""SEND benchmark: wallet-to-wallet SENDs between random registered subscribers, through the SMSC
simulator and `smscore run`, with every confirmation's receipt delivered; then the exactly-once check.

100,000 funded customer wallets are seeded straight into the database before the daemon starts (as
benchmarks/e2e.py seeds, timed apart: `seed_s`). Open loop: SEND i is due at start + i / rate and is
injected then, from a random subscriber to a random other one, for a random whole amount; no
(sender, recipient, amount) repeats, so neither the double-send guard nor the inbox's repeat rule
changes what a SEND does. Receipts come back at once (DELIVRD). With `--post-on-delivery` (the
default, the M-Pesa rollback) a SEND is held pending until its confirmation's receipt and posted by
the settler; with `--post-at-once` it posts in the TranProc. Either way the recipient is told once
it is posted.

Latencies, from the moment a SEND was due: to its confirmation on the sender's phone (`reply`), to
its move's `decided_at_ns` in the database (`posted`), and to the recipient's notice on the
recipient's phone (`told`). The first `warmup_s` seconds are sent but not measured.

`exactly_once` (benchmarks/send_checks.py) holds when every SEND has exactly one move, posted, with
exactly its legs in the ledger and nothing else; every wallet holds its opening balance plus what
it received less what it sent and paid in fees (so no money was made or lost); `check_ledger` and
the trust reconciliation pass; and every sender's phone shows exactly one confirmation and every
recipient's exactly one notice per SEND, and nothing else. Prints one JSON object.

    smscore bench send [--rate 500] [--duration 60] [--accounts 100000] [--post-at-once]
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import e2e, send_checks

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorTime
    from twisted.python.failure import Failure

    from simulators.simulator import Simulator

PIN = e2e.PIN
SHORT_CODE = e2e.SHORT_CODE
FIRST_MSISDN = e2e.FIRST_MSISDN
NAME = "Bench Subscriber"  # every confirmation names the recipient as "BENCH S."
COLLECT_S = 0.05
# What the phones show (English: the seeded subscribers' language), to tell the two apart.
CONFIRMATION_MARK = " sent to "
NOTICE_MARK = " You have received "


@dataclass(frozen=True)
class SendPlan:
    accounts: int = 100_000
    rate_per_s: float = 500.0
    duration_s: float = 60.0
    warmup_s: float = 5.0
    post_on_delivery: bool = True
    opening_minor: int = 500_000  # KES 5,000.00 each: far above what random SENDs take out
    amount_min: int = 10  # whole currency units, so the fee bands up to 1,000 are all crossed
    amount_max: int = 1_000
    seed: int = 1
    drain_s: float = 60.0
    grace_s: float = 1.0
    window: int = 10
    settle_interval_s: float | None = None  # None: the daemon's default
    tranproc_batch: int | None = None  # [tranproc] batch_size; None: the daemon's default
    smsc_window: int = 100  # the simulator's outstanding deliver_sm per bind (its default)
    daemon_wrapper: tuple[str, ...] = ()
    keep_dir: Path | None = None
    split_roles: bool = False  # `--role lis` and `--role tranproc` as two processes

    @property
    def total(self) -> int:
        return int(self.rate_per_s * (self.warmup_s + self.duration_s))

    @property
    def warmup_count(self) -> int:
        return int(self.rate_per_s * self.warmup_s)

    def __post_init__(self) -> None:
        if self.accounts < 2 or self.rate_per_s <= 0 or self.duration_s <= 0:
            raise ValueError("--accounts must be at least 2, --rate and --duration positive")
        if not 1 <= self.amount_min <= self.amount_max:
            raise ValueError("amounts: 1 <= --amount-min <= --amount-max")


@dataclass(frozen=True, slots=True)
class Send:
    payer: str
    payee: str
    amount: int  # whole units, as typed

    @property
    def text(self) -> str:
        return f"SEND {self.payee} {self.amount} {PIN}"


def plan_sends(plan: SendPlan) -> list[Send]:
    """`plan.total` SENDs from random subscribers to random others, no (payer, payee, amount) twice."""
    rng = random.Random(plan.seed)
    seen: set[tuple[int, int, int]] = set()
    sends: list[Send] = []
    while len(sends) < plan.total:
        payer, payee = rng.sample(range(plan.accounts), 2)
        amount = rng.randint(plan.amount_min, plan.amount_max)
        if (payer, payee, amount) in seen:
            continue
        seen.add((payer, payee, amount))
        sends.append(Send(str(FIRST_MSISDN + payer), str(FIRST_MSISDN + payee), amount))
    return sends


def daemon_config_text(plan: SendPlan, state_dir: Path, smsc_port: int, status_port: int) -> str:
    on_delivery = ["SEND", "WITHDRAW"] if plan.post_on_delivery else ["WITHDRAW"]
    money = f"\n[money]\npost_on_delivery = {json.dumps(on_delivery)}\n"
    if plan.settle_interval_s is not None:
        money += f"settle_interval_s = {plan.settle_interval_s}\n"
    tranproc = [f"batch_size = {plan.tranproc_batch}"] if plan.tranproc_batch else []
    if plan.split_roles:  # the processes find each other's rows by polling (as e2e's split roles)
        tranproc.append("poll_interval_s = 0.01")
        money += "\n[sender]\npoll_interval_s = 0.01\n"
    if tranproc:
        money += "\n[tranproc]\n" + "\n".join(tranproc) + "\n"
    return e2e.daemon_config_text(state_dir, smsc_port, plan.window, status_port) + money


# --- the load, on this process's reactor ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhoneMessage:
    msisdn: str
    text: str
    at_s: float


@dataclass
class SendTally:
    sent: int = 0
    acked: int = 0
    ack_failed: int = 0
    inject_lag_ms: list[float] = field(default_factory=list)
    confirmations: int = 0
    notices: int = 0
    messages: list[PhoneMessage] = field(default_factory=list)


class SendLoad:
    def __init__(
        self, reactor: IReactorTime, simulator: Simulator, plan: SendPlan, sends: list[Send]
    ) -> None:
        self.reactor = reactor
        self.simulator = simulator
        self.plan = plan
        self.sends = sends
        self.tally = SendTally()
        self.start_s = 0.0
        self._cursor = simulator.handsets.last_seq

    def due_at(self, index: int) -> float:
        return self.start_s + index / self.plan.rate_per_s

    def tick(self) -> None:
        now_s = self.reactor.seconds()
        tally = self.tally
        while tally.sent < self.plan.total and self.due_at(tally.sent) <= now_s:
            index = tally.sent
            tally.sent += 1
            if index >= self.plan.warmup_count:
                tally.inject_lag_ms.append((now_s - self.due_at(index)) * 1000)
            send = self.sends[index]
            acked = self.simulator.inject_mo(send.payer, SHORT_CODE, send.text)
            acked.addCallbacks(self._acked, self._ack_failed)

    def _acked(self, _result: Any) -> None:
        self.tally.acked += 1

    def _ack_failed(self, _failure: Failure) -> None:
        self.tally.ack_failed += 1

    def collect(self) -> None:
        handsets = self.simulator.handsets
        newest = handsets.last_seq
        if newest == self._cursor:
            return
        tally = self.tally
        for message in handsets.since(self._cursor, newest - self._cursor):
            tally.messages.append(
                PhoneMessage(message.msisdn, message.text, message.delivered_at_s)
            )
            tally.confirmations += CONFIRMATION_MARK in message.text
            tally.notices += NOTICE_MARK in message.text
        self._cursor = newest

    def all_told(self) -> bool:
        total = self.plan.total
        tally = self.tally
        return tally.sent >= total and tally.confirmations >= total and tally.notices >= total


def _run_load(
    reactor: IReactorTime, simulator: Simulator, plan: SendPlan, sends: list[Send],
    daemon: subprocess.Popen,
) -> Deferred:  # fmt: skip
    return e2e.drive_load(
        reactor, simulator, plan, daemon, lambda: SendLoad(reactor, simulator, plan, sends),
        lambda load: load.all_told(), COLLECT_S,
    )  # fmt: skip


# --- results ---------------------------------------------------------------------------------------


def _in_window(times_s: Iterator[float], start_s: float, end_s: float) -> int:
    return sum(1 for at_s in times_s if start_s <= at_s < end_s)


def load_result(
    load: SendLoad, plan: SendPlan, drained_s: float, moves: send_checks.MoveTimes
) -> dict[str, Any]:
    """Rates and latencies; `moves` gives each SEND's confirmation, posting and notice times."""
    tally = load.tally
    window_start_s = load.start_s + plan.warmup_s
    window_end_s = window_start_s + plan.duration_s
    due = [load.due_at(index) for index in range(tally.sent)]
    measured = range(plan.warmup_count, tally.sent)
    latencies: dict[str, list[float]] = {"reply": [], "posted": [], "told": []}
    for index in measured:
        for name, at_s in moves.times(index).items():
            if at_s is not None:
                latencies[name].append((at_s - due[index]) * 1000)
    result: dict[str, Any] = {
        "offered_rate_per_s": plan.rate_per_s,
        "measured_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "sent": tally.sent,
        "acknowledged": tally.acked,
        "ack_failed": tally.ack_failed,
        "confirmations": tally.confirmations,
        "notices": tally.notices,
        "phone_messages": len(tally.messages),
    }
    for name, in_window in (
        ("replies_per_s", moves.all_times("reply")),
        ("posted_per_s", moves.all_times("posted")),
        ("told_per_s", moves.all_times("told")),
    ):
        result[name] = round(
            _in_window(in_window, window_start_s, window_end_s) / plan.duration_s, 1
        )
    for name, values in latencies.items():
        result.update(e2e.latency_summary(values, name))
    result["inject_lag_ms_p99"] = e2e.percentile(sorted(tally.inject_lag_ms), 99)
    result["drain_s"] = round(drained_s, 2)
    return result


# --- orchestration ---------------------------------------------------------------------------------


def thread_cpu_s(pid: int) -> dict[str, list[float]]:
    """[user, system] CPU seconds of each thread of a process (Linux): `main` is the reactor's,
    the busiest other is the database thread's (the daemon runs one by default)."""
    found: dict[str, list[float]] = {}
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        user_s, system_s = int(fields[11]) * tick_s, int(fields[12]) * tick_s
        if user_s + system_s > 0:
            name = "main" if int(task.name) == pid else f"thread {task.name}"
            found[name] = [round(user_s, 2), round(system_s, 2)]
    return dict(sorted(found.items(), key=lambda item: -sum(item[1])))


def _simulator(reactor: IReactorTime, plan: SendPlan) -> Simulator:
    return e2e.make_simulator(
        reactor,
        max_messages=max(200_000, 3 * plan.total + 1000),
        max_pending_deliveries=10 * plan.total + 1000,
        window=plan.smsc_window,
    )


def _drive(plan: SendPlan, work: Path, sends: list[Send], result: dict[str, Any]) -> Any:
    """Seed, start the daemon, run the load on the reactor, stop the daemon: (load, drained_s)."""
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThread

    simulator = _simulator(reactor, plan)
    port = simulator.start_listening().smpp[1]
    status_port = e2e.free_port()
    config_path = work / "smscore.toml"
    config_path.write_text(daemon_config_text(plan, work / "state", port, status_port))
    seed_s = e2e.seed_database(
        config_path, plan.accounts, opening_minor=plan.opening_minor, name=NAME
    )
    result["seed"] = {"accounts": plan.accounts, "seed_s": round(seed_s, 2),
                      "accounts_per_s": round(plan.accounts / seed_s)}  # fmt: skip
    extra: list[subprocess.Popen] = []
    if plan.split_roles:  # a --daemon-wrapper runs the LIS process only
        tranproc_options = ("--role", "tranproc", "--status-listen", "127.0.0.1:0")
        extra.append(e2e.start_daemon(config_path, work / "tranproc.log", (), tranproc_options))
    role = ("--role", "lis") if plan.split_roles else ()
    daemon = e2e.start_daemon(config_path, work / "daemon.log", plan.daemon_wrapper, role)
    outcome: dict[str, Any] = {}

    def daemon_figures_then_stop() -> None:
        processes = [daemon, *extra]
        cpu_s = [e2e.cpu_seconds((e2e._children(p.pid) or [p.pid])[0]) for p in processes]
        result["daemon_cpu_s"] = None if None in cpu_s else round(sum(cpu_s), 2)  # type: ignore[arg-type]
        result["daemon_cpu_s_by_thread"] = thread_cpu_s(
            (e2e._children(daemon.pid) or [daemon.pid])[0]
        )
        if plan.split_roles:
            result["daemon_cpu_s_by_role"] = dict(zip(("lis", "tranproc"), cpu_s, strict=True))
        result["daemon_status"] = e2e.daemon_status(status_port)
        result["daemon_exit"] = [e2e.stop_daemon(process) for process in processes]

    def stop(_: Any) -> None:
        result["bench_cpu_s"] = round(time.process_time() - bench_cpu_before_s, 2)
        stopped = deferToThread(daemon_figures_then_stop)
        stopped.addErrback(lambda failure: outcome.update(error=failure.getErrorMessage()))
        stopped.addBoth(lambda _: simulator.stop()).addBoth(lambda _: reactor.stop())

    done = _run_load(reactor, simulator, plan, sends, daemon)
    done.addCallbacks(lambda answer: outcome.update(answer=answer),
                      lambda failure: outcome.update(error=failure.getErrorMessage()))  # fmt: skip
    done.addBoth(stop)
    bench_cpu_before_s = time.process_time()
    reactor.run()  # stops by itself: every wait above has a timeout, then stop() runs
    if "error" in outcome:
        result["error"] = outcome["error"]
    return outcome.get("answer")


def run(plan: SendPlan) -> dict[str, Any]:
    """The whole benchmark on the global reactor (once per process); returns the result."""
    result: dict[str, Any] = {"machine": e2e.machine(), "mode": _mode(plan)}
    sends = plan_sends(plan)
    with tempfile.TemporaryDirectory(prefix="smscore-bench-send-") as temporary:
        work = plan.keep_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        answer = _drive(plan, work, sends, result)
        result["daemon_log_tail"] = (
            (work / "daemon.log").read_text(errors="replace").splitlines()[-5:]
        )
        if answer is None:
            result["exactly_once"] = False
            return result
        load, drained_s = answer
        started = time.perf_counter()
        expected = send_checks.Expected(
            [(send.payer, send.payee, send_checks.minor(send.amount)) for send in sends[: load.tally.sent]],
            plan.accounts, FIRST_MSISDN, plan.opening_minor, plan.post_on_delivery,
        )  # fmt: skip
        if plan.keep_dir is not None:  # `python -m benchmarks.send_checks DIR` checks it again
            send_checks.save_run(work, expected, load.tally.messages)
        checks, moves = send_checks.check(
            work / "state" / "smscore.db", expected, load.tally.messages
        )
        result.update(load_result(load, plan, drained_s, moves))
        result["checks"] = checks
        result["check_s"] = round(time.perf_counter() - started, 2)
        result["exactly_once"] = checks["ok"] and load.tally.ack_failed == 0
    return result


def _mode(plan: SendPlan) -> str:
    return "post-on-delivery" if plan.post_on_delivery else "post-at-once"


def plan_from_args(argv: list[str]) -> SendPlan:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="SENDs per second (open loop)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds sent but not measured")
    parser.add_argument("--accounts", type=int, default=100_000, help="funded customer wallets")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--post-on-delivery", dest="on_delivery", action="store_true", default=True,
                      help="hold each SEND pending until its confirmation is delivered (default)")  # fmt: skip
    mode.add_argument("--post-at-once", dest="on_delivery", action="store_false",
                      help="post each SEND in the TranProc")  # fmt: skip
    parser.add_argument("--settle-interval", type=float, help="money.settle_interval_s (seconds)")
    parser.add_argument("--window", type=int, default=10, help="the daemon's bind window")
    parser.add_argument("--smsc-window", type=int, default=100,
                        help="the simulator's window: outstanding deliver_sm (MOs, receipts)")  # fmt: skip
    parser.add_argument("--tranproc-batch", type=int, help="[tranproc] batch_size of the daemon")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the SENDs")
    parser.add_argument("--drain", type=float, default=60.0, help="max seconds to wait at the end")
    parser.add_argument("--py-spy", metavar="FILE", help="record the daemon with py-spy into FILE")
    parser.add_argument("--split-roles", action="store_true",
                        help="the daemon as two processes, --role lis and --role tranproc")  # fmt: skip
    parser.add_argument("--daemon-wrapper", metavar="CMD", help="command to run the daemon under")
    parser.add_argument("--keep-dir", type=Path, help="keep the database and daemon log here")
    args = parser.parse_args(argv)
    wrapper: tuple[str, ...] = tuple(shlex.split(args.daemon_wrapper or ""))
    if args.py_spy:
        py_spy = Path(sys.executable).with_name("py-spy")
        wrapper = (str(py_spy), "record", "--threads", "--format", "speedscope", "-o", args.py_spy,
                   "--")  # fmt: skip
    try:
        return SendPlan(
            accounts=args.accounts, rate_per_s=args.rate, duration_s=args.duration,
            warmup_s=args.warmup, post_on_delivery=args.on_delivery,
            settle_interval_s=args.settle_interval, window=args.window, seed=args.seed,
            drain_s=args.drain, daemon_wrapper=wrapper, keep_dir=args.keep_dir,
            split_roles=args.split_roles, smsc_window=args.smsc_window,
            tranproc_batch=args.tranproc_batch,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    plan = plan_from_args(sys.argv[1:] if argv is None else argv)
    result = run(plan)
    print(json.dumps(result, indent=2))
    return 0 if result.get("exactly_once") else 1


if __name__ == "__main__":  # python -m benchmarks.send
    sys.exit(main())
