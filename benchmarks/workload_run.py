"""The runner of benchmarks.workload, step by step: simulator, config, seeding, daemon, load, drain,
stop, check. One function per step; `execute` fills the result in place."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import answers, bulk_seed, e2e, live, seeding, traffic
from benchmarks.progress import Display
from benchmarks.workload import (
    USSD_DIALECT,
    WorkloadPlan,
    config_extra,
    daemon_figures,
    peak_rss_mib,
    planned_mos,
    process_cpu_s,
    rates_and_latency,
)

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from simulators.simulator import Simulator

OPENING_MINOR = 500_000  # KES 5,000.00 per customer: far above what a run's commands take out
NAME = "Bench Subscriber"
PROGRESS_S = 0.25
IDLE_PROBE_S = 2.0  # after the run: the daemon's CPU while idle, per second
SEED_CHUNK = 4000  # wallets per seeding transaction (paired runs: faster than 1,000 and 8,190)


def make_simulator(reactor: IReactorTime, plan: WorkloadPlan) -> Simulator:
    """One account (the daemon's bind; speaking USSD for the ussd workload), receipts at once, the
    airtime provider on HTTP for the mix; the bounds keep its memory to the run's."""
    from simulators.config import AccountConfig, DlrConfig, SimulatorConfig, UssdNetworkConfig
    from simulators.simulator import Simulator

    dialect = USSD_DIALECT if plan.workload == "ussd" else None
    total = plan.total
    return Simulator(
        reactor,
        SimulatorConfig(
            listen="127.0.0.1:0",
            http="127.0.0.1:0" if plan.mix_like else None,
            account=(
                AccountConfig(system_id=e2e.SYSTEM_ID, password=e2e.PASSWORD, ussd_dialect=dialect),
            ),
            dlr=DlrConfig(delay_s=0.0),
            ussd=UssdNetworkConfig(max_sessions=min(1_000_000, max(10_000, 2 * total))),
            max_messages=max(200_000, 4 * total + 1000),
            max_inbox_per_msisdn=1_000,
            max_pending_deliveries=10 * total + 1000,
        ),
    )


def write_config(plan: WorkloadPlan, work: Path, ports: Any, status_port: int) -> Path:
    text = e2e.daemon_config_text(work / "state", ports.smpp[1], plan.window, status_port)
    if plan.workload == "ussd":
        text += f'ussd_dialect = "{USSD_DIALECT}"\n'  # the [[binds]] table is the last one
    text += config_extra(plan)
    if plan.mix_like:
        host, port = ports.http
        text += seeding.airtime_config(work, f"http://{host}:{port}/airtime/v1")
    path = work / "smscore.toml"
    path.write_text(text)
    return path


def seed(plan: WorkloadPlan, config_path: Path, result: dict[str, Any]) -> None:
    seed_s = bulk_seed.seed_customers(
        config_path, plan.account_count, opening_minor=OPENING_MINOR, name=NAME,
        chunk_size=SEED_CHUNK,
    )  # fmt: skip
    result["seed"] = {"accounts": plan.account_count, "seed_s": round(seed_s, 2),
                      "accounts_per_s": round(plan.account_count / seed_s)}  # fmt: skip
    if plan.mix_like:
        started = time.perf_counter()
        seeding.seed_agents(config_path)
        seeding.seed_biller(config_path)
        result["seed"]["agents_and_biller_s"] = round(time.perf_counter() - started, 2)


def encrypt(
    config_path: Path, mos: list[traffic.Mo], result: dict[str, Any]
) -> tuple[list[traffic.Mo], Any]:
    """Every sender an enrolled device; each MO's text its sealed frame; returns (MOs, opener)."""
    from benchmarks import e2e_encrypted
    from daemon.security.channel import ChannelError

    started = time.perf_counter()
    senders = sorted({mo.sender for mo in mos})
    devices = e2e_encrypted.seed_devices(config_path, senders)
    sealed = [
        traffic.Mo(mo.sender, devices[mo.sender].command_text(mo.text), mo.kind) for mo in mos
    ]
    result["seed"]["devices"] = len(devices)
    result["seed"]["devices_and_frames_s"] = round(time.perf_counter() - started, 2)

    def opener(message: Any) -> bool:
        device = devices.get(message.msisdn)
        if device is None:
            return False
        try:
            device.open_reply(message.text)
        except (ChannelError, ValueError):
            return False
        return True

    return sealed, opener


def make_load(reactor: Any, simulator: Simulator, plan: WorkloadPlan, mos: Any, opener: Any) -> Any:
    if plan.workload == "ussd":
        from benchmarks.ussd_load import UssdLoad

        return UssdLoad(reactor, simulator, plan)
    return live.OfferedLoad(reactor, simulator, mos, plan.rate_per_s, plan.warmup_count, opener)


class _DrivePlan:
    """What e2e.drive_load reads of a plan."""

    def __init__(self, plan: WorkloadPlan, total: int) -> None:
        self.total, self.rate_per_s = total, plan.rate_per_s
        self.drain_s, self.grace_s = plan.drain_s, plan.grace_s


class DaemonClock:
    """The daemon's CPU (from /proc) at the moments the figures need: the bind, the measured
    window's start and end, the drained end, and after IDLE_PROBE_S idle."""

    def __init__(self, reactor: Any, plan: WorkloadPlan, pid: int) -> None:
        self.reactor, self.plan, self.pid = reactor, plan, pid
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}

    def started(self) -> None:
        self.before.update(cpu_s=process_cpu_s(self.pid), at_s=time.monotonic())
        plan = self.plan
        for name, delay_s in (("window_start_cpu_s", plan.warmup_s),
                              ("window_end_cpu_s", plan.warmup_s + plan.duration_s)):  # fmt: skip
            self.reactor.callLater(delay_s, self._sample, name)

    def _sample(self, name: str) -> None:
        self.before[name] = process_cpu_s(self.pid)

    def drained(self) -> None:
        self.after.update(cpu_s=process_cpu_s(self.pid), at_s=time.monotonic())

    def figures(self, mos: int) -> dict[str, Any]:
        """After the idle probe (blocking /proc reads: fine on a thread)."""
        before, after = self.before, self.after
        after.update(idle_end_cpu_s=process_cpu_s(self.pid), peak_rss_mib=peak_rss_mib(self.pid))
        figures = daemon_figures(before, after, mos, IDLE_PROBE_S)
        start, end = before.get("window_start_cpu_s"), before.get("window_end_cpu_s")
        if start is not None and end is not None:
            # Steady state: the measured window's CPU over the MOs due in it (no start-up, no drain).
            due = max(self.plan.rate_per_s * self.plan.duration_s, 1)
            figures["cpu_ms_per_mo_in_window"] = round((end - start) / due * 1000, 3)
        return figures


