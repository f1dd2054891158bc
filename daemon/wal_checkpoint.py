"""The SQLite WAL checkpoint job: every `[database] wal_checkpoint_s`, `PRAGMA
wal_checkpoint(TRUNCATE)` on the database thread (never the reactor), SQLite only.

Why: the LIS stores an MO as it came (a PIN in clear) and commits it before acknowledging; the
TranProc masks the stored text moments later. Both are frames in the write-ahead log
(`smscore.db-wal`) until a checkpoint copies the newest version of each page (the masked one) into
the database file (where secure_delete overwrote the old text) and TRUNCATE empties the WAL. SQLite's
own checkpoint runs only once the WAL reaches 1,000 pages and leaves the file's old frames in place
until they are overwritten: on a quiet day, hours. This bounds it to the interval. A checkpoint
that finds a reader in the way (another process, e.g. `smscore admin`) reports busy and is tried
again at the next run. The truncated file's blocks are freed, not wiped: a disk image may still hold
them (full-disk encryption covers that).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from daemon.config import Config
from daemon.db import Database
from daemon.periodic import Periodic

NAME = "wal_checkpoint"


@dataclass(frozen=True, slots=True)
class Checkpointed:
    busy: bool  # a reader or writer kept it from finishing: tried again next time
    wal_frames: int  # frames the WAL held
    copied_frames: int  # of those, copied into the database file


def checkpoint(engine: Engine) -> Checkpointed | None:
    """One TRUNCATE checkpoint, outside any transaction (inside one SQLite cannot checkpoint);
    None for a database that is not SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    raw = engine.raw_connection()
    try:  # the driver connection runs in autocommit (ledger.engine): no BEGIN is issued
        busy, frames, copied = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    return Checkpointed(bool(busy), int(frames), int(copied))


class WalCheckpointer(Periodic):
    """The job: counters runs, failures, busy (status shows them as wal_checkpoint.*)."""

    def __init__(self, reactor: IReactorTime, db: Database, interval_s: float) -> None:
        super().__init__(reactor, db, NAME, lambda _conn, _now: ({}, False), interval_s)
        self.counters["busy"] = 0

    def run_now(self) -> Deferred:
        run = self.db.run_outside_transaction(NAME, checkpoint)
        self._running = run
        run.addCallbacks(self._checkpointed, self._failed)
        return run

    def _checkpointed(self, result: Checkpointed | None) -> Checkpointed | None:
        if result is not None and result.busy:
            self.counters["busy"] += 1
        self._finished(False)
        return result


def make_checkpointer(
    config: Config, reactor: IReactorTime, db: Database
) -> WalCheckpointer | None:
    """The job for a SQLite database with `[database] wal_checkpoint_s` > 0; else None."""
    interval_s = config.database.wal_checkpoint_s
    if interval_s <= 0 or db.engine.dialect.name != "sqlite":
        return None
    return WalCheckpointer(reactor, db, interval_s)
