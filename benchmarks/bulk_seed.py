"""Seeding customers fast (a million in well under a minute on this machine): the schema as `smscore
db upgrade` makes it, then one connection writing MAX_BATCH wallets per transaction through the
ledger's batch API (`create_accounts`, `create_transfers`: its checks and hash chain as always) and
the subscriber rows with one driver executemany, the rows as daemon.chart.open_wallet_txn and
daemon.subscribers.create_subscriber_txn write them (e2e.seed_database does the same 1,000 at a
time through the daemon's database runner).

SQLite's `synchronous` is OFF on this one connection while it seeds: the data is made before the
daemon starts and a crash while seeding only means seeding again, so there is nothing to make
durable per transaction; the daemon itself then runs with its own settings (FULL by default).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.e2e import FIRST_MSISDN, PIN

# The row as create_subscriber_txn writes it, every column with a default given (one driver
# executemany: SQLAlchemy's per-row parameter processing is most of the time otherwise).
SUBSCRIBER_COLUMNS = ("msisdn", "account_id", "name", "role", "language", "pin_hmac",
                      "pin_failures", "locked_until_ns", "created_at_ns", "kyc_tier", "state")  # fmt: skip
SUBSCRIBER_SQL = (
    f"INSERT INTO subscribers ({', '.join(SUBSCRIBER_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in SUBSCRIBER_COLUMNS)})"
)


@dataclass(frozen=True)
class Wallets:
    """What every seeded wallet shares."""

    currency: str
    opening_minor: int
    name: str
    hasher: Any
    now_ns: int


def chunk_txn(conn: Any, wallets: Wallets, msisdns: list[str]) -> None:
    """One transaction's wallets: accounts and opening deposits through the ledger's batch API,
    then the subscriber rows."""
    from daemon.chart import SystemAccount, TransferCode, wallet_account_id, wallet_code
    from daemon.commands.registry import Role
    from ledger import Account, AccountFlags, Transfer, create_accounts, create_transfers

    ids = [wallet_account_id(msisdn) for msisdn in msisdns]
    code, flags = wallet_code(Role.CUSTOMER), AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    now_ns, currency = wallets.now_ns, wallets.currency
    create_accounts(conn, [Account(i, currency, code, flags, f"msisdn:{m}")
                           for i, m in zip(ids, msisdns, strict=True)], now_ns)  # fmt: skip
    create_transfers(conn, [
        Transfer(id=i, debit_account_id=int(SystemAccount.TRUST), credit_account_id=i,
                 amount=wallets.opening_minor, currency=currency, code=int(TransferCode.DEPOSIT),
                 user_data="bench opening balance")
        for i in ids
    ], now_ns)  # fmt: skip
    rows = [(m, i, wallets.name, Role.CUSTOMER.value, "en", wallets.hasher.digest(m, PIN), 0, 0,
             now_ns, 1, "active") for i, m in zip(ids, msisdns, strict=True)]  # fmt: skip
    conn.connection.dbapi_connection.cursor().executemany(SUBSCRIBER_SQL, rows)


def seed_customers(
    config_path: Path, count: int, *, opening_minor: int, name: str = "",
    first_msisdn: int = FIRST_MSISDN, chunk_size: int = 0,
) -> float:  # fmt: skip
    """`count` funded customer wallets with PIN 1234; returns the seconds it took."""
    from daemon.chart import ensure_chart_txn
    from daemon.components import pin_hasher
    from daemon.config import load_config
    from daemon.migrate import upgrade_database
    from daemon.schema import subscribers as subscribers_table
    from ledger import MAX_BATCH, make_engine

    started = time.perf_counter()
    assert set(SUBSCRIBER_COLUMNS) <= set(subscribers_table.c.keys())
    config = load_config(config_path)
    upgrade_database(config.database_url)
    wallets = Wallets(
        config.service.currency, opening_minor, name, pin_hasher(config), time.time_ns()
    )
    engine = make_engine(config.database_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name != "sqlite":
                raise ValueError("the bulk seeder writes SQLite (the workloads' database)")
            # Outside SQLAlchemy's transaction: SQLite refuses it inside one.
            conn.connection.dbapi_connection.execute("PRAGMA synchronous = OFF")
            with conn.begin():
                ensure_chart_txn(conn, wallets.currency, wallets.now_ns)
            size = chunk_size or MAX_BATCH
            for start in range(0, count, size):
                chunk = [str(first_msisdn + n) for n in range(start, min(count, start + size))]
                with conn.begin():
                    chunk_txn(conn, wallets, chunk)
    finally:
        engine.dispose()
    return time.perf_counter() - started
