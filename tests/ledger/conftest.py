"""Ledger fixtures: an engine on a migrated, empty ledger database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from ledger import make_engine


@pytest.fixture
def engine(db_url: str, migrated_ledger: None) -> Iterator[Engine]:
    engine = make_engine(db_url)  # a copy of a migrated template (tests/databases.py)
    yield engine
    engine.dispose()
