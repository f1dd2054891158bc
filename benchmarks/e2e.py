"""End-to-end benchmark: simulated subscribers → SMSC simulator → `smscore run` → reply on the handset.

The daemon runs as its own process (`smscore run`, SQLite in a temporary directory, subscribers seeded
straight into that database before it starts); the SMSC simulator runs in this process on the real
reactor. The load is open loop: MO i is due at start + i / rate and is injected when due, whatever the
daemon is doing, so a slow daemon shows up as latency, not as a lower offered rate. Latency is from the
moment an MO was due to the moment its reply reached the simulated handset (receipts come back at once,
so the daemon also handles one delivery receipt per reply, as it would in production).

The first `warmup_s` seconds of MOs are sent but not measured. After the last MO, the run waits for the
replies (at most `drain_s`), then a grace period to catch late duplicates; then it checks exactly-once
twice: every subscriber's phone got as many replies as it sent MOs, and in the daemon's database every
inbox row is done and has exactly one outbox row. Prints one JSON object.

--encrypted: every subscriber is an enrolled app device and every MO its encrypted frame; each reply
must open on the device (benchmarks/e2e_encrypted.py).

    .venv/bin/python benchmarks/e2e.py [--rate 1000] [--duration 60] [--warmup 5] [--encrypted]
    smscore bench e2e --duration 10
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorTime
    from twisted.python.failure import Failure

    from simulators.simulator import Simulator
    from simulators.store import HandsetMessage

SHORT_CODE = "12345"
PIN = "1234"
FIRST_MSISDN = 254_711_000_000
SYSTEM_ID, PASSWORD = "smscore", "secret"
TICK_S = 0.005  # how often due MOs are injected
COLLECT_S = 0.02  # how often the handsets are read
BIND_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
SEED_CHUNK = 1000  # wallets per seeding transaction (the ledger caps its batches)


@dataclass(frozen=True)
class BenchPlan:
    rate_per_s: float = 1000.0
    duration_s: float = 60.0
    warmup_s: float = 5.0
    subscribers: int = 0  # 0: one per MO, so none repeats within the inbox dedupe window
    drain_s: float = 30.0
    grace_s: float = 1.0
    text: str = f"BAL {PIN}"
    window: int = 10  # the daemon's bind window (its config default)
    dlr_delay_s: float = 0.0
    daemon_wrapper: tuple[str, ...] = ()  # e.g. ("py-spy", "record", "-o", "x.svg", "--")
    keep_dir: Path | None = None
    split_roles: bool = False  # `--role lis` and `--role tranproc` as two processes
    encrypted: bool = False  # every subscriber an enrolled app device (benchmarks.e2e_encrypted)

    @property
    def total(self) -> int:
        return int(self.rate_per_s * (self.warmup_s + self.duration_s))

    @property
    def subscriber_count(self) -> int:
        return self.subscribers or self.total

    @property
    def warmup_count(self) -> int:
        return int(self.rate_per_s * self.warmup_s)


# --- the daemon process ---------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def daemon_status(port: int) -> dict[str, Any]:
    """The daemon's own counters (commits, batches...) from its status endpoint."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as response:
            status = json.load(response)
    except (OSError, ValueError) as exc:
        return {"error": str(exc)}
    return {"counters": status.get("counters"), "queues": status.get("queues")}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux), to compare runs on a shared machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_config_text(state_dir: Path, smsc_port: int, window: int, status_port: int) -> str:
    return f"""
[service]
state_dir = "{state_dir}"

[logging]
level = "warn"

[status]
listen = "127.0.0.1:{status_port}"

[api]
listen = "127.0.0.1:0"

[[binds]]
name = "sim"
host = "127.0.0.1"
port = {smsc_port}
system_id = "{SYSTEM_ID}"
password = "{PASSWORD}"
window = {window}
serves = ["{SHORT_CODE}"]
"""


