"""PostgreSQL scale-out: 1, 2 and 4 TranProc processes (`smscore run`, role `tranproc`) on one
PostgreSQL server, draining the same SEND workload among many accounts. Prints one JSON object.

Per process count: the accounts are seeded (as benchmarks/e2e.py seeds), the TranProcs started one
after another (each ready before the next, so the first start's key files are made once) and left
idle; then `--sends` SEND MOs between random subscribers are committed into the inbox in ONE
transaction, as the LIS commits them (its NOTIFY wakes every TranProc: daemon.pg_notify), and the
clock runs until no inbox row is new. SENDs post at once (`money.post_on_delivery` without SEND):
each is two ledger transfers, payer → payee and payer → the fee account.

Reported: SENDs/s and ledger transfers/s, CPU ms per SEND of each TranProc and of the PostgreSQL
server, the scaling ratio against one process, the load average, and the lock-wait evidence: every
`sample_ms` the TranProcs' backends in pg_stat_activity, each waiting one classified by the table
its statement locks (`ledger_head`, `ledger_accounts`, `subscribers`, ...) and counted, plus the
deadlocks PostgreSQL resolved (pg_stat_database).

    .venv/bin/python -m benchmarks.scaleout [--sends 3000] [--accounts 10000] [--processes 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import e2e

SAMPLE_S = 0.01
READY_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 600.0
_LOCKED_TABLE = re.compile(r"\b(?:FROM|UPDATE|INTO)\s+(\w+)", re.IGNORECASE)


def config_text(state_dir: Path, url: str, status_port: int, instance: str, batch: int) -> str:
    return f"""
[service]
state_dir = "{state_dir}"
role = "tranproc"
instance_name = "{instance}"

[database]
url = "{url}"

[logging]
level = "warn"

[status]
listen = "127.0.0.1:{status_port}"

[money]
post_on_delivery = ["WITHDRAW"]

[tranproc]
batch_size = {batch}

[[binds]]
name = "sim"
host = "127.0.0.1"
port = 9
system_id = "{e2e.SYSTEM_ID}"
password = "{e2e.PASSWORD}"
serves = ["{e2e.SHORT_CODE}"]
"""


def sends(count: int, accounts: int, seed: int) -> list[tuple[str, str]]:
    """(payer, MO text) for `count` SENDs between random subscribers; no (payer, payee, amount)
    twice, so the double-send guard never changes what one does."""
    rng, seen, found = random.Random(seed), set(), []
    while len(found) < count:
        payer, payee = rng.sample(range(accounts), 2)
        amount = rng.randint(10, 500)
        if (payer, payee, amount) not in seen:
            seen.add((payer, payee, amount))
            payee_msisdn = e2e.FIRST_MSISDN + payee
            found.append((str(e2e.FIRST_MSISDN + payer), f"SEND {payee_msisdn} {amount} {e2e.PIN}"))
    return found


def commit_inbox(url: str, workload: list[tuple[str, str]]) -> float:
    """The SENDs into the inbox in one transaction, as the LIS writes them; the commit's time."""
    from daemon.lis import IncomingMo, write_batch_txn
    from ledger import make_engine

    mos = [
        IncomingMo("sim", payer, e2e.SHORT_CODE, 0, text.encode(), None) for payer, text in workload
    ]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            assert write_batch_txn(conn, mos, [], None, time.time_ns(), b"s" * 32) == len(mos)
        return time.monotonic()
    finally:
        engine.dispose()


