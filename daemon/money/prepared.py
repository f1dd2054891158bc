"""Writes on a money command's hot path compiled once per dialect and run on the driver's cursor.

The INSERT/UPDATE counterpart of ledger.fastpath.PreparedSelect: SQLAlchemy's per-call work
(building the statement, its cache key, the execution context) costs several times what SQLite
spends on a one-row write, and a SEND makes several (see BENCHMARKS.md, SEND). A statement ends in
RETURNING, so a call gives back the rows it wrote (an UPDATE that matched nothing returns none).
Only values the drivers take as they are (int, str, bytes, None) are bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql.dml import UpdateBase


class PreparedWrite:
    """`build(dialect_name)` returns the statement (with a RETURNING clause); called once per dialect."""

    def __init__(self, build: Callable[[str], UpdateBase]) -> None:
        self._build = build
        self._compiled: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, dict[str, Any], tuple[str, ...] | None]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._build(dialect.name).compile(dialect=dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None  # type: ignore[arg-type]
            found = self._compiled[dialect.name] = (compiled.string, dict(compiled.params), order)
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple]:
        """Execute in the caller's transaction; the RETURNING rows."""
        sql, defaults, order = self._compile(conn.dialect)
        merged = {**defaults, **params}
        driver_params: Any = merged if order is None else tuple(merged[name] for name in order)
        if not conn.in_transaction():
            conn.begin()  # what conn.execute() would have done (autobegin)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, driver_params)
            return cursor.fetchall()
        finally:
            cursor.close()
