"""Create and upgrade the daemon's tables and the ledger's, each with its own Alembic history."""

from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

import ledger
from daemon.db import first_line
from daemon.schema import SCHEMA_VERSION
from daemon.secret_files import create_private_file
from ledger.migrate import alembic_config, current_revision

VERSION_TABLE = "smscore_alembic_version"


class SchemaMismatch(Exception):
    pass


class UpgradeFailed(Exception):
    """The database could not be opened, created or upgraded; the message names it and why."""


def upgrade_all(conn: Connection) -> None:
    """Bring both schemas to head inside the caller's transaction."""
    ledger.upgrade(conn)
    upgrade_daemon(conn)


def upgrade_daemon(conn: Connection, revision: str = "head") -> None:
    """The daemon's own tables to `revision`, in the caller's transaction (the ledger's go first)."""
    from alembic import command  # here: importing daemon.migrate costs nothing until it migrates

    command.upgrade(alembic_config(conn, "daemon:migrations", VERSION_TABLE), revision)


def current_version(conn: Connection) -> str | None:
    return current_revision(conn, VERSION_TABLE)


def require_current_schema(conn: Connection) -> None:
    ledger.require_current_schema(conn)
    found = current_version(conn)
    if found != SCHEMA_VERSION:
        raise SchemaMismatch(
            f"smscore schema is at {found or 'nothing'}, this code needs {SCHEMA_VERSION}; "
            "run `smscore db upgrade`"
        )


@dataclass(frozen=True, slots=True)
class SchemaVersions:
    ledger: str | None
    smscore: str | None

    def __str__(self) -> str:
        return f"ledger {self.ledger or 'none'}, smscore {self.smscore or 'none'}"


def schema_versions(conn: Connection) -> SchemaVersions:
    return SchemaVersions(ledger.current_version(conn), current_version(conn))


@dataclass(frozen=True, slots=True)
class UpgradeReport:
    """What `upgrade_database` did, for the operator."""

    where: str  # the database, password hidden
    created_file: bool  # a new SQLite file
    before: SchemaVersions
    after: SchemaVersions

    def describe(self) -> str:
        if self.created_file:
            return f"created database {self.where} with the schema at {self.after}"
        if self.before == SchemaVersions(None, None):
            return f"created the schema in {self.where}: {self.after}"
        if self.before != self.after:
            return f"upgraded the schema in {self.where} from {self.before} to {self.after}"
        return f"schema is current in {self.where}: {self.after}"


def upgrade_database(url: str) -> UpgradeReport:
    """Open (creating a SQLite file 0600 and its directory 0700 if needed: hashed PINs and message
    text are in it) and bring both schemas to head, in one transaction (blocking: for start-up
    and CLI tools)."""
    where = ledger.display_url(url)
    path = ledger.sqlite_file(url)
    created_file = path is not None and not path.exists()
    try:
        if path is not None:
            create_private_file(path)
        engine = ledger.make_engine(url)
        try:
            with engine.begin() as conn:
                before = schema_versions(conn)
                upgrade_all(conn)
                after = schema_versions(conn)
        finally:
            engine.dispose()
    except (SQLAlchemyError, OSError) as exc:
        raise UpgradeFailed(f"database {where}: {first_line(exc)}") from None
    return UpgradeReport(where, created_file, before, after)
