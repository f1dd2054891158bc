"""Create and upgrade the ledger schema with the Alembic migrations shipped in this package.

The ledger keeps its own version table (`ledger_alembic_version`) so that an application using the
ledger can run its own Alembic history in the same database.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from ledger.errors import SchemaVersionError
from ledger.schema import SCHEMA_VERSION

VERSION_TABLE = "ledger_alembic_version"


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "ledger:migrations")
    config.attributes["connection"] = conn
    config.attributes["version_table"] = VERSION_TABLE
    return config


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Bring the schema to `revision` inside the caller's transaction."""
    command.upgrade(_config(conn), revision)


def current_version(conn: Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def require_current_schema(conn: Connection) -> None:
    """Raise SchemaVersionError unless the database is at the version this code was written for."""
    found = current_version(conn)
    if found != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"ledger schema is at {found or 'nothing'}, this code needs {SCHEMA_VERSION}; "
            "run `smscore ledger init --db URL`"
        )
