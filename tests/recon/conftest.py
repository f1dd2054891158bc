"""Recon fixtures: a migrated database (SQLite; `any_engine` also PostgreSQL, for the reports whose
SQL is the least ordinary) and a ledger world to post into (tests.recon.books)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import make_engine
from tests.recon.books import Books

DATA = Path(__file__).resolve().parent.parent / "data" / "recon"


@pytest.fixture
def sqlite_url(sqlite_migrated_url: str) -> str:
    return sqlite_migrated_url


@pytest.fixture
def books(sqlite_url: str) -> Iterator[Books]:
    engine = make_engine(sqlite_url)
    yield Books(engine)
    engine.dispose()


@pytest.fixture
def any_books(db_url: str, migrated_all: None) -> Iterator[Books]:
    engine = make_engine(db_url)
    yield Books(engine)
    engine.dispose()
