"""Is the daemon's database quiet: no reply waiting to go or in flight, no move still open, no
pending ledger transfer? Read with sqlite3 beside the running daemon (WAL: readers never block it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

OPEN_MOVE_STATES = ("held", "confirming", "pending")
BUSY_OUTBOX = ("queued", "in_flight")
LEDGER_PENDING = 1  # ledger.model.PendingStatus.PENDING


def database_quiet(db_path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return False
    try:
        busy = conn.execute(
            "SELECT (SELECT count(*) FROM outbox WHERE status IN (?, ?))"
            " + (SELECT count(*) FROM moves WHERE state IN (?, ?, ?))"
            " + (SELECT count(*) FROM ledger_pending_transfers WHERE status = ?)"
            " + (SELECT count(*) FROM inbox WHERE status = 'new')",
            (*BUSY_OUTBOX, *OPEN_MOVE_STATES, LEDGER_PENDING),
        ).fetchone()[0]
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return busy == 0
