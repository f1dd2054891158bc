"""The SQL fast path: statements compiled once per dialect and run on the driver's cursor.

Generic SQLAlchemy Core helpers (nothing here knows the ledger's tables); the ledger's batch code
and the daemon's hot paths (inbox, TranProc, sender, receipts) use them. For a statement run once
per message, SQLAlchemy's per-call work (building the statement, its cache key, the execution
context, per-row parameter processing and the Row wrappers) costs several times what SQLite
spends on the statement itself (see BENCHMARKS.md). So:

- `PreparedSelect` keeps a SELECT's compiled SQL and parameter order per dialect; a call is one dict
  merge, one cursor.execute and the fetch. Rows come back as named tuples (attribute access, and
  still tuples for unpacking).
- `BulkStatement` keeps an INSERT/UPDATE compiled per dialect and hands the rows (tuples in the
  order of its `names`) straight to the driver's executemany; on PostgreSQL it can instead run a
  whole batch as ONE statement over unnest() arrays. `bulk_insert` and `bulk_update` build the
  common shapes.
- `in_parameter` / `id_filter` write `column IN (the values of ONE bound parameter)`, so the SQL
  stays constant whatever the number of values (an expanding IN is re-rendered on every call);
  `in_parameter_value` makes the value to bind.

These bind only values the drivers take as they are (int, str, bytes, None, and on PostgreSQL lists
for arrays); anything needing a SQLAlchemy type's bind processing does not belong here. They run in
the caller's transaction: the connection's DBAPI connection is the one SQLAlchemy began. A driver
error is raised as SQLAlchemy's (`sqlalchemy.exc.DBAPIError` and its kinds), as `conn.execute`
raises it, so callers that retry transient errors (a lock, a serialization failure) see it.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Dialect,
    Executable,
    Select,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

__all__ = [
    "SET_PREFIX",
    "WHERE_PREFIX",
    "BulkStatement",
    "PreparedSelect",
    "bulk_insert",
    "bulk_update",
    "id_filter",
    "in_parameter",
    "in_parameter_value",
]

# Parameter names of bulk_insert / bulk_update: SQLAlchemy reserves a column's own name for the
# parameter it generates in VALUES / SET, and a WHERE on a column that is also SET needs a second.
SET_PREFIX = "b_"
WHERE_PREFIX = "w_"


class PreparedSelect:
    """A SELECT compiled once per dialect, run on the driver's cursor, returning named rows.

    `build(dialect_name)` returns the statement; it is called once per dialect. `row` is the
    NamedTuple class rows are made into (its fields in the statement's column order); without it,
    a namedtuple of the selected column names.
    """

    def __init__(self, build: Callable[[str], Select], row: Any = None) -> None:
        self._build = build
        self._row = row
        self._compiled: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None, Any]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, dict[str, Any], tuple[str, ...] | None, Any]:
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = self._build(dialect.name)
            compiled = statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None  # type: ignore[arg-type]
            columns = statement.selected_columns.keys()
            row = self._row or namedtuple("Row", columns, rename=True)
            if len(row._fields) != len(columns):
                raise ValueError(f"{row.__name__} has {len(row._fields)} fields for {columns}")
            # tuple.__new__ straight: a NamedTuple's own __new__ and _make run Python per row.
            found = (compiled.string, dict(compiled.params), order, partial(tuple.__new__, row))
            self._compiled[dialect.name] = found
        return found

    def all(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        sql, defaults, order, make_row = self._compile(conn.dialect)
        merged = {**defaults, **params} if params else defaults
        driver_params: Any = merged if order is None else tuple(merged[name] for name in order)
        cursor = _driver_cursor(conn)
        try:
            cursor.execute(sql, driver_params)
            return list(map(make_row, cursor.fetchall()))
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, sql, driver_params, exc) from exc
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None


class BulkStatement:
    """A statement compiled once per dialect and executed for many rows straight by the driver.

    `names` are the statement's parameter names in the order of the row tuples given to
    `executemany`. On PostgreSQL, per-row executemany costs one server round of parse/plan/execute
    per row, so `postgresql_sql` (one array parameter per name, in `names` order, fed to unnest())
    can do the whole batch in ONE statement.
    """

    def __init__(
        self, statement: Executable, names: Sequence[str], postgresql_sql: str | None = None
    ) -> None:
        self._statement = statement
        self.names = tuple(names)
        self._postgresql_sql = postgresql_sql
        self._compiled: dict[Dialect, tuple[str, Callable[[Sequence[tuple]], list]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, Callable[[Sequence[tuple]], list]]:
        found = self._compiled.get(dialect)
        if found is None:
            compiled = self._statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None  # type: ignore[arg-type]
            found = self._compiled[dialect] = (compiled.string, self._arranger(order))
        return found

    def _arranger(self, order: tuple[str, ...] | None) -> Callable[[Sequence[tuple]], list]:
        names = self.names
        if order == names:
            return lambda rows: rows
        if order is None:
            return lambda rows: [dict(zip(names, row, strict=True)) for row in rows]
        positions = [names.index(name) for name in order]
        return lambda rows: [tuple(row[i] for i in positions) for row in rows]

    def executemany(self, conn: Connection, rows: Sequence[tuple]) -> None:
        """Execute for every row (a tuple, or a NamedTuple, of values in `names` order)."""
        if self._postgresql_sql and conn.dialect.name == "postgresql":
            arrays = tuple(list(column) for column in zip(*rows, strict=True))
            conn.exec_driver_sql(self._postgresql_sql, arrays)
            return
        sql, arrange = self._compile(conn.dialect)
        arranged = arrange(rows)
        cursor = _driver_cursor(conn)  # the driver's executemany straight: no execution context
        try:
            cursor.executemany(sql, arranged)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, sql, arranged, exc) from exc
        finally:
            cursor.close()


def _driver_cursor(conn: Connection) -> Any:
    """A cursor of the connection's DBAPI connection, in the caller's transaction."""
    if not conn.in_transaction():
        conn.begin()  # what conn.execute() would have done (autobegin)
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _wrapped(conn: Connection, sql: str, params: Any, error: Exception) -> DBAPIError:
    """The driver's error as SQLAlchemy would have raised it from conn.execute."""
    return DBAPIError.instance(sql, params, error, conn.dialect.loaded_dbapi.Error)


def bulk_insert(
    table: Table, columns: Sequence[str], *, postgresql_unnest: bool = False
) -> BulkStatement:
    """INSERT INTO table (columns); each row is a tuple of values in `columns` order.

    With `postgresql_unnest`, PostgreSQL inserts a whole batch with one INSERT ... SELECT FROM
    unnest() (each column's values as one typed array).
    """
    names = tuple(SET_PREFIX + column for column in columns)
    statement = insert(table).values(
        {column: bindparam(name) for column, name in zip(columns, names, strict=True)}
    )
    postgresql_sql = None
    if postgresql_unnest:
        dialect = postgresql.dialect()
        arrays = ", ".join(
            f"%b::{table.c[column].type.compile(dialect=dialect)}[]" for column in columns
        )
        postgresql_sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
        )
    return BulkStatement(statement, names, postgresql_sql)


