"""Create and upgrade the ledger schema with the Alembic migrations shipped in this package.

The ledger keeps its own version table (`ledger_alembic_version`) so that an application using the
ledger can run its own Alembic history in the same database; `alembic_config` and
`current_revision` serve that application's history as they serve the ledger's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

from ledger.errors import SchemaVersionError
from ledger.schema import SCHEMA_VERSION

if TYPE_CHECKING:  # Alembic (and every dialect it knows) is imported by what migrates, not by
    # `import ledger`: most commands never touch the schema's history
    from alembic.config import Config

VERSION_TABLE = "ledger_alembic_version"


def alembic_config(conn: Connection, script_location: str, version_table: str) -> Config:
    """An Alembic config that runs the migrations of `script_location` on the caller's connection
    (its env.py reads `connection` and `version_table` from the config's attributes)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = conn
    config.attributes["version_table"] = version_table
    return config


def current_revision(conn: Connection, version_table: str) -> str | None:
    """The revision recorded in `version_table` (None: no schema yet)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table": version_table})
    return context.get_current_revision()


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Bring the schema to `revision` inside the caller's transaction."""
    from alembic import command

    command.upgrade(alembic_config(conn, "ledger:migrations", VERSION_TABLE), revision)


def current_version(conn: Connection) -> str | None:
    return current_revision(conn, VERSION_TABLE)


def require_current_schema(conn: Connection) -> None:
    """Raise SchemaVersionError unless the database is at the version this code was written for."""
    found = current_version(conn)
    if found != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"ledger schema is at {found or 'nothing'}, this code needs {SCHEMA_VERSION}; "
            "run `smscore ledger init --db URL`"
        )