def seed_database(
    config_path: Path,
    subscribers: int,
    *,
    opening_minor: int = 10_000,
    first_msisdn: int = FIRST_MSISDN,
    name: str = "",
) -> float:
    """Create the schema, the chart and `subscribers` funded wallets with a PIN, in bulk (a wallet
    built as daemon.chart.open_wallet_txn builds it, a row as daemon.subscribers.create_subscriber_txn
    writes it); returns the seconds it took."""
    from sqlalchemy import insert

    from daemon.chart import (
        SystemAccount,
        TransferCode,
        ensure_chart_txn,
        wallet_account_id,
        wallet_code,
    )
    from daemon.commands.registry import Role
    from daemon.components import pin_hasher
    from daemon.config import load_config
    from daemon.schema import subscribers as subscribers_table
    from daemon.service import open_database
    from ledger import Account, AccountFlags, Transfer, create_accounts, create_transfers

    started = time.perf_counter()
    config = load_config(config_path)
    database = open_database(config, reactor=None)
    hasher = pin_hasher(config)
    currency = config.service.currency
    now_ns = time.time_ns()
    flags = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    msisdns = [str(first_msisdn + index) for index in range(subscribers)]

    def seed_txn(conn: Any, chunk: list[str]) -> None:
        ids = [wallet_account_id(msisdn) for msisdn in chunk]
        wallets = [
            Account(account_id, currency, wallet_code(Role.CUSTOMER), flags, f"msisdn:{msisdn}")
            for account_id, msisdn in zip(ids, chunk, strict=True)
        ]
        create_accounts(conn, wallets, now_ns)
        deposits = [
            Transfer(id=account_id, debit_account_id=int(SystemAccount.TRUST),
                     credit_account_id=account_id, amount=opening_minor, currency=currency,
                     code=int(TransferCode.DEPOSIT), user_data="bench opening balance")
            for account_id in ids
        ]  # fmt: skip
        create_transfers(conn, deposits, now_ns)
        rows = [
            {"msisdn": msisdn, "account_id": account_id, "name": name, "role": Role.CUSTOMER.value,
             "language": "en", "pin_hmac": hasher.digest(msisdn, PIN), "pin_failures": 0,
             "locked_until_ns": 0, "created_at_ns": now_ns}
            for account_id, msisdn in zip(ids, chunk, strict=True)
        ]  # fmt: skip
        conn.execute(insert(subscribers_table), rows)

    database.run_sync("bench.chart", ensure_chart_txn, currency, now_ns)
    for start in range(0, subscribers, SEED_CHUNK):
        database.run_sync("bench.seed", seed_txn, msisdns[start : start + SEED_CHUNK])
    database.engine.dispose()
    return time.perf_counter() - started


# Split roles: the processes find each other's rows by polling (no in-process wake-ups).
SPLIT_ROLES_CONFIG = """
[tranproc]
poll_interval_s = 0.01

[sender]
poll_interval_s = 0.01
"""


def start_daemon(
    config_path: Path, log_path: Path, wrapper: tuple[str, ...], options: tuple[str, ...] = ()
) -> subprocess.Popen:
    smscore = Path(sys.executable).with_name("smscore")
    command = [
        *wrapper,
        sys.executable,
        str(smscore),
        "run",
        "--config",
        str(config_path),
        *options,
    ]
    log = open(log_path, "wb")  # noqa: SIM115 (the child owns it until it exits)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_daemon(process: subprocess.Popen) -> int | None:
    if process.poll() is None:
        # Under a wrapper (py-spy), stop the daemon itself: the wrapper writes its output then.
        for pid in _children(process.pid) or [process.pid]:
            os.kill(pid, signal.SIGTERM)
    try:
        return process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait(STOP_TIMEOUT_S)


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def database_check(db_path: Path, sent: int) -> dict[str, Any]:
    """Exactly-once as the daemon's database sees it (read after the daemon has stopped)."""
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        inbox = dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
        # One grouping pass (outbox.inbox_id has no index: a correlated count would be quadratic).
        not_one_reply = conn.execute(
            "SELECT count(*) FROM inbox i LEFT JOIN"
            " (SELECT inbox_id, count(*) AS replies FROM outbox GROUP BY inbox_id) o"
            " ON o.inbox_id = i.id WHERE coalesce(o.replies, 0) != 1"
        ).fetchone()[0]
        outbox = dict(
            conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        )
    return {
        "inbox_rows": sum(inbox.values()),
        "inbox_by_status": inbox,
        "outbox_by_status": outbox,
        "inbox_rows_without_exactly_one_reply": not_one_reply,
        "ok": sum(inbox.values()) == sent == inbox.get("done", 0) and not_one_reply == 0,
    }


