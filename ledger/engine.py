"""Engine factory shared by the ledger, its tests and the daemon.

SQLite: WAL (readers never block the writer), foreign keys on, synchronous=FULL (a returned commit
survives power loss), a busy timeout, and by default BEGIN IMMEDIATE so a transaction takes the
write lock when it starts: a read-then-write transaction can then never fail half-way with
SQLITE_BUSY. Read-only users (the checker, reports) pass sqlite_begin="DEFERRED" so that they never
hold the write lock; per connection, `.execution_options(sqlite_begin=...)` overrides it.
PostgreSQL: `postgresql://` URLs are sent to psycopg 3.

Opening a SQLite file that does not exist creates it; `create=False` (for readers: a check or a
report must not leave an empty database behind a mistyped path) raises DatabaseNotFound instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from ledger.errors import DatabaseNotFound

# How long a connection waits for SQLite's write lock before SQLITE_BUSY: longer than any batch
# holds it (milliseconds), short enough that a stuck writer shows up as an error.
SQLITE_BUSY_TIMEOUT_MS = 10_000


SQLITE_BEGIN_MODES = ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL opens; None for other databases, in-memory and `file:` URI names."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


# libpq connection parameters that carry a secret when given in the URL's query (?password=...)
SECRET_QUERY_KEYS = frozenset({"password", "sslpassword", "passfile_contents"})
_SECRET_IN_QUERY = re.compile(
    r"([?&](?:" + "|".join(sorted(SECRET_QUERY_KEYS)) + r")=)[^&]*", re.IGNORECASE
)


def display_url(url: str) -> str:
    """`url` as it may be shown or logged: the password (in the authority or the query, as libpq
    accepts both) replaced by ***."""
    rendered = make_url(url).render_as_string(hide_password=True)
    return _SECRET_IN_QUERY.sub(r"\1***", rendered)


def url_without_secrets(url: str) -> URL:
    """`url` with no password at all (neither user:pw@ nor ?password=), e.g. for a command line
    every local user can read; the password goes through the environment instead."""
    parsed = make_url(url)._replace(password=None)  # .set(password=None) keeps the password
    return parsed.difference_update_query(
        [key for key in parsed.query if key.lower() in SECRET_QUERY_KEYS]
    )


def url_password(url: str) -> str | None:
    """The password in `url`: user:pw@ or, as libpq also takes it, ?password=."""
    parsed = make_url(url)
    if parsed.password is not None:
        return str(parsed.password)
    query = {key.lower(): value for key, value in parsed.query.items()}
    found = query.get("password")
    return found if isinstance(found, str) or found is None else found[0]


def make_engine(
    url: str, *, sqlite_begin: str = "IMMEDIATE", create: bool = True, **engine_kwargs: Any
) -> Engine:
    if sqlite_begin not in SQLITE_BEGIN_MODES:
        raise ValueError(f"sqlite_begin must be one of {SQLITE_BEGIN_MODES}, not {sqlite_begin!r}")
    parsed = make_url(url)
    path = sqlite_file(parsed)
    if not create and path is not None and not path.exists():
        raise DatabaseNotFound(f"no such database: {path} (nothing was created)")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # A failed statement's parameters would otherwise be in its exception text and every log of it:
    # message texts (PINs before masking), digests, balances. The statement itself is still shown.
    engine_kwargs.setdefault("hide_parameters", True)
    engine = create_engine(parsed, **engine_kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, sqlite_begin)
    return engine


def _configure_sqlite(engine: Engine, default_begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        # Deleted or overwritten text (an MO's PIN before masking) is zeroed, not left in free
        # space; many builds default to it, this makes it so everywhere.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", default_begin)
        if mode not in SQLITE_BEGIN_MODES:
            raise ValueError(f"sqlite_begin must be one of {SQLITE_BEGIN_MODES}, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")
