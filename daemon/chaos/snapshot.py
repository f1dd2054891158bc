"""The daemon's database as the model reads it after the run: plain SQL through sqlite3, nothing of
the daemon's own code, so a defect there cannot hide itself from the check."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Balance:
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def posted(self) -> int:
        """Credits less debits: a wallet's balance (debit-normal accounts come out negative)."""
        return self.credits_posted - self.debits_posted


@dataclass
class Snapshot:
    accounts: dict[int, Balance]
    wallets: dict[str, int]  # msisdn -> account id
    biller_accounts: dict[str, int]  # biller code -> settlement account id
    moves: list[dict[str, Any]]
    inbox: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    replies_per_inbox: dict[int, int]  # SMS to the MO's sender with its inbox id
    pendings: list[dict[str, Any]]
    move_transfers: dict[int, int]  # move id -> ledger transfers in its id range

    def balance(self, account_id: int) -> Balance:
        return self.accounts.get(account_id, Balance(0, 0, 0, 0))


def _rows(conn: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    cursor = conn.execute(sql)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def read_snapshot(db_path: Path) -> Snapshot:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        accounts = {
            row["id"]: Balance(row["debits_posted"], row["credits_posted"],
                               row["debits_pending"], row["credits_pending"])
            for row in _rows(conn, "SELECT * FROM ledger_accounts")
        }  # fmt: skip
        wallets = dict(conn.execute("SELECT msisdn, account_id FROM subscribers").fetchall())
        billers = dict(conn.execute("SELECT code, account_id FROM billers").fetchall())
        moves = _rows(conn, "SELECT * FROM moves ORDER BY id")
        inbox = _rows(
            conn,
            "SELECT id, source_addr, text, status, command, error, ussd_session FROM inbox"
            " ORDER BY id",
        )
        outbox = _rows(
            conn,
            "SELECT id, inbox_id, destination_addr, text, status, on_failure, on_failure_ref,"
            " ussd_op, deliver_by_ns, final_at_ns FROM outbox ORDER BY id",
        )
        # Answers to the MO's own sender (a SEND's row also has the recipient's notice).
        replies = dict(
            conn.execute(
                "SELECT o.inbox_id, count(*) FROM outbox o JOIN inbox i ON i.id = o.inbox_id"
                " WHERE o.destination_addr = i.source_addr GROUP BY o.inbox_id"
            ).fetchall()
        )
        pendings = _rows(
            conn,
            "SELECT p.transfer_id, p.status, p.expires_at_ns, p.resolved_at_ns, t.timeout_s,"
            " t.timestamp_ns FROM ledger_pending_transfers p"
            " JOIN ledger_transfers t ON t.id = p.transfer_id",
        )
        move_transfers = _move_transfers(conn)
    finally:
        conn.close()
    return Snapshot(accounts, wallets, billers, moves, inbox, outbox, replies, pendings,
                    move_transfers)  # fmt: skip


def _move_transfers(conn: sqlite3.Connection) -> dict[int, int]:
    """How many ledger transfers each move's id range holds (its legs, and their post or void).
    A move's ids start at its transfer_id_base; the next move's range starts a fixed stride on."""
    bases = conn.execute(
        "SELECT id, transfer_id_base FROM moves WHERE transfer_id_base IS NOT NULL ORDER BY id"
    ).fetchall()
    if len(bases) < 2:
        return {}
    (first_id, first_base), (second_id, second_base) = bases[0], bases[1]
    stride = (second_base - first_base) // (second_id - first_id)
    origin = first_base - first_id * stride
    counts: dict[int, int] = {}
    for (transfer_id,) in conn.execute(
        "SELECT id FROM ledger_transfers WHERE id >= ?", (origin + stride,)
    ):
        move_id = (transfer_id - origin) // stride
        counts[move_id] = counts.get(move_id, 0) + 1
    return counts