# --- the load, on this process's reactor ---------------------------------------------------------


@dataclass
class Tally:
    sent: int = 0
    acked: int = 0
    ack_failed: int = 0
    replies: int = 0
    unexpected_replies: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # measured MOs only
    ack_ms: list[float] = field(default_factory=list)  # due → deliver_sm_resp, measured MOs only
    inject_lag_ms: list[float] = field(default_factory=list)  # due → injected (generator health)
    replies_in_window: int = 0
    sent_per_msisdn: dict[str, int] = field(default_factory=dict)
    replies_per_msisdn: dict[str, int] = field(default_factory=dict)


class Load:
    def __init__(self, reactor: IReactorTime, simulator: Simulator, plan: BenchPlan) -> None:
        self.reactor = reactor
        self.simulator = simulator
        self.plan = plan
        self.tally = Tally()
        self.start_s = 0.0
        self._waiting: dict[str, deque[tuple[float, bool]]] = {}
        self._cursor = simulator.handsets.last_seq
        self.texts: list[str] | None = None  # MO i's text; None: plan.text for every MO
        self.opener: Any = None  # opens each reply (encrypted mode)

    def msisdn_of(self, index: int) -> str:
        return str(FIRST_MSISDN + index % self.plan.subscriber_count)

    @property
    def window_start_s(self) -> float:
        return self.start_s + self.plan.warmup_s

    @property
    def window_end_s(self) -> float:
        return self.window_start_s + self.plan.duration_s

    def due_at(self, index: int) -> float:
        return self.start_s + index / self.plan.rate_per_s

    def tick(self) -> None:
        now_s = self.reactor.seconds()
        tally = self.tally
        while tally.sent < self.plan.total and self.due_at(tally.sent) <= now_s:
            self._send(tally.sent, now_s)

    def _send(self, index: int, now_s: float) -> None:
        msisdn = self.msisdn_of(index)
        due = self.due_at(index)
        measured = index >= self.plan.warmup_count
        tally = self.tally
        tally.sent += 1
        tally.sent_per_msisdn[msisdn] = tally.sent_per_msisdn.get(msisdn, 0) + 1
        if measured:
            tally.inject_lag_ms.append((now_s - due) * 1000)
        self._waiting.setdefault(msisdn, deque()).append((due, measured))
        text = self.plan.text if self.texts is None else self.texts[index]
        acked = self.simulator.inject_mo(msisdn, SHORT_CODE, text)
        acked.addCallbacks(self._acked, self._ack_failed, callbackArgs=(due, measured))

    def _acked(self, _result: Any, due: float, measured: bool) -> None:
        self.tally.acked += 1
        if measured:
            self.tally.ack_ms.append((self.reactor.seconds() - due) * 1000)

    def _ack_failed(self, failure: Failure) -> None:
        self.tally.ack_failed += 1

    def collect(self) -> None:
        handsets = self.simulator.handsets
        newest = handsets.last_seq
        if newest == self._cursor:
            return
        for message in handsets.since(self._cursor, newest - self._cursor):
            self._reply(message)
        self._cursor = newest

    def _reply(self, message: HandsetMessage) -> None:
        tally = self.tally
        msisdn = message.msisdn
        tally.replies_per_msisdn[msisdn] = tally.replies_per_msisdn.get(msisdn, 0) + 1
        waiting = self._waiting.get(msisdn)
        if not waiting:
            tally.unexpected_replies += 1
            return
        due, measured = waiting.popleft()
        tally.replies += 1
        if self.opener is not None:
            self.opener.open(message)
        if self.window_start_s <= message.delivered_at_s < self.window_end_s:
            tally.replies_in_window += 1
        if measured:
            tally.latencies_ms.append((message.delivered_at_s - due) * 1000)

    def all_answered(self) -> bool:
        return self.tally.sent >= self.plan.total and self.tally.replies >= self.plan.total


