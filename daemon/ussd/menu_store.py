"""The menu versions the daemon has loaded, in the `menus` table (daemon.schema_ussd).

A version is stored once with its document: a session keeps the version it started on and reads
that document again after a reload or a restart (`menu_of_version_txn`, parsed once per process).
The version loaded last is the one new sessions start on and the app channel offers
(`current_menu_txn`). A version is a promise about content: the same version with another text is
refused, so a changed file must say it is a new one.
"""

from __future__ import annotations

from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy import Connection

from daemon.schema_ussd import menus
from daemon.ussd.menu import Menu, MenuError
from daemon.ussd.menu_file import parse_menu

PARSED_MAX_VERSIONS = 16  # sessions on older versions than these re-parse their document


def store_menu_txn(conn: Connection, menu: Menu, now_ns: int) -> bool:
    """Store `menu` and make it the current one; False if it already was. MenuError if its version
    is stored with other content."""
    row = _stored_digest(conn, menu.version)
    if row is None:
        try:
            with conn.begin_nested():  # a savepoint: a lost race leaves the transaction usable
                conn.execute(
                    menus.insert().values(
                        version=menu.version,
                        digest=menu.digest,
                        document=menu.document,
                        source=menu.source[:255],
                        loaded_at_ns=now_ns,
                    )
                )
            return True
        except sa.exc.IntegrityError:
            # Another process (two TranProcs starting at once) stored this version first.
            row = _stored_digest(conn, menu.version)
            if row is None:
                raise
    if bytes(row.digest) != menu.digest:
        raise MenuError(
            f"{menu.source}: version {menu.version} is already loaded with other content: "
            "give the new file a new version"
        )
    if current_version_txn(conn) == menu.version:
        return False
    # An earlier version put back in the file: it is the file's menu again, for new sessions.
    conn.execute(menus.update().where(menus.c.version == menu.version).values(loaded_at_ns=now_ns))
    return True


def _stored_digest(conn: Connection, version: str) -> sa.Row | None:
    return conn.execute(sa.select(menus.c.digest).where(menus.c.version == version)).one_or_none()


def _latest() -> sa.Select:
    return (
        sa.select(menus.c.version, menus.c.digest)
        .order_by(menus.c.loaded_at_ns.desc(), menus.c.version.desc())
        .limit(1)
    )


def current_version_txn(conn: Connection) -> str | None:
    row = conn.execute(_latest()).one_or_none()
    return None if row is None else row.version


def current_menu_txn(conn: Connection) -> Menu | None:
    """The menu new sessions start on (the one loaded last); None before any was loaded."""
    row = conn.execute(_latest()).one_or_none()
    return None if row is None else _menu(conn, row.version, bytes(row.digest))


def menu_of_version_txn(conn: Connection, version: str) -> Menu | None:
    """The stored menu `version`, parsed (once per process for the recent ones); None if unknown."""
    digest = conn.execute(
        sa.select(menus.c.digest).where(menus.c.version == version)
    ).scalar_one_or_none()
    return None if digest is None else _menu(conn, version, bytes(digest))


def stored_versions_txn(conn: Connection) -> list[tuple[str, int]]:
    """(version, loaded_at_ns) of every stored menu, the current first."""
    rows = conn.execute(
        sa.select(menus.c.version, menus.c.loaded_at_ns).order_by(
            menus.c.loaded_at_ns.desc(), menus.c.version.desc()
        )
    )
    return [(row.version, row.loaded_at_ns) for row in rows]


# Parsed menus by (version, digest): a stored version never changes content, so an MO reads only
# the 32-byte digest, not the document (the digest also keeps two databases in one process apart).
_PARSED: OrderedDict[tuple[str, bytes], Menu] = OrderedDict()


def _menu(conn: Connection, version: str, digest: bytes) -> Menu:
    key = (version, digest)
    menu = _PARSED.get(key)
    if menu is not None:
        _PARSED.move_to_end(key)
        return menu
    row = conn.execute(
        sa.select(menus.c.document, menus.c.source).where(menus.c.version == version)
    ).one()
    # Checked when it was stored (with the registry and the configured screen size); parsed here
    # with the network's largest screen, which any stored menu fits.
    menu = _PARSED[key] = parse_menu(row.document, row.source)
    while len(_PARSED) > PARSED_MAX_VERSIONS:
        _PARSED.popitem(last=False)
    return menu
