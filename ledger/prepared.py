"""SELECTs compiled once per dialect and run on the driver's cursor.

For a read of one or a few rows (a balance, a subscriber) SQLAlchemy's per-call work (building
the statement, its cache key, the execution context and the Row wrappers) costs several times
what SQLite spends on the query itself. A `PreparedSelect` keeps the compiled SQL and its
parameter order per dialect, so a call is one dict merge, one cursor.execute and the fetch.

It binds only values the driver takes as they are (int, str, bytes, None, and on PostgreSQL
lists for arrays) and returns plain tuples in the column order of the statement. It runs in the
caller's transaction: the connection's DBAPI connection is the one SQLAlchemy began.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Select,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY


class PreparedSelect:
    def __init__(self, build: Callable[[str], Select]) -> None:
        """`build(dialect_name)` returns the statement; it is called once per dialect."""
        self._build = build
        self._compiled: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, dict[str, Any], tuple[str, ...] | None]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._build(dialect.name).compile(dialect=dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None  # type: ignore[arg-type]
            found = self._compiled[dialect.name] = (compiled.string, dict(compiled.params), order)
        return found

    def all(self, conn: Connection, params: dict[str, Any] | None = None) -> list[tuple]:
        sql, defaults, order = self._compile(conn.dialect)
        merged = {**defaults, **params} if params else defaults
        driver_params: Any = merged if order is None else tuple(merged[name] for name in order)
        if not conn.in_transaction():
            conn.begin()  # what conn.execute() would have done (autobegin)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, driver_params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def first(self, conn: Connection, params: dict[str, Any] | None = None) -> tuple | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None


def in_parameter(column: ColumnElement, name: str, dialect_name: str, item_type: Any) -> Any:
    """`column IN (the values of ONE bound parameter)`: the SQL stays constant whatever the number
    of values. Bind a JSON array (json.dumps) on SQLite, a list on PostgreSQL."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    values = select(literal_column("value")).select_from(func.json_each(bindparam(name)))
    return column.in_(values.scalar_subquery())


def in_parameter_value(dialect_name: str, values: list) -> object:
    return json.dumps(values) if dialect_name == "sqlite" else values
