"""ledger.fastpath: prepared selects with named rows, bulk writes, one-parameter IN (both DBs)."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    literal_column,
    select,
    table,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.fastpath import (
    PreparedSelect,
    bulk_insert,
    bulk_update,
    id_filter,
    in_parameter,
    in_parameter_value,
)

metadata = MetaData()
items = Table(
    "fastpath_items",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("hits", Integer, nullable=False),
)


class Item(NamedTuple):
    id: int
    name: str
    status: str
    hits: int


@pytest.fixture
def conn(engine):  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        metadata.create_all(connection)
        yield connection
        metadata.drop_all(connection)


by_ids = PreparedSelect(
    lambda dialect_name: (
        select(items).where(id_filter(dialect_name)(items.c.id)).order_by(items.c.id)
    ),
    row=Item,
)
by_names = PreparedSelect(
    lambda dialect_name: select(items.c.id, items.c.name).where(
        in_parameter(items.c.name, "names", dialect_name, String)
    )
)


def ids(conn, values):  # type: ignore[no-untyped-def]
    return {"ids": in_parameter_value(conn.dialect.name, values)}


def test_bulk_insert_then_named_rows_come_back(conn) -> None:
    insert_items = bulk_insert(items, Item._fields)
    insert_items.executemany(conn, [Item(i, f"n{i}", "new", 0) for i in range(1, 301)])
    rows = by_ids.all(conn, ids(conn, [5, 7, 300, 999]))
    assert rows == [Item(5, "n5", "new", 0), Item(7, "n7", "new", 0), Item(300, "n300", "new", 0)]
    assert rows[0].name == "n5" and isinstance(rows[0], Item)
    found = by_names.all(conn, {"names": in_parameter_value(conn.dialect.name, ["n2", "n3"])})
    assert sorted(row.name for row in found) == ["n2", "n3"]  # a namedtuple of the columns
    assert by_ids.first(conn, ids(conn, [])) is None


def test_bulk_update_sets_columns_where_every_key_matches(conn) -> None:
    bulk_insert(items, Item._fields).executemany(
        conn, [Item(1, "a", "new", 0), Item(2, "b", "old", 0)]
    )
    bump = {"hits": items.c.hits + literal_column("1")}
    rename = bulk_update(items, ("name",), where=("id", "status"), also_set=bump)
    # (the SET values, then the WHERE values): id 2 is not "new", so it is left alone
    rename.executemany(conn, [("A", 1, "new"), ("B", 2, "new")])
    assert by_ids.all(conn, ids(conn, [1, 2])) == [Item(1, "A", "new", 1), Item(2, "b", "old", 0)]


def test_a_row_class_must_fit_the_statement(conn) -> None:
    class TooShort(NamedTuple):
        id: int

    wrong = PreparedSelect(lambda _: select(items.c.id, items.c.name), row=TooShort)
    with pytest.raises(ValueError, match="TooShort has 1 fields"):
        wrong.all(conn)


def test_the_sql_stays_the_same_whatever_the_number_of_ids(conn) -> None:
    statements: list[str] = []
    select_some = PreparedSelect(
        lambda dialect_name: select(items.c.id).where(id_filter(dialect_name)(items.c.id))
    )
    for wanted in ([1], list(range(1, 2000))):
        select_some.all(conn, ids(conn, wanted))
        statements.append(select_some._compiled[conn.dialect.name][0])
    assert statements[0] == statements[1]


def test_a_driver_error_is_raised_as_sqlalchemys(conn) -> None:
    # As conn.execute raises it: the database runner retries transient errors by these types.
    insert_items = bulk_insert(items, Item._fields)
    insert_items.executemany(conn, [Item(1, "a", "new", 0)])
    with pytest.raises(IntegrityError), conn.begin_nested():
        insert_items.executemany(conn, [Item(1, "again", "new", 0)])  # the same id
    missing = PreparedSelect(lambda _: select(literal_column("id")).select_from(table("nowhere")))
    with pytest.raises(DBAPIError) as raised, conn.begin_nested():
        missing.all(conn)
    assert raised.value.orig is not None and by_ids.all(conn, ids(conn, [1]))[0].name == "a"
