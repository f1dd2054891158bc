"""Waiting, in tests, until another PostgreSQL session is blocked on a lock (bounded, no sleeps)."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text

WAIT_BOUND_S = 20.0

_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def wait_until_blocked(engine: Engine, count: int = 1) -> None:
    """Until `count` sessions of the engine's database wait on a lock; AssertionError after the
    bound (the other session never blocked: the lock it should wait on is not there)."""
    deadline = time.monotonic() + WAIT_BOUND_S
    with engine.connect() as conn:
        while conn.execute(_WAITING).scalar() < count:
            assert time.monotonic() < deadline, "no session waited on a lock"
            conn.rollback()
