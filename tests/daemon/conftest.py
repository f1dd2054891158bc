"""Daemon fixtures: an engine on a migrated (ledger + daemon schema) empty database, on SQLite and on
PostgreSQL (db_url comes from tests/conftest.py, a copy of a template migrated once per process), a
PostgreSQL-only one for SKIP LOCKED tests, and a task.Clock at a fixed, realistic epoch time
(daemon.clock.now_ns reads it in nanoseconds)."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from twisted.internet.task import Clock

from daemon.db import InlineDatabase
from ledger import make_engine
from tests.databases import Templates
from tests.pg import postgres_database


@pytest.fixture
def engine(db_url: str, migrated_all: None) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str, db_templates: Templates) -> Iterator[Engine]:
    template = db_templates.postgresql_template(pg_url, "migrated_all")
    with postgres_database(pg_url, template) as url:
        engine = make_engine(url)
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
