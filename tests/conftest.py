"""Database fixtures shared by every package's tests.

- `pg_url` (session): superuser URL of a throwaway PostgreSQL server (see tests/pg.py).
- `db_url`: URL of an empty database, once on SQLite and once on PostgreSQL. No PostgreSQL test is
  ever skipped: if the server cannot start, the tests that need it fail with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import postgres_database, postgres_server


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    admin_url = request.getfixturevalue("pg_url")
    with postgres_database(admin_url) as url:
        yield url