def percentile(ordered: list[float], pct: float) -> float | None:
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return round(ordered[int(rank) - 1], 1)


def latency_summary(values_ms: list[float], prefix: str) -> dict[str, float | None]:
    ordered = sorted(values_ms)
    summary = {f"{prefix}_ms_p{pct}": percentile(ordered, pct) for pct in (50, 95, 99)}
    summary[f"{prefix}_ms_max"] = round(ordered[-1], 1) if ordered else None
    return summary


# --- orchestration ---------------------------------------------------------------------------------


def _wait_until(
    reactor: IReactorTime, condition: Callable[[], object], timeout_s: float, poll_s: float = 0.05
) -> Deferred:
    from twisted.internet.defer import inlineCallbacks
    from twisted.internet.task import deferLater

    @inlineCallbacks
    def waiter() -> Any:
        deadline = reactor.seconds() + timeout_s
        while not condition() and reactor.seconds() < deadline:
            yield deferLater(reactor, poll_s, lambda: None)
        return condition()

    return waiter()


def _run_load(
    reactor: IReactorTime,
    simulator: Simulator,
    plan: BenchPlan,
    daemon: subprocess.Popen,
    prepare: Callable[[Load], None] = lambda load: None,
) -> Deferred:
    def make_load() -> Load:
        load = Load(reactor, simulator, plan)
        prepare(load)
        return load

    return drive_load(
        reactor, simulator, plan, daemon, make_load, lambda load: load.all_answered(),
    )  # fmt: skip


def drive_load(
    reactor: IReactorTime,
    simulator: Simulator,
    plan: Any,
    daemon: subprocess.Popen,
    make_load: Callable[[], Any],
    done: Callable[[Any], bool],
    collect_s: float = COLLECT_S,
    bind_timeout_s: float = BIND_TIMEOUT_S,
) -> Deferred:
    """Once the daemon binds: offer the load at its rate, wait until `done(load)`, then until the
    simulator's queue is empty and a grace period passed; fires with (load, drained_s). `plan` has
    total, rate_per_s, drain_s and grace_s; the load has tick, collect, tally.sent and start_s."""
    from twisted.internet.defer import inlineCallbacks
    from twisted.internet.task import LoopingCall

    @inlineCallbacks
    def body() -> Any:
        bound = yield _wait_until(
            reactor, lambda: simulator.factory.bound_protocols or daemon.poll() is not None,
            bind_timeout_s,
        )  # fmt: skip
        if not simulator.factory.bound_protocols:
            raise RuntimeError(f"the daemon did not bind within {bind_timeout_s:.0f} s ({bound})")
        load = make_load()
        load.start_s = reactor.seconds()
        sender, collector = LoopingCall(load.tick), LoopingCall(load.collect)
        sender.clock = collector.clock = reactor
        sender.start(TICK_S)
        collector.start(collect_s)
        yield _wait_until(
            reactor, lambda: load.tally.sent >= plan.total, plan.total / plan.rate_per_s + 60
        )
        sender.stop()
        sent_done_s = reactor.seconds()
        yield _wait_until(reactor, lambda: done(load), plan.drain_s)
        drained_s = reactor.seconds() - sent_done_s
        # Let the receipts still queued in the simulator reach the daemon, so nothing is cut off;
        # late duplicates would show during the grace period.
        yield _wait_until(reactor, lambda: simulator.delivery.pending == 0, plan.drain_s)
        yield _wait_until(reactor, lambda: False, plan.grace_s)
        collector.stop()
        load.collect()
        return load, drained_s

    return body()


