"""Helpers for ledger tests: a full dump of the ledger tables, to prove "changed nothing"."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from ledger.schema import (
    GENESIS_HASH,
    HEAD_ROW_ID,
    accounts,
    ledger_head,
    pending_transfers,
    transfers,
)


def dump(conn: Connection) -> dict[str, list[tuple]]:
    tables = {
        "accounts": accounts,
        "transfers": transfers,
        "pending": pending_transfers,
        "head": ledger_head,
    }
    return {
        name: sorted(tuple(row) for row in conn.execute(select(table)))
        for name, table in tables.items()
    }


def reset(conn: Connection) -> None:
    """Empty the ledger (faster than a new database per hypothesis example)."""
    for table in (pending_transfers, transfers, accounts):
        conn.execute(delete(table))
    conn.execute(delete(ledger_head).where(ledger_head.c.id != HEAD_ROW_ID))  # other chains
    conn.execute(
        update(ledger_head)
        .where(ledger_head.c.id == HEAD_ROW_ID)
        .values(transfer_count=0, head_hash=GENESIS_HASH, last_timestamp_ns=0)
    )
