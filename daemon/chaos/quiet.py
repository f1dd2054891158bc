"""What the daemon's database is still busy with: replies waiting to go or in flight, moves still
open, pending ledger transfers, MOs not yet handled. Read with sqlite3 beside the running daemon
(WAL: readers never block it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

LEDGER_PENDING = 1  # ledger.model.PendingStatus.PENDING
BUSY_QUERIES = {
    "outbox_queued": "SELECT count(*) FROM outbox WHERE status IN ('queued', 'in_flight')",
    "moves_open": "SELECT count(*) FROM moves WHERE state IN ('held', 'confirming', 'pending')",
    "ledger_pending": f"SELECT count(*) FROM ledger_pending_transfers WHERE status = {LEDGER_PENDING}",
    "inbox_new": "SELECT count(*) FROM inbox WHERE status = 'new'",
}


def busy_with(db_path: Path) -> list[str]:
    """The names of BUSY_QUERIES that found something (["database"] if it cannot be read)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return ["database"]
    try:
        return [name for name, sql in BUSY_QUERIES.items() if conn.execute(sql).fetchone()[0]]
    except sqlite3.Error:
        return ["database"]
    finally:
        conn.close()
