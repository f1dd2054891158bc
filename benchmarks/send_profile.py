"""Where a SEND's database time goes, in one process with no SMPP: the TranProc batch that handles
SENDs, then (rollback mode) the settler run that posts them once their confirmations are delivered.

Seeds `--accounts` wallets in a SQLite file (WAL, synchronous=FULL, as the daemon opens it), then
repeats: insert `--batch` SEND rows into the inbox, run `process_batch_txn` (a daemon TranProc
batch), mark the batch's confirmations delivered, run `settle_txn`. Each phase is timed as CPU of
this thread (`time.thread_time`, which the machine's other load moves far less than wall time) and
wall time. `--profile` prints the cProfile functions with the most cumulative time per phase.
Prints one JSON object.

    .venv/bin/python -m benchmarks.send_profile [--accounts 100000] [--batches 20] [--profile]
        [--channels off|none|all]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import e2e
from benchmarks.send import SendPlan, daemon_config_text, plan_sends

PHASES = ("tranproc", "settle")


def _inbox_rows(sends: list[Any], now_ns: int) -> list[dict[str, Any]]:
    return [
        {"received_at_ns": now_ns, "bind_name": "sim", "source_addr": send.payer,
         "destination_addr": e2e.SHORT_CODE, "data_coding": 0, "payload": send.text.encode(),
         "text": send.text, "dedupe_key": uuid.uuid4().hex, "status": "new", "attempts": 0}
        for send in sends
    ]  # fmt: skip


class Phases:
    """CPU and wall time per phase, and a profile of each when asked."""

    def __init__(self, profile: bool) -> None:
        self.cpu_s = dict.fromkeys(PHASES, 0.0)
        self.wall_s = dict.fromkeys(PHASES, 0.0)
        self.profiles = {name: cProfile.Profile() for name in PHASES} if profile else None

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        cpu, wall = time.thread_time(), time.perf_counter()
        profile = self.profiles[name] if self.profiles else None
        if profile is not None:
            profile.enable()
        try:
            return work()
        finally:
            if profile is not None:
                profile.disable()
            self.cpu_s[name] += time.thread_time() - cpu
            self.wall_s[name] += time.perf_counter() - wall

    def top(self, name: str, lines: int, sort: str = "cumulative") -> str:
        assert self.profiles is not None
        out = io.StringIO()
        stats = pstats.Stats(self.profiles[name], stream=out)
        stats.sort_stats(sort).print_stats(lines)
        return out.getvalue()


def _channels(config: Any, engine: Any, mode: str, accounts: int) -> None:
    """`--channels`: off (as before channels existed), none (the move observer on, as the daemon
    runs it, nobody with a channel), all (every seeded wallet has a channel: two events a SEND)."""
    from sqlalchemy import insert

    from daemon.channels.events import activate_channels, new_reference
    from daemon.schema_api import channels

    if mode == "off":
        return
    activate_channels(config)
    if mode == "all":
        rows = [{"msisdn": str(e2e.FIRST_MSISDN + i), "reference": new_reference(),
                 "next_seq": 1, "key_epoch": 1, "created_at_ns": 0} for i in range(accounts)]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(channels), rows)


def measure(
    plan: SendPlan, work: Path, batches: int, batch: int, profile: str | None, channels: str = "off"
) -> dict[str, Any]:
    from sqlalchemy import insert, update

    from daemon.components import pin_hasher
    from daemon.config import load_config
    from daemon.money.commands import service_registry
    from daemon.money.settle import HOOK, SettleEnv, settle_txn
    from daemon.outbox import OutboxStatus
    from daemon.schema import inbox, outbox
    from daemon.tranproc import TranProcEnv, process_batch_txn
    from ledger import make_engine

    config_path = work / "smscore.toml"
    config_path.write_text(daemon_config_text(plan, work / "state", 2775, 0))
    seed_s = e2e.seed_database(config_path, plan.accounts, opening_minor=plan.opening_minor)
    config = load_config(config_path)
    hasher = pin_hasher(config)
    env = TranProcEnv.build(service_registry(), config, hasher)
    settle_env = SettleEnv(config, hasher)
    engine = make_engine(config.database_url)
    _channels(config, engine, channels, plan.accounts)
    sends = plan_sends(plan)
    phases = Phases(profile is not None)
    handled = 0
    for number in range(batches):
        now_ns = time.time_ns()
        chunk = sends[number * batch : (number + 1) * batch]
        with engine.begin() as conn:
            conn.execute(insert(inbox), _inbox_rows(chunk, now_ns))

        def tranproc(now_ns: int = now_ns) -> Any:
            with engine.begin() as conn:
                return process_batch_txn(conn, env, now_ns, batch)

        handled += phases.run("tranproc", tranproc).done
        with engine.begin() as conn:  # what the receipts of the confirmations would do
            conn.execute(
                update(outbox)
                .where(outbox.c.on_failure == HOOK, outbox.c.status == OutboxStatus.QUEUED)
                .values(status=OutboxStatus.DELIVERED, final_at_ns=now_ns)
            )

        def settle(now_ns: int = now_ns) -> Any:
            with engine.begin() as conn:
                return settle_txn(conn, settle_env, now_ns + 1)

        phases.run("settle", settle)
    engine.dispose()
    result: dict[str, Any] = {"accounts": plan.accounts, "seed_s": round(seed_s, 2),
                              "sends": handled, "batch": batch, "channels": channels}  # fmt: skip
    for name in PHASES:
        result[f"{name}_cpu_us_per_send"] = round(phases.cpu_s[name] / max(handled, 1) * 1e6)
        result[f"{name}_wall_us_per_send"] = round(phases.wall_s[name] / max(handled, 1) * 1e6)
    if phases.profiles is not None:  # deterministic: the same code makes the same calls
        for name, stats in phases.profiles.items():
            calls = pstats.Stats(stats).total_calls  # type: ignore[attr-defined]
            result[f"{name}_python_calls_per_send"] = round(calls / max(handled, 1))
        result["profiles"] = {
            name: phases.top(name, 40, profile or "cumulative") for name in PHASES
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200, help="SENDs per TranProc batch")
    parser.add_argument("--post-at-once", action="store_true", help="no settler: post in the batch")
    parser.add_argument("--profile", nargs="?", const="cumulative", metavar="SORT",
                        help="print cProfile's top functions (sorted by SORT: cumulative, tottime)")  # fmt: skip
    parser.add_argument("--channels", choices=("off", "none", "all"), default="off",
                        help="channel events: off; on with no channels; on, every wallet one")  # fmt: skip
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    plan = SendPlan(accounts=args.accounts, rate_per_s=args.batch * args.batches, duration_s=1,
                    warmup_s=0, post_on_delivery=not args.post_at_once)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="smscore-send-profile-") as temporary:
        result = measure(
            plan, Path(temporary), args.batches, args.batch, args.profile, args.channels
        )
    profiles = result.pop("profiles", {})
    for name, text in profiles.items():
        print(f"--- {name}\n{text}", file=sys.stderr)
    print(json.dumps({"machine": e2e.machine(), **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