def _load_result(load: Load, plan: BenchPlan, drained_s: float) -> dict[str, Any]:
    tally = load.tally
    per_msisdn_ok = tally.sent_per_msisdn == tally.replies_per_msisdn
    opened: dict[str, Any] = {}
    if load.opener is not None:  # a reply that does not open is not an answer
        opened = {"encrypted": True, **load.opener.result()}
        per_msisdn_ok = per_msisdn_ok and opened["replies_all_open"]
    return {
        **opened,
        "offered_rate_per_s": plan.rate_per_s,
        "measured_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "sent": tally.sent,
        "acknowledged": tally.acked,
        "ack_failed": tally.ack_failed,
        "replies": tally.replies,
        "unexpected_replies": tally.unexpected_replies,
        "replies_per_s": round(tally.replies_in_window / plan.duration_s, 1),
        **latency_summary(tally.latencies_ms, "latency"),
        **latency_summary(tally.ack_ms, "ack"),
        "inject_lag_ms_p99": percentile(sorted(tally.inject_lag_ms), 99),
        "drain_s": round(drained_s, 2),
        "handsets_exactly_once": per_msisdn_ok and tally.unexpected_replies == 0,
    }


def make_simulator(
    reactor: IReactorTime, *, max_messages: int, max_pending_deliveries: int, window: int = 100,
    dlr_delay_s: float = 0.0, max_inbox_per_msisdn: int = 1_000,
) -> Simulator:  # fmt: skip
    """The SMSC simulator the benchmarks run in their own process: one account (the daemon's
    bind), no HTTP API, receipts after `dlr_delay_s`; the bounds keep its memory to the run's."""
    from simulators.config import AccountConfig, DlrConfig, SimulatorConfig
    from simulators.simulator import Simulator

    return Simulator(
        reactor,
        SimulatorConfig(
            listen="127.0.0.1:0",
            http=None,
            window_size=window,
            account=(AccountConfig(system_id=SYSTEM_ID, password=PASSWORD),),
            dlr=DlrConfig(delay_s=dlr_delay_s),
            max_messages=max_messages,
            max_inbox_per_msisdn=max_inbox_per_msisdn,
            max_pending_deliveries=max_pending_deliveries,
        ),
    )


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
    }


def run(plan: BenchPlan) -> dict[str, Any]:
    """Run the whole benchmark on the global reactor (call once per process); returns the result."""
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThread

    result: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="smscore-bench-") as temporary:
        work = plan.keep_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        simulator = make_simulator(
            reactor,
            max_messages=max(200_000, 2 * plan.total + 1000),
            max_pending_deliveries=10 * plan.total + 1000,
            dlr_delay_s=plan.dlr_delay_s,
        )
        port = simulator.start_listening().smpp[1]
        status_port = free_port()
        config_path = work / "smscore.toml"
        config_text = daemon_config_text(work / "state", port, plan.window, status_port)
        config_path.write_text(config_text + (SPLIT_ROLES_CONFIG if plan.split_roles else ""))
        result["seed_s"] = round(seed_database(config_path, plan.subscriber_count), 2)
        prepare = _encrypted_load(config_path, plan, result) if plan.encrypted else lambda _: None
        tranproc_options = ("--role", "tranproc", "--status-listen", "127.0.0.1:0")
        extra: list[subprocess.Popen] = []
        if plan.split_roles:  # a --py-spy wrapper records the LIS process only
            extra.append(start_daemon(config_path, work / "tranproc.log", (), tranproc_options))
        role = ("--role", "lis") if plan.split_roles else ()
        daemon = start_daemon(config_path, work / "daemon.log", plan.daemon_wrapper, role)
        outcome: dict[str, Any] = {}

        def finished(answer: Any) -> None:
            load, drained_s = answer
            outcome.update(_load_result(load, plan, drained_s))

        def failed(failure: Failure) -> None:
            outcome["error"] = failure.getErrorMessage()

        def daemon_figures_then_stop() -> None:
            # Blocking calls, run on a thread: the simulator keeps answering the daemon's unbind.
            processes = [daemon, *extra]
            pids = [(_children(process.pid) or [process.pid])[0] for process in processes]
            cpu_s = [cpu_seconds(pid) for pid in pids]
            result["daemon_cpu_s"] = None if None in cpu_s else round(sum(cpu_s), 2)  # type: ignore[arg-type]
            if plan.split_roles:
                result["daemon_cpu_s_by_role"] = dict(zip(("lis", "tranproc"), cpu_s, strict=True))
            result["daemon_status"] = daemon_status(status_port)
            result["daemon_exit"] = stop_daemon(daemon)
            for process in extra:
                result["tranproc_exit"] = stop_daemon(process)

        def stop(_: Any) -> None:
            result["bench_cpu_s"] = round(time.process_time() - bench_cpu_before_s, 2)
            stopped = deferToThread(daemon_figures_then_stop)
            stopped.addErrback(lambda failure: outcome.update(error=failure.getErrorMessage()))
            stopped.addBoth(lambda _: simulator.stop()).addBoth(lambda _: reactor.stop())

        done = _run_load(reactor, simulator, plan, daemon, prepare)
        done.addCallbacks(finished, failed).addBoth(stop)
        bench_cpu_before_s = time.process_time()
        reactor.run()
        result.update(outcome)
        result["simulator"] = {k: v for k, v in simulator.stats().items() if isinstance(v, int)}
        if "sent" in outcome:
            result["database"] = database_check(work / "state" / "smscore.db", outcome["sent"])
            result["exactly_once"] = outcome["handsets_exactly_once"] and result["database"]["ok"]
            if result.get("daemon_cpu_s") is not None and outcome["sent"]:
                result["daemon_cpu_us_per_mo"] = round(
                    result["daemon_cpu_s"] / outcome["sent"] * 1e6
                )
        log_tail = (work / "daemon.log").read_text(errors="replace").splitlines()[-5:]
        result["daemon_log_tail"] = log_tail
    return result


