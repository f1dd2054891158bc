"""Database fixtures shared by every package's tests.

- `pg_url` (session): superuser URL of a throwaway PostgreSQL server (see tests/pg.py).
- `db_url`: URL of a new database, once on SQLite and once on PostgreSQL: empty, or migrated when
  the test also has the marker fixture `migrated_all` (both schemas) or `migrated_ledger` (the
  ledger's), as the `engine` fixtures do. A migrated one is a copy of a template migrated once per
  process (tests/databases.py). No PostgreSQL test is ever skipped: if the server cannot start,
  the tests that need it fail with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.databases import Templates, wanted_schema
from tests.pg import postgres_database, postgres_server


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"))


@pytest.fixture
def migrated_all() -> None:
    """Marker: this test's `db_url` has the ledger's and the daemon's schemas at head."""


@pytest.fixture
def migrated_ledger() -> None:
    """Marker: this test's `db_url` has the ledger's schema at head."""


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path, db_templates: Templates) -> Iterator[str]:
    schema = wanted_schema(request.fixturenames)
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        if schema is not None:
            db_templates.sqlite_copy(schema, path)
        yield f"sqlite:///{path}"
        return
    admin_url = request.getfixturevalue("pg_url")
    template = None if schema is None else db_templates.postgresql_template(admin_url, schema)
    with postgres_database(admin_url, template) as url:
        yield url


@pytest.fixture
def sqlite_migrated_url(tmp_path, db_templates: Templates) -> str:
    """A SQLite database with both schemas at head (tests that run on SQLite only)."""
    path = tmp_path / "migrated.db"
    db_templates.sqlite_copy("migrated_all", path)
    return f"sqlite:///{path}"


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """--dist loadgroup (./bootstrap test): tests/xdist_groups.py's scheduler."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.xdist_groups import ModuleServiceScheduling

    return ModuleServiceScheduling(config, log)
