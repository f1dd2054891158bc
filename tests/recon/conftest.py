"""Recon fixtures: a migrated database (SQLite; `any_engine` also PostgreSQL, for the reports whose
SQL is the least ordinary) and a ledger world to post into (tests.recon.books)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.migrate import upgrade_all
from ledger import make_engine
from tests.recon.books import Books

DATA = Path(__file__).resolve().parent.parent / "data" / "recon"


def _migrated(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade_all(conn)
    return engine


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'recon.db'}"


@pytest.fixture
def books(sqlite_url: str) -> Iterator[Books]:
    engine = _migrated(sqlite_url)
    yield Books(engine)
    engine.dispose()


@pytest.fixture
def any_books(db_url: str) -> Iterator[Books]:
    engine = _migrated(db_url)
    yield Books(engine)
    engine.dispose()
