"""The database side of a BAL, in one process with no SMPP and no reactor: the daemon's own
transactions for `--batches` batches of `--batch` BAL MOs, phase by phase, as the daemon runs them on
its database thread:

- `inbox`: the LIS group commit of the MOs (daemon.lis.write_batch_txn);
- `tranproc`: the TranProc batch, claiming its replies for the in-process sender (process_batch_txn);
- `record`: the sender's record of every reply accepted by the SMSC (record_outcomes_txn);
- `receipts`: the LIS group commit of the replies' delivery receipts, from deliver_sm PDUs as the
  simulator writes them (receipt_from_pdu, then write_batch_txn with apply_receipts_txn).

Each phase is timed as this thread's CPU (`time.thread_time`: the machine's other load moves it far
less than wall time); with `--calls` it is also run under cProfile, whose count of Python function
calls per BAL does not depend on the load at all (the same code makes the same calls). SQLite in a
file, WAL, synchronous=FULL, as the daemon opens it (benchmarks.e2e's config and seeding).

    .venv/bin/python -m benchmarks.bal_pipeline [--subscribers 20000] [--batches 20] [--batch 200]
        [--calls]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import e2e

PHASES = ("inbox", "tranproc", "record", "receipts")


class Phases:
    def __init__(self, calls: bool) -> None:
        self.cpu_s = dict.fromkeys(PHASES, 0.0)
        self.profiles = {name: cProfile.Profile() for name in PHASES} if calls else None

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        profile = self.profiles[name] if self.profiles else None
        started = time.thread_time()
        if profile is not None:
            profile.enable()
        try:
            return work()
        finally:
            if profile is not None:
                profile.disable()
            self.cpu_s[name] += time.thread_time() - started


def _mo_pdu(msisdn: str) -> Any:
    from smscore.pdu import DeliverSm

    return DeliverSm(source_addr=msisdn, destination_addr=e2e.SHORT_CODE,
                     short_message=e2e.BenchPlan.text.encode())  # fmt: skip


def _receipt_pdu(msisdn: str, message_id: str) -> Any:
    from smscore.pdu import DeliverSm

    text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2612020500 done date:2612020500 "
            f"stat:DELIVRD err:000 text:Your smscore balan")  # fmt: skip
    return DeliverSm(source_addr=msisdn, destination_addr=e2e.SHORT_CODE, esm_class=0x04,
                     short_message=text.encode())  # fmt: skip


def _accepted(claimed: list[Any], first_id: int) -> list[Any]:
    from daemon.outbox.claims import AcceptedPart, SmsOutcome
    from daemon.outbox.disposition import Disposition

    return [
        SmsOutcome(sms, 0, 1, "sim", (AcceptedPart(1, f"{first_id + index:010x}"),),
                   Disposition.SUBMITTED, "")
        for index, sms in enumerate(claimed)
    ]  # fmt: skip


def measure(work: Path, subscribers: int, batches: int, batch: int, calls: bool) -> dict:
    from daemon.commands.builtin import default_registry
    from daemon.components import pin_hasher
    from daemon.config import load_config
    from daemon.tranproc import TranProcEnv
    from ledger import make_engine

    config_path = work / "smscore.toml"
    config_path.write_text(e2e.daemon_config_text(work / "state", 2775, 10, 0))
    e2e.seed_database(config_path, subscribers)
    config = load_config(config_path)
    env = TranProcEnv.build(default_registry(), config, pin_hasher(config))
    engine = make_engine(config.database_url)
    phases, secret, handled = Phases(calls), b"k" * 32, 0

    def txn(work: Callable[..., Any], *args: Any) -> Any:
        with engine.begin() as conn:
            return work(conn, *args)

    for number in range(batches):
        msisdns = [str(e2e.FIRST_MSISDN + number * batch + i) for i in range(batch)]
        handled += _one_batch(phases, txn, env, config, msisdns, number * batch, secret)
    with engine.begin() as conn:  # every reply delivered: the receipts matched their parts
        by_status = dict(
            conn.exec_driver_sql("SELECT status, count(*) FROM outbox GROUP BY status").all()
        )
    engine.dispose()
    return {**_result(phases, handled, batch), "outbox_by_status": by_status}


def _one_batch(
    phases: Phases, txn: Callable[..., Any], env: Any, config: Any, msisdns: list[str],
    first_id: int, secret: bytes,
) -> int:  # fmt: skip
    from daemon.lis import mo_from_pdu, write_batch_txn
    from daemon.outbox.claims import record_outcomes_txn
    from daemon.receipts import apply_receipts_txn, receipt_from_pdu
    from daemon.tranproc import process_batch_txn

    now_ns, batch = time.time_ns(), len(msisdns)
    mos = [mo_from_pdu("sim", _mo_pdu(msisdn)) for msisdn in msisdns]
    phases.run("inbox", lambda: txn(write_batch_txn, mos, [], None, now_ns, secret))
    result = phases.run("tranproc", lambda: txn(process_batch_txn, env, now_ns, batch, batch))
    outcomes = _accepted(result.replies_claimed, first_id)
    phases.run("record", lambda: txn(record_outcomes_txn, outcomes, now_ns, config.sender))

    def receipts() -> Any:
        found = [receipt_from_pdu(_receipt_pdu(o.sms.destination_addr, o.accepted[0].message_id),
                                  "sim") for o in outcomes]  # fmt: skip
        return txn(write_batch_txn, [], found, apply_receipts_txn, now_ns, secret)

    phases.run("receipts", receipts)
    return result.done


def _result(phases: Phases, handled: int, batch: int) -> dict[str, Any]:
    out: dict[str, Any] = {"bal": handled, "batch": batch}
    per = max(handled, 1)
    for name in PHASES:
        out[f"{name}_cpu_us_per_bal"] = round(phases.cpu_s[name] / per * 1e6)
    out["total_cpu_us_per_bal"] = round(sum(phases.cpu_s.values()) / per * 1e6)
    if phases.profiles is not None:
        counts = {name: pstats.Stats(p).total_calls for name, p in phases.profiles.items()}  # type: ignore[attr-defined]
        for name, count in counts.items():
            out[f"{name}_python_calls_per_bal"] = round(count / per, 1)
        out["total_python_calls_per_bal"] = round(sum(counts.values()) / per, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200, help="MOs per LIS and TranProc batch")
    parser.add_argument("--calls", action="store_true", help="count Python calls (cProfile)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.batch * args.batches > args.subscribers:
        parser.error("every BAL needs a subscriber of its own (--subscribers)")
    with tempfile.TemporaryDirectory(prefix="smscore-bal-pipeline-") as temporary:
        result = measure(Path(temporary), args.subscribers, args.batches, args.batch, args.calls)
    print(json.dumps({"machine": e2e.machine(), **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