def drive(
    plan: WorkloadPlan, work: Path, simulator: Simulator, daemon: subprocess.Popen, load: Any,
    result: dict[str, Any],
) -> Any:  # fmt: skip
    """Run the load on the reactor until drained, stop the daemon; returns the load (or None)."""
    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall, deferLater
    from twisted.internet.threads import deferToThread

    db_path = work / "state" / "smscore.db"
    clock = DaemonClock(reactor, plan, daemon.pid)
    display = Display(f"{plan.workload} @ {plan.rate_per_s:g}/s", load.total, plan.progress)
    ticker = LoopingCall(lambda: display.update(load.live()))
    ticker.clock = reactor
    outcome: dict[str, Any] = {}

    def started() -> Any:
        clock.started()
        ticker.start(PROGRESS_S)
        return load

    def done(_: Any) -> bool:
        return load.finished_sending and simulator.delivery.pending == 0 and live.quiet(db_path)

    def figures_then_stop() -> None:  # blocking: on a thread, the simulator answers the unbind
        result["daemon"] = clock.figures(load.tally.sent)
        counters = e2e.daemon_status(result.pop("_status_port")).get("counters") or {}
        result["daemon"]["counters"] = {k: v for k, v in counters.items() if v}
        result["daemon"]["exit"] = e2e.stop_daemon(daemon)

    def stop(_: Any) -> None:
        if ticker.running:
            ticker.stop()
        display.update(load.live())
        display.stop()
        clock.drained()
        # The daemon idle for a while: what its timers cost when there is nothing to do.
        stopped = deferLater(reactor, IDLE_PROBE_S, lambda: None)
        stopped.addCallback(lambda _: deferToThread(figures_then_stop))
        stopped.addErrback(lambda failure: outcome.update(error=failure.getErrorMessage()))
        stopped.addBoth(lambda _: simulator.stop()).addBoth(lambda _: reactor.stop())

    running = e2e.drive_load(
        reactor, simulator, _DrivePlan(plan, load.total), daemon, started, done
    )
    running.addCallbacks(lambda answer: outcome.update(drained_s=answer[1]),
                         lambda failure: outcome.update(error=failure.getErrorMessage()))  # fmt: skip
    running.addBoth(stop)
    reactor.run()  # stops by itself: every wait in drive_load has a timeout, then stop() runs
    if "error" in outcome:
        result["error"] = outcome["error"]
        return None
    result["drain_s"] = round(outcome["drained_s"], 2)
    return load


