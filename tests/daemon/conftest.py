"""Daemon fixtures: an engine on a migrated (ledger + daemon schema) empty database, on SQLite and on
PostgreSQL (db_url comes from tests/conftest.py), a PostgreSQL-only one for SKIP LOCKED tests, and a
task.Clock at a fixed, realistic epoch time (daemon.clock.now_ns reads it in nanoseconds)."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from twisted.internet.task import Clock

from daemon.db import InlineDatabase
from daemon.migrate import upgrade_all
from ledger import make_engine
from tests.pg import postgres_database


def _migrated_engine(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade_all(conn)
    return engine


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = _migrated_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    with postgres_database(pg_url) as url:
        engine = _migrated_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def db(engine: Engine) -> InlineDatabase:
    """The daemon's database runner, synchronous: components driven by task.Clock use it."""
    return InlineDatabase(engine)


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1_700_000_000)
    return clock