def bulk_update(
    table: Table,
    columns: Sequence[str],
    where: Sequence[str] = ("id",),
    *,
    also_set: Mapping[str, Any] | None = None,
) -> BulkStatement:
    """UPDATE table SET columns WHERE every `where` column equals its value; each row is a tuple of
    the `columns` values then the `where` values. `also_set` adds SET expressions that take no
    parameter (e.g. a counter + 1)."""
    set_names = [SET_PREFIX + column for column in columns]
    where_names = [WHERE_PREFIX + column for column in where]
    values: dict[str, Any] = {
        column: bindparam(name) for column, name in zip(columns, set_names, strict=True)
    }
    values.update(also_set or {})
    statement = (
        update(table)
        .where(
            *(
                table.c[column] == bindparam(name)
                for column, name in zip(where, where_names, strict=True)
            )
        )
        .values(values)
    )
    return BulkStatement(statement, (*set_names, *where_names))


def in_parameter(column: ColumnElement, name: str, dialect_name: str, item_type: Any) -> Any:
    """`column IN (the values of ONE bound parameter named `name`)`, whatever the number of values:
    a JSON array through json_each() on SQLite, an array with = ANY() on PostgreSQL (an expanding
    IN elsewhere). Bind `in_parameter_value(dialect_name, values)`."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    if dialect_name == "sqlite":
        values = select(literal_column("value")).select_from(func.json_each(bindparam(name)))
        return column.in_(values.scalar_subquery())
    return column.in_(bindparam(name, expanding=True))


def in_parameter_value(dialect_name: str, values: list[Any]) -> object:
    """The value to bind for an `in_parameter`: a JSON array on SQLite, the list elsewhere."""
    return json.dumps(values) if dialect_name == "sqlite" else values


def id_filter(dialect_name: str) -> Callable[[ColumnElement], ColumnElement]:
    """`column IN (:ids)` for integer ids through one parameter named "ids" (see in_parameter)."""
    return lambda column: in_parameter(column, "ids", dialect_name, BigInteger)