def _encrypted_load(
    config_path: Path, plan: BenchPlan, result: dict[str, Any]
) -> Callable[[Load], None]:
    """Seed a device per subscriber and seal every MO's frame now; returns what arms a Load."""
    from benchmarks import e2e_encrypted

    started = time.perf_counter()
    msisdns = [str(FIRST_MSISDN + index) for index in range(plan.subscriber_count)]
    devices = e2e_encrypted.seed_devices(config_path, msisdns)
    senders = [msisdns[index % plan.subscriber_count] for index in range(plan.total)]
    texts = e2e_encrypted.seal_all(devices, senders, plan.text)
    result["seed_devices_s"] = round(time.perf_counter() - started, 2)

    def prepare(load: Load) -> None:
        load.texts = texts
        load.opener = e2e_encrypted.ReplyOpener(devices, "balance is")

    return prepare


def plan_from_args(argv: list[str]) -> BenchPlan:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="MOs per second (open loop)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds sent but not measured")
    parser.add_argument("--subscribers", type=int, default=0, help="0: one per MO")
    parser.add_argument("--window", type=int, default=10, help="the daemon's bind window")
    parser.add_argument("--drain", type=float, default=30.0, help="max seconds to wait for replies")
    parser.add_argument("--py-spy", metavar="FILE", help="record the daemon with py-spy into FILE")
    parser.add_argument("--daemon-wrapper", metavar="CMD", help="command to run the daemon under")
    parser.add_argument("--keep-dir", type=Path, help="keep the database and daemon log here")
    parser.add_argument(
        "--split-roles",
        action="store_true",
        help="run the daemon as two processes, --role lis and --role tranproc, on one SQLite file",
    )
    parser.add_argument(
        "--encrypted",
        action="store_true",
        help="every subscriber an enrolled app device: encrypted BAL frames, replies opened",
    )
    args = parser.parse_args(argv)
    wrapper: tuple[str, ...] = tuple(shlex.split(args.daemon_wrapper or ""))
    if args.py_spy:
        py_spy = Path(sys.executable).with_name("py-spy")
        wrapper = (str(py_spy), "record", "--threads", "--format", "speedscope", "-o", args.py_spy,
                   "--")  # fmt: skip
    return BenchPlan(
        rate_per_s=args.rate,
        duration_s=args.duration,
        warmup_s=args.warmup,
        subscribers=args.subscribers,
        window=args.window,
        drain_s=args.drain,
        daemon_wrapper=wrapper,
        keep_dir=args.keep_dir,
        split_roles=args.split_roles,
        encrypted=args.encrypted,
    )


def main(argv: list[str] | None = None) -> int:
    plan = plan_from_args(sys.argv[1:] if argv is None else argv)
    result = run(plan)
    print(json.dumps(result, indent=2))
    return 0 if result.get("exactly_once") else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
