"""Create and upgrade the daemon's tables and the ledger's, each with its own Alembic history."""

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

import ledger
from daemon.schema import SCHEMA_VERSION

VERSION_TABLE = "smscore_alembic_version"


class SchemaMismatch(Exception):
    pass


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "daemon:migrations")
    config.attributes["connection"] = conn
    config.attributes["version_table"] = VERSION_TABLE
    return config


def upgrade_all(conn: Connection) -> None:
    """Bring both schemas to head inside the caller's transaction."""
    ledger.upgrade(conn)
    command.upgrade(_config(conn), "head")


def current_version(conn: Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def require_current_schema(conn: Connection) -> None:
    ledger.require_current_schema(conn)
    found = current_version(conn)
    if found != SCHEMA_VERSION:
        raise SchemaMismatch(
            f"smscore schema is at {found or 'nothing'}, this code needs {SCHEMA_VERSION}; "
            "run `smscore db upgrade`"
        )
