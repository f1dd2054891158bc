"""The start-up's seal check (daemon.seal_guard) on a large ledger: its time does not grow with it.

Builds a SQLite ledger of `--transfers` transfers with the ledger's batch API (in a temporary
directory, or `--db FILE` kept for the next run), then times the start-up check (the seal
comparison and the tail re-hash of `seal.tail_transfers`, each on a new engine as at start-up)
for a few tail lengths. Prints one JSON object.

    .venv/bin/python benchmarks/seal_check.py [--transfers 1000000] [--db var/big.db]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: the repository root, not benchmarks/, comes first
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

from daemon.migrate import upgrade_all
from daemon.seal_guard import findings_txn, marks_txn
from ledger import MAX_BATCH, Account, Transfer, create_accounts, create_transfers, make_engine
from ledger.seal_file import Seal

ACCOUNTS = 1000
TAILS = (1_000, 10_000, 100_000)
RUNS = 3


def build(url: str, count: int) -> float:
    engine = make_engine(url)
    started = time.monotonic()
    with engine.begin() as conn:
        upgrade_all(conn)
        create_accounts(conn, [Account(i, "KES") for i in range(1, ACCOUNTS + 1)], 0)
    next_id = 1
    while next_id <= count:
        ids = range(next_id, min(next_id + MAX_BATCH, count + 1))
        batch = [
            Transfer(i, 1 + i % ACCOUNTS, 1 + (i + 1) % ACCOUNTS, 1 + i % 5000, "KES") for i in ids
        ]
        with engine.begin() as conn:
            create_transfers(conn, batch, next_id)
        next_id = ids.stop
    engine.dispose()
    return time.monotonic() - started


def time_check(url: str, seal: Seal, tail: int) -> float:
    engine = make_engine(url)  # a new engine, as a starting daemon has
    started = time.monotonic()
    with engine.connect() as conn:
        found = findings_txn(conn, seal, tail)
    elapsed = time.monotonic() - started
    engine.dispose()
    assert found == [], found
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="SQLite file to build (kept) or reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "seal-bench.db"
        url = f"sqlite:///{path}"
        build_s = None if path.exists() else build(url, args.transfers)
        engine = make_engine(url)
        with engine.connect() as conn:
            marks = marks_txn(conn)
        engine.dispose()
        seal = Seal(marks, time.time_ns())
        checks = {
            str(tail): sorted(round(time_check(url, seal, tail) * 1000, 1) for _ in range(RUNS))
            for tail in TAILS
        }
        print(json.dumps({
            "transfers": marks["ledger"].count,
            "file_mb": round(path.stat().st_size / 1e6),
            "build_s": None if build_s is None else round(build_s, 1),
            "startup_check_ms_by_tail": checks,  # RUNS runs each, fastest first
        }))  # fmt: skip


if __name__ == "__main__":
    main()
