"""PostgreSQL for the test suite: one throwaway cluster per pytest process (per xdist worker).

Each xdist worker starts its own cluster on a private unix socket: nothing is shared between
workers, so there is no port to race for and no lock to get wrong. Start-up costs about a second.
Set SMSCORE_TEST_PG_URL to a superuser URL to use an existing server instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url

from ledger.engine import make_engine
from ledger.testing.postgres import TemporaryPostgres, create_database, drop_database

ENV_URL = "SMSCORE_TEST_PG_URL"


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a superuser URL: SMSCORE_TEST_PG_URL, or a fresh cluster stopped on exit."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield configured
        return
    with TemporaryPostgres() as server:
        yield server.admin_url


@contextmanager
def postgres_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    """Yield the URL of a new database (empty, or a copy of database `template`), dropped on exit."""
    url = (
        create_database(admin_url, prefix="test")
        if template is None
        else _copy(admin_url, template)
    )
    try:
        yield url
    finally:
        drop_database(admin_url, url)


def _copy(admin_url: str, template: str) -> str:
    """CREATE DATABASE ... TEMPLATE: a file-level copy, far cheaper than migrating a new one."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    engine = make_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)
