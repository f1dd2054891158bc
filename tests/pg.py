"""PostgreSQL for the test suite: one throwaway cluster per pytest process (per xdist worker).

Each xdist worker starts its own cluster on a private unix socket: nothing is shared between
workers, so there is no port to race for and no lock to get wrong. Start-up costs about a second.
Set SMSCORE_TEST_PG_URL to a superuser URL to use an existing server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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
def postgres_database(admin_url: str) -> Iterator[str]:
    """Yield the URL of a new empty database, dropped on exit."""
    url = create_database(admin_url, prefix="test")
    try:
        yield url
    finally:
        drop_database(admin_url, url)
