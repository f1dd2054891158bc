"""API fixtures: an ApiWorld (the money World with the HTTP API in front) on a migrated empty
database, on SQLite and on PostgreSQL (the `engine` fixture of tests/daemon/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.api.world import ApiWorld
from tests.daemon.conftest import engine  # noqa: F401  (the fixture, shared)


@pytest.fixture
def api_world(engine: Engine) -> ApiWorld:  # noqa: F811
    return ApiWorld(engine)
