"""Ledger throughput: transfers/s on SQLite and PostgreSQL at 1, 10, 100 and 1,000 per commit.

Prints one JSON object. In the same run it measures plain `sqlite3` doing the same writes (one
INSERT and two balance UPDATEs per transfer, executemany per commit, same schema and pragmas), as
the yardstick the ledger is held to. PostgreSQL is a throwaway durable cluster (fsync on) started
and stopped here, the same way the tests start theirs. Each point runs for about RUN_S seconds.

    .venv/bin/python benchmarks/ledger.py [--quick]
"""

from __future__ import annotations

import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and its name would shadow the
# `ledger` package: look in the repository root instead. (Imported as benchmarks.ledger: nothing to do.)
if not __package__:
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

from sqlalchemy import Engine

from ledger import (
    Account,
    CreateTransferResult,
    Transfer,
    create_accounts,
    create_transfers,
    make_engine,
    upgrade,
)
from ledger.testing.postgres import TemporaryPostgres, create_database, drop_database

BATCH_SIZES = (1, 10, 100, 1000)
ACCOUNT_COUNT = 1000
RUN_S = 3.0
MAX_TRANSFERS_PER_POINT = 200_000
CURRENCY = "KES"


class TransferSource:
    """Deterministic random transfers between ACCOUNT_COUNT accounts, unique ids."""

    def __init__(self, seed: int = 7) -> None:
        self._random = random.Random(seed)
        self._next_id = 1

    def batch(self, size: int) -> list[Transfer]:
        out = []
        for _ in range(size):
            debit = self._random.randrange(1, ACCOUNT_COUNT + 1)
            credit = debit % ACCOUNT_COUNT + 1 + self._random.randrange(0, ACCOUNT_COUNT - 1)
            credit = (credit - 1) % ACCOUNT_COUNT + 1
            out.append(
                Transfer(self._next_id, debit, credit, self._random.randrange(1, 10_000), CURRENCY)
            )
            self._next_id += 1
        return out


def _timed(run_batch, batch_size: int) -> float:
    """Run batches for about RUN_S seconds; return transfers per second."""
    done, started = 0, time.perf_counter()
    while True:
        run_batch(batch_size)
        done += batch_size
        elapsed = time.perf_counter() - started
        if elapsed >= RUN_S or done >= MAX_TRANSFERS_PER_POINT:
            return round(done / elapsed)


def _prepare(engine: Engine) -> None:
    with engine.begin() as conn:
        upgrade(conn)
        accounts = [Account(i, CURRENCY, code=300) for i in range(1, ACCOUNT_COUNT + 1)]
        create_accounts(conn, accounts, now_ns=0)


def bench_ledger(url: str, batch_size: int) -> float:
    engine = make_engine(url)
    _prepare(engine)
    source = TransferSource()
    clock_ns = [0]

    def run_batch(size: int) -> None:
        transfers = source.batch(size)
        clock_ns[0] += 1000
        with engine.begin() as conn:
            results = create_transfers(conn, transfers, now_ns=clock_ns[0])
        assert results.count(CreateTransferResult.OK) == size, results

    try:
        return _timed(run_batch, batch_size)
    finally:
        engine.dispose()


_PLAIN_INSERT = (
    "INSERT INTO ledger_transfers (chain, chain_seq, id, debit_account_id, credit_account_id, "
    "amount, currency, code, flags, kind, pending_id, timeout_s, user_data, timestamp_ns, hash) "
    "VALUES (1, ?, ?, ?, ?, ?, ?, 0, 0, 0, NULL, 0, NULL, ?, ?)"
)
_PLAIN_DEBIT = "UPDATE ledger_accounts SET debits_posted = debits_posted + ? WHERE id = ?"
_PLAIN_CREDIT = "UPDATE ledger_accounts SET credits_posted = credits_posted + ? WHERE id = ?"


def bench_plain_sqlite3(path: Path, batch_size: int) -> float:
    """The same rows written with the sqlite3 module: no validation, no hash chain."""
    _prepare(make_engine(f"sqlite:///{path}"))
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
        db.execute(f"PRAGMA {pragma}")
    source, zero_hash = TransferSource(), bytes(32)

    def run_batch(size: int) -> None:
        transfers = source.batch(size)
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            _PLAIN_INSERT,
            [(t.id, t.id, t.debit_account_id, t.credit_account_id, t.amount, t.currency, 0, zero_hash)
             for t in transfers],
        )  # fmt: skip
        db.executemany(_PLAIN_DEBIT, [(t.amount, t.debit_account_id) for t in transfers])
        db.executemany(_PLAIN_CREDIT, [(t.amount, t.credit_account_id) for t in transfers])
        db.execute("COMMIT")

    try:
        return _timed(run_batch, batch_size)
    finally:
        db.close()


def run(tmp: Path, pg: TemporaryPostgres) -> dict:
    figures: dict = {"sqlite": {}, "plain_sqlite3": {}, "postgresql": {}}
    for size in BATCH_SIZES:
        figures["sqlite"][size] = bench_ledger(f"sqlite:///{tmp / f'ledger-{size}.db'}", size)
        figures["plain_sqlite3"][size] = bench_plain_sqlite3(tmp / f"plain-{size}.db", size)
        url = create_database(pg.admin_url, prefix="bench")
        try:
            figures["postgresql"][size] = bench_ledger(url, size)
        finally:
            drop_database(pg.admin_url, url)
    figures["sqlite_vs_plain_at_1000"] = round(
        figures["sqlite"][1000] / figures["plain_sqlite3"][1000], 2
    )
    return figures


def main() -> None:
    global RUN_S
    if "--quick" in sys.argv:
        RUN_S = 0.5
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="smscore-bench-") as tmp,
        TemporaryPostgres(durable=True) as pg,
    ):
        figures = run(Path(tmp), pg)
    figures.update(
        unit="transfers/s",
        accounts=ACCOUNT_COUNT,
        sqlite_settings="WAL, synchronous=FULL",
        postgresql_settings="local unix socket, fsync=on, synchronous_commit=on",
        machine=f"{os.cpu_count()}-core {platform.machine()}, Python {platform.python_version()}",
        elapsed_s=round(time.perf_counter() - started, 1),
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
