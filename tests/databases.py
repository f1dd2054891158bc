"""Migrated databases for the tests: each schema is migrated once per pytest process (per xdist
worker) into a template, and every test gets a copy of it.

Migrating costs ~0.2 s per test on SQLite and ~0.7 s on PostgreSQL (a few times that on a loaded
2-core machine); the copy costs a millisecond (a file copy) on SQLite and a CREATE DATABASE ...
TEMPLATE on PostgreSQL. The migrations themselves still run, once, in every worker: a broken
migration fails every test that wants its schema (and tests/daemon/test_migrate.py says which).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import Connection, NullPool
from sqlalchemy.engine import make_url

from daemon.migrate import upgrade_all
from ledger import make_engine, upgrade
from ledger.testing.postgres import create_database

# The schemas a test can ask `db_url` for, by the marker fixture that asks (tests/conftest.py).
MIGRATIONS: dict[str, Callable[[Connection], None]] = {
    "migrated_all": upgrade_all,  # the ledger's tables and the daemon's
    "migrated_ledger": upgrade,  # the ledger's only
}


def wanted_schema(fixture_names: Iterable[str]) -> str | None:
    """The marker fixture among a test's fixtures (None: an empty database)."""
    found = sorted(set(fixture_names) & MIGRATIONS.keys())
    if len(found) > 1:
        raise AssertionError(f"a test can have one schema, not {found}")
    return found[0] if found else None


def _migrate(url: str, schema: str) -> None:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            MIGRATIONS[schema](conn)
    finally:
        engine.dispose()  # no connection left: SQLite's file is whole, PostgreSQL can copy it


class Templates:
    """Per process: a migrated SQLite file and a migrated PostgreSQL database per schema."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._sqlite: dict[str, Path] = {}
        self._postgresql: dict[tuple[str, str], str] = {}

    def sqlite_copy(self, schema: str, path: Path) -> None:
        """Write a migrated database of `schema` at `path` (which must not exist yet)."""
        template = self._sqlite.get(schema)
        if template is None:
            template = self._workdir / f"{schema}-{uuid.uuid4().hex[:8]}.db"
            _migrate(f"sqlite:///{template}", schema)
            self._sqlite[schema] = template
        assert not path.exists(), path
        shutil.copyfile(template, path)

    def postgresql_template(self, admin_url: str, schema: str) -> str:
        """The name of a migrated database of `schema` on that server, to copy from."""
        key = (admin_url, schema)
        if key not in self._postgresql:
            url = create_database(admin_url, prefix=f"template_{schema}")
            _migrate(url, schema)
            self._postgresql[key] = make_url(url).database
        return self._postgresql[key]
