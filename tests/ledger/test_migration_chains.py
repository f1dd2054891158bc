"""Migration 0002 on a ledger written before it (one chain, `seq` given by the writer): every
transfer becomes link `seq` of chain 1 with its hash unchanged, so a seal taken before still holds,
the check passes, and new transfers continue after the old ones (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import select

from ledger import (
    Account,
    CreateTransferResult,
    Transfer,
    check_ledger,
    create_accounts,
    create_transfers,
    make_engine,
    upgrade,
)
from ledger.hashchain import transfer_digest
from ledger.migrate import current_version
from ledger.schema import GENESIS_HASH, transfers
from ledger.seal import LEDGER_CHAIN, Mark, check_tail, compare_with_seal

OLD_COLUMNS = (
    "seq", "id", "debit_account_id", "credit_account_id", "amount", "currency", "code", "flags",
    "kind", "pending_id", "timeout_s", "user_data", "timestamp_ns", "hash",
)  # fmt: skip
_old_transfers = sa.table("ledger_transfers", *(sa.column(name) for name in OLD_COLUMNS))
_old_head = sa.table(
    "ledger_head",
    sa.column("id"),
    *(sa.column(n) for n in ("transfer_count", "head_hash", "last_timestamp_ns")),
)


def write_old_ledger(conn, count: int) -> Mark:
    """`count` transfers 1 → 2 as the 0001 code wrote them; the head it left."""
    previous, rows = GENESIS_HASH, []
    for seq in range(1, count + 1):
        fields = (seq, 1, 2, seq * 10, "KES", 0, 0, None, 0, f"old{seq}")
        previous = transfer_digest(previous, seq, fields, 100 + seq)
        rows.append(
            dict(
                zip(
                    OLD_COLUMNS,
                    (seq, *fields[:7], 0, *fields[7:], 100 + seq, previous),
                    strict=True,
                )
            )
        )
    conn.execute(_old_transfers.insert(), rows)
    total = sum(seq * 10 for seq in range(1, count + 1))
    accounts = sa.table(
        "ledger_accounts", sa.column("id"), sa.column("debits_posted"), sa.column("credits_posted")
    )
    conn.execute(accounts.update().where(accounts.c.id == 1).values(debits_posted=total))
    conn.execute(accounts.update().where(accounts.c.id == 2).values(credits_posted=total))
    conn.execute(
        _old_head.update().values(
            transfer_count=count, head_hash=previous, last_timestamp_ns=100 + count
        )
    )
    return Mark(count, previous)


def test_0002_makes_an_existing_ledger_chain_1_unchanged(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            upgrade(conn, "0001")
            create_accounts(conn, [Account(1, "KES"), Account(2, "KES")], 0)
            sealed = write_old_ledger(conn, 12)
        with engine.begin() as conn:
            upgrade(conn)
            assert current_version(conn) == "0002"
            report = check_ledger(conn)
            assert report.ok, report.violations
            assert (report.transfer_count, report.head_hash_hex) == (12, sealed.head_hash.hex())
            assert compare_with_seal(conn, LEDGER_CHAIN, sealed, "before") is None
            assert check_tail(conn, LEDGER_CHAIN, 5).problem is None
            links = conn.execute(select(transfers.c.seq, transfers.c.chain, transfers.c.chain_seq))
            assert sorted(links) == [(n, 1, n) for n in range(1, 13)]
        with engine.begin() as conn:
            results = create_transfers(
                conn, [Transfer(50, 1, 2, 5, "KES"), Transfer(51, 2, 1, 5, "KES")], 200
            )
            assert results == [CreateTransferResult.OK] * 2
            new = conn.execute(
                select(transfers.c.seq, transfers.c.chain_seq).where(transfers.c.id >= 50)
            )
            assert sorted(new) == [(13, 13), (14, 14)]  # after the old rows, in the same chain
            assert check_ledger(conn).ok
            assert compare_with_seal(conn, LEDGER_CHAIN, sealed, "before") is None  # continues it
    finally:
        engine.dispose()