def execute(plan: WorkloadPlan, work: Path, result: dict[str, Any]) -> None:
    from twisted.internet import reactor

    simulator = make_simulator(reactor, plan)
    ports = simulator.start_listening()
    status_port = e2e.free_port()
    config_path = write_config(plan, work, ports, status_port)
    result["_status_port"] = status_port
    mos = planned_mos(plan) if plan.workload != "ussd" else []
    seed(plan, config_path, result)
    opener = None
    if plan.workload == "mix-encrypted":
        mos, opener = encrypt(config_path, mos, result)
    load = make_load(reactor, simulator, plan, mos, opener)
    daemon = e2e.start_daemon(config_path, work / "daemon.log", ())
    finished = drive(plan, work, simulator, daemon, load, result)
    result.pop("_status_port", None)
    result["daemon_log_tail"] = (work / "daemon.log").read_text(errors="replace").splitlines()[-5:]
    result["simulator"] = {k: v for k, v in simulator.stats().items() if isinstance(v, int) and v}
    if finished is None:
        result["exactly_once"] = {"ok": False, "why": "the run did not finish"}
        return
    if plan.keep_dir is not None and plan.workload != "ussd":
        save_run(work, mos[: finished.tally.sent], finished.tally.delivered)
    check(plan, work / "state" / "smscore.db", finished, mos, result)


RUN_FILE = "workload_run.json"  # a kept run's senders and phone messages: check it again later


def save_run(work: Path, mos: list[traffic.Mo], delivered: list[answers.Delivered]) -> None:
    body = {"senders": [mo.sender for mo in mos],
            "delivered": [[d.msisdn, d.message_id, d.at_s, d.opened] for d in delivered]}  # fmt: skip
    (work / RUN_FILE).write_text(json.dumps(body))


def load_run(work: Path) -> tuple[list[str], list[answers.Delivered]]:
    body = json.loads((work / RUN_FILE).read_text())
    return body["senders"], [answers.Delivered(*row) for row in body["delivered"]]


def check(
    plan: WorkloadPlan, db_path: Path, load: Any, mos: list[traffic.Mo], result: dict
) -> None:
    started = time.perf_counter()
    if plan.workload == "ussd":
        figures, answered = load.check(db_path)
    else:
        sent = mos[: load.tally.sent]
        answered = answers.check_answers(
            db_path,
            [mo.sender for mo in sent],
            load.tally.delivered,
            plan.workload == "mix-encrypted",
        )
        figures = rates_and_latency(plan, load.due_at, answered.answer_at_s, load.start_s)
        figures["sent_by_kind"] = _by_kind(sent)
    postings = answers.check_postings(db_path)
    report = answered.report
    mo_count = max(report["mo_count"], 1)
    result.update(figures)
    result["sms_per_request"] = round(report["mt_count"] / mo_count, 3)
    result["sms_parts_per_request"] = round(report["mt_parts"] / mo_count, 3)
    result["acknowledged"] = load.tally.acked
    result["ack_failed"] = load.tally.ack_failed
    result["inject_lag_ms_p99"] = e2e.percentile(sorted(load.tally.inject_lag_ms), 99)
    daemon = result.get("daemon", {})
    if plan.workload == "ussd" and daemon.get("cpu_ms_per_mo") is not None:
        # Per MO as the daemon's inbox counts them: every dial and answer of a dialogue.
        daemon["cpu_ms_per_dialogue"] = daemon["cpu_ms_per_mo"]
        for key in ("cpu_ms_per_mo", "cpu_ms_per_mo_above_idle", "cpu_ms_per_mo_in_window"):
            if daemon.get(key) is not None:
                daemon[key] = round(daemon[key] * load.tally.sent / mo_count, 3)
    result["exactly_once"] = {
        "ok": report["ok"] and postings["ok"] and load.tally.ack_failed == 0,
        "answers": report, "postings": postings,
        "check_s": round(time.perf_counter() - started, 2),
    }  # fmt: skip


def _by_kind(mos: list[traffic.Mo]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for mo in mos:
        counts[mo.kind] = counts.get(mo.kind, 0) + 1
    return counts