class Sampler(threading.Thread):
    """pg_stat_activity of the database every SAMPLE_S, until stopped: what its backends wait on."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop_flag = url, threading.Event()
        self.samples = 0
        self.active = 0  # backend-samples running a statement
        self.waits: Counter = Counter()  # (wait_event_type:wait_event, table) -> backend-samples

    def run(self) -> None:
        import psycopg

        from daemon.pg_notify import conninfo
        from ledger import make_engine

        engine = make_engine(self.url)
        query = (
            "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND state <> 'idle'"
        )
        with psycopg.connect(conninfo(engine), autocommit=True) as conn:
            while not self.stop_flag.is_set():
                self.samples += 1
                for state, wait_type, wait_event, text in conn.execute(query):
                    if "LISTEN" in (text or "") or state == "idle in transaction (aborted)":
                        continue
                    self.active += 1
                    if wait_type in ("Lock", "LWLock", "IO", "IPC"):
                        self.waits[(f"{wait_type}:{wait_event}", _table(text or ""))] += 1
                self.stop_flag.wait(SAMPLE_S)
        engine.dispose()

    def summary(self) -> dict[str, Any]:
        lock_waits = {
            f"{kind} on {table}": count for (kind, table), count in self.waits.most_common()
        }
        on_head = sum(c for (kind, table), c in self.waits.items() if table == "ledger_head")
        return {
            "samples": self.samples,
            "busy_backend_samples": self.active,
            "waits": lock_waits,
            "waits_on_ledger_head": on_head,
        }


def _table(sql: str) -> str:
    found = _LOCKED_TABLE.search(sql)
    return found.group(1) if found else "?"


def postgres_cpu_s() -> float:
    """User + system CPU of every postgres process on the machine (this benchmark's server)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("postgres") and (cpu := e2e.cpu_seconds(int(pid))) is not None:
                total += cpu
    return total


def deadlocks(url: str) -> int:
    from sqlalchemy import text

    from ledger import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def inbox_new(conn: Any) -> int:
    from sqlalchemy import func, select

    from daemon.schema import inbox

    query = select(func.count()).select_from(inbox).where(inbox.c.status == "new")
    return int(conn.execute(query).scalar_one())


def start_tranprocs(work: Path, url: str, count: int, batch: int) -> list[Any]:
    """`count` TranProc processes, each ready (its status endpoint answers) before the next."""
    processes = []
    for index in range(count):
        port = e2e.free_port()
        config = work / f"tranproc{index}.toml"
        config.write_text(config_text(work / "state", url, port, f"bench-tranproc-{index}", batch))
        process = e2e.start_daemon(config, work / f"tranproc{index}.log", ())
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "error" in e2e.daemon_status(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (work / f"tranproc{index}.log").read_text()[-2000:]
                raise RuntimeError(f"tranproc {index} did not start: {log}")
            time.sleep(0.2)
        processes.append(process)
    return processes


def drain(url: str, processes: list[Any], workload: list[tuple[str, str]]) -> dict[str, Any]:
    from ledger import make_engine

    engine = make_engine(url)
    sampler = Sampler(url)
    cpu_before = [e2e.cpu_seconds(p.pid) or 0.0 for p in processes]
    pg_before, deadlocks_before = postgres_cpu_s(), deadlocks(url)
    sampler.start()
    committed = commit_inbox(url, workload)
    with engine.connect() as conn:
        while inbox_new(conn):
            conn.rollback()
            if time.monotonic() - committed > DRAIN_TIMEOUT_S:
                raise RuntimeError("the TranProcs did not drain the inbox")
            time.sleep(0.02)
    elapsed_s = time.monotonic() - committed
    sampler.stop_flag.set()
    sampler.join()
    engine.dispose()
    cpu = [
        (e2e.cpu_seconds(p.pid) or 0.0) - before
        for p, before in zip(processes, cpu_before, strict=True)
    ]
    return {
        "elapsed_s": round(elapsed_s, 3),
        "cpu_s": cpu,
        "postgres_cpu_s": postgres_cpu_s() - pg_before,
        "deadlocks": deadlocks(url) - deadlocks_before,
        "locks": sampler.summary(),
    }


def outcome(url: str) -> dict[str, Any]:
    """The inbox outcomes and the ledger check, once the TranProcs have stopped."""
    from sqlalchemy import func, select

    from daemon.schema import inbox
    from ledger import check_ledger, make_engine

    engine = make_engine(url, sqlite_begin="DEFERRED")
    try:
        with engine.connect() as conn:
            query = select(inbox.c.status, func.count()).group_by(inbox.c.status)
            statuses = dict(conn.execute(query).all())
            report = check_ledger(conn)
            chains = len(report.chains)
        return {"inbox": statuses, "ledger_check_ok": report.ok, "ledger_chains": chains}
    finally:
        engine.dispose()


def run_one(pg: Any, count: int, args: argparse.Namespace) -> dict[str, Any]:
    from ledger.testing.postgres import create_database, drop_database

    url = create_database(pg.admin_url, prefix="scaleout")
    with tempfile.TemporaryDirectory(prefix="smscore-scaleout-") as tmp:
        work = Path(tmp)
        seed_config = work / "seed.toml"
        seed_config.write_text(config_text(work / "state", url, 0, "bench-seed", args.batch))
        e2e.seed_database(seed_config, args.accounts, opening_minor=500_000)
        processes = start_tranprocs(work, url, count, args.batch)
        try:
            drained = drain(url, processes, sends(args.sends, args.accounts, args.seed))
        finally:
            codes = [e2e.stop_daemon(p) for p in processes]
        found = outcome(url)
    drop_database(pg.admin_url, url)
    per_send = [round(cpu * 1000 / args.sends, 3) for cpu in drained["cpu_s"]]
    return {
        "processes": count,
        "sends_per_s": round(args.sends / drained["elapsed_s"], 1),
        "transfers_per_s": round(2 * args.sends / drained["elapsed_s"], 1),
        "cpu_ms_per_send_per_process": per_send,
        "cpu_ms_per_send_all_tranprocs": round(sum(per_send), 3),
        "postgres_cpu_ms_per_send": round(drained["postgres_cpu_s"] * 1000 / args.sends, 3),
        "elapsed_s": drained["elapsed_s"],
        "deadlocks": drained["deadlocks"],
        "lock_waits": drained["locks"],
        "exit_codes": codes,
        **found,
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=200, help="tranproc.batch_size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from ledger.testing.postgres import TemporaryPostgres

    started = time.monotonic()
    runs = []
    with TemporaryPostgres(durable=True) as pg:
        for count in args.processes:
            runs.append(run_one(pg, count, args))
    base = runs[0]["sends_per_s"]
    for found in runs:
        found["scaling_vs_first"] = round(found["sends_per_s"] / base, 2)
    print(json.dumps({
        "runs": runs, "sends": args.sends, "accounts": args.accounts, "batch_size": args.batch,
        "postgresql_settings": "local unix socket, fsync=on, synchronous_commit=on",
        "machine": f"{os.cpu_count()}-core, shared", "elapsed_s": round(time.monotonic() - started, 1),
    }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
