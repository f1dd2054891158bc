"""Load, lock and write back the state one batch of transfers needs.

The cost of a ledger on SQL is per statement, so a batch reads each table once (ids IN (...)),
validates in Python against those rows, and writes with one executemany per table: the transfer
inserts, the pending-state changes and ONE balance update per touched account.

Lock order (PostgreSQL): the `ledger_head` row first, then accounts in ascending id order. Every
writer takes the head first, so writers never wait on each other in a cycle, even when a caller
runs several batches in one transaction; the ascending account order keeps that true for any
future path that locks accounts without the head.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Dialect,
    Executable,
    Row,
    Select,
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

from ledger.hashchain import transfer_digest
from ledger.model import PendingStatus, TransferKind
from ledger.schema import HEAD_ROW_ID, accounts, ledger_head, pending_transfers, transfers


class BulkStatement:
    """A statement compiled once per dialect and executed many times straight by the driver.

    SQLAlchemy's per-row parameter processing costs about as much per row as SQLite's own insert.
    These statements bind only int, str, bytes and None, which need no processing, so the
    compiled SQL and the raw rows go to the driver's executemany.

    On PostgreSQL the cost is one server round of parse/plan/execute per row, so there
    `postgresql_sql` (one array parameter per name, in `names` order, fed to unnest()) does the
    whole batch in ONE statement.
    """

    def __init__(self, statement: Executable, postgresql_sql: str | None = None) -> None:
        self._statement = statement
        self._postgresql_sql = postgresql_sql
        self._compiled: dict[Dialect, tuple[str, tuple[str, ...] | None]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
        found = self._compiled.get(dialect)
        if found is None:
            compiled = self._statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None
            found = self._compiled[dialect] = (compiled.string, order)
        return found

    def executemany(self, conn: Connection, names: tuple[str, ...], rows: list[tuple]) -> None:
        """Execute once per row; `names` are the parameter names of the tuples in `rows`."""
        if self._postgresql_sql and conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                self._postgresql_sql, tuple(list(column) for column in zip(*rows, strict=True))
            )
            return
        sql, order = self._compile(conn.dialect)
        if order == names:
            params: list = rows
        elif order is None:
            params = [dict(zip(names, row, strict=True)) for row in rows]
        else:
            positions = [names.index(name) for name in order]
            params = [tuple(row[i] for i in positions) for row in rows]
        conn.exec_driver_sql(sql, params)


class AccountState:
    """One account row as the batch sees it; `loaded` keeps the row as read, for the deltas."""

    __slots__ = ("cp", "cpend", "currency", "dp", "dpend", "flags", "id", "loaded")

    def __init__(self, id_: int, currency: str, flags: int, balances: list[int]) -> None:
        self.id = id_
        self.currency = currency
        self.flags = flags
        self.dp, self.cp, self.dpend, self.cpend = balances
        self.loaded = (flags, *balances)

    def snapshot(self) -> tuple[int, ...]:
        return (self.flags, self.dp, self.cp, self.dpend, self.cpend)

    def restore(self, saved: tuple[int, ...]) -> None:
        self.flags, self.dp, self.cp, self.dpend, self.cpend = saved


class PendingState:
    """A pending transfer a post/void may refer to, with its (mutable) status."""

    __slots__ = (
        "amount",
        "code",
        "credit",
        "currency",
        "debit",
        "expires_at_ns",
        "flags",
        "id",
        "is_new",
        "kind",
        "loaded_status",
        "status",
    )

    def __init__(self, row: tuple, is_new: bool) -> None:
        (
            self.id,
            self.debit,
            self.credit,
            self.amount,
            self.currency,
            self.code,
            self.flags,
            self.kind,
            status,
            self.expires_at_ns,
        ) = row
        self.status = status
        self.loaded_status = None if is_new else status
        self.is_new = is_new


@dataclass(frozen=True, slots=True)
class Head:
    transfer_count: int
    head_hash: bytes
    last_timestamp_ns: int


# Field order for idempotency comparison (see transfers._same_transfer).
STORED_COLUMNS = (
    transfers.c.id,
    transfers.c.debit_account_id,
    transfers.c.credit_account_id,
    transfers.c.amount,
    transfers.c.currency,
    transfers.c.code,
    transfers.c.flags,
    transfers.c.pending_id,
    transfers.c.timeout_s,
    transfers.c.user_data,
)
_select_head = select(
    ledger_head.c.transfer_count, ledger_head.c.head_hash, ledger_head.c.last_timestamp_ns
).where(ledger_head.c.id == HEAD_ROW_ID)


class ByIds:
    """A SELECT filtered by a set of ids through ONE bound parameter, per dialect.

    `IN (:ids)` with an expanding parameter is re-rendered on every execution, which costs a
    few microseconds per id; a single parameter keeps the SQL constant: a JSON array through
    json_each() on SQLite, an array with = ANY() on PostgreSQL.
    """

    def __init__(self, build: Callable[[Callable[[ColumnElement], ColumnElement]], Select]) -> None:
        self._build = build
        self._by_dialect: dict[str, Select] = {}

    def _statement(self, dialect_name: str) -> Select:
        found = self._by_dialect.get(dialect_name)
        if found is None:
            found = self._by_dialect[dialect_name] = self._build(id_filter(dialect_name))
        return found

    def fetch(self, conn: Connection, ids: Iterable[int]) -> list[Row]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        name = conn.dialect.name
        value: object = json.dumps(wanted) if name == "sqlite" else wanted
        return conn.execute(self._statement(name), {"ids": value}).fetchall()


def id_filter(dialect_name: str) -> Callable[[ColumnElement], ColumnElement]:
    if dialect_name == "sqlite":
        ids = select(literal_column("value")).select_from(func.json_each(bindparam("ids")))
        return lambda column: column.in_(ids.scalar_subquery())
    if dialect_name == "postgresql":
        param = bindparam("ids", type_=ARRAY(BigInteger))
        return lambda column: column == any_(param)
    return lambda column: column.in_(bindparam("ids", expanding=True))


_select_stored = ByIds(lambda where: select(*STORED_COLUMNS).where(where(transfers.c.id)))
_select_pending = ByIds(
    lambda where: (
        select(
            transfers.c.id,
            transfers.c.debit_account_id,
            transfers.c.credit_account_id,
            transfers.c.amount,
            transfers.c.currency,
            transfers.c.code,
            transfers.c.flags,
            transfers.c.kind,
            pending_transfers.c.status,
            pending_transfers.c.expires_at_ns,
        )
        .select_from(transfers.outerjoin(pending_transfers))
        .where(where(transfers.c.id))
    )
)
_select_accounts = ByIds(
    lambda where: (
        select(
            accounts.c.id,
            accounts.c.currency,
            accounts.c.flags,
            accounts.c.debits_posted,
            accounts.c.credits_posted,
            accounts.c.debits_pending,
            accounts.c.credits_pending,
        )
        .where(where(accounts.c.id))
        .order_by(accounts.c.id)
        .with_for_update()
    )
)
_TRANSFER_ROW = tuple(column.name for column in transfers.columns)  # the order rows are built in
_ACCOUNT_ROW = ("b_flags", "b_dp", "b_cp", "b_dpend", "b_cpend", "b_id")
_pg_types = {c.name: c.type.compile(dialect=postgresql.dialect()) for c in transfers.columns}
_insert_transfers = BulkStatement(
    insert(transfers),
    postgresql_sql=(
        f"INSERT INTO {transfers.name} ({', '.join(_TRANSFER_ROW)}) SELECT * FROM unnest("
        + ", ".join(f"%b::{_pg_types[name]}[]" for name in _TRANSFER_ROW)
        + ")"
    ),
)
_insert_pending = insert(pending_transfers)
_update_pending = (
    update(pending_transfers)
    .where(pending_transfers.c.transfer_id == bindparam("b_id"))
    .values(status=bindparam("b_status"), resolved_at_ns=bindparam("b_resolved_at_ns"))
)
_update_account = BulkStatement(
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values(
        flags=bindparam("b_flags"),
        debits_posted=accounts.c.debits_posted + bindparam("b_dp"),
        credits_posted=accounts.c.credits_posted + bindparam("b_cp"),
        debits_pending=accounts.c.debits_pending + bindparam("b_dpend"),
        credits_pending=accounts.c.credits_pending + bindparam("b_cpend"),
    ),
    # the same statement, with _ACCOUNT_ROW as arrays
    postgresql_sql=(
        f"UPDATE {accounts.name} AS a SET flags = v.flags, "
        "debits_posted = a.debits_posted + v.dp, credits_posted = a.credits_posted + v.cp, "
        "debits_pending = a.debits_pending + v.dpend, credits_pending = a.credits_pending + v.cpend "
        "FROM unnest(%b::INTEGER[], %b::BIGINT[], %b::BIGINT[], %b::BIGINT[], %b::BIGINT[], "
        "%b::BIGINT[]) AS v(flags, dp, cp, dpend, cpend, id) WHERE a.id = v.id"
    ),
)
_update_head = (
    update(ledger_head)
    .where(ledger_head.c.id == HEAD_ROW_ID)
    .values(
        transfer_count=bindparam("b_count"),
        head_hash=bindparam("b_hash"),
        last_timestamp_ns=bindparam("b_ts"),
    )
)


def lock_head(conn: Connection) -> Head:
    row = conn.execute(_select_head.with_for_update()).one()
    return Head(row[0], bytes(row[1]), row[2])


def load_stored(conn: Connection, ids: Iterable[int]) -> dict[int, tuple]:
    return {row[0]: tuple(row) for row in _select_stored.fetch(conn, ids)}


def load_pending(conn: Connection, ids: Iterable[int]) -> dict[int, PendingState]:
    return {
        row[0]: PendingState(tuple(row), is_new=False) for row in _select_pending.fetch(conn, ids)
    }


def lock_accounts(conn: Connection, ids: Iterable[int]) -> dict[int, AccountState]:
    """Read (and on PostgreSQL lock, ascending by id) the accounts a batch touches."""
    return {
        id_: AccountState(id_, currency, flags, balances)
        for id_, currency, flags, *balances in _select_accounts.fetch(conn, ids)
    }


def write_transfers(
    conn: Connection, head: Head, created: list[tuple[tuple, int]], timestamp_ns: int
) -> Head:
    """Give the created transfers (fields, kind) their place in the chain, insert, move the head."""
    if not created:
        return head
    count, chained = head.transfer_count, head.head_hash
    rows = []
    for fields, kind in created:
        count += 1
        chained = transfer_digest(chained, count, fields, timestamp_ns)
        rows.append((count, *fields[:7], kind, *fields[7:], timestamp_ns, chained))
    _insert_transfers.executemany(conn, _TRANSFER_ROW, rows)
    new_head = Head(count, chained, max(timestamp_ns, head.last_timestamp_ns))
    conn.execute(
        _update_head, {"b_count": count, "b_hash": chained, "b_ts": new_head.last_timestamp_ns}
    )
    return new_head


def write_pending(conn: Connection, pendings: Iterable[PendingState], timestamp_ns: int) -> None:
    inserts, updates = [], []
    for state in pendings:
        resolved_at = None if state.status == PendingStatus.PENDING else timestamp_ns
        if state.is_new:
            inserts.append(
                {
                    "transfer_id": state.id,
                    "status": state.status,
                    "expires_at_ns": state.expires_at_ns,
                    "resolved_at_ns": resolved_at,
                }
            )
        elif state.kind == TransferKind.PENDING and state.status != state.loaded_status:
            updates.append(
                {"b_id": state.id, "b_status": state.status, "b_resolved_at_ns": resolved_at}
            )
    if inserts:
        conn.execute(_insert_pending, inserts)
    if updates:
        conn.execute(_update_pending, updates)


def write_accounts(conn: Connection, states: Iterable[AccountState]) -> None:
    rows = []
    for state in states:
        _flags, dp, cp, dpend, cpend = loaded = state.loaded
        if state.snapshot() != loaded:
            rows.append(
                (
                    state.flags,
                    state.dp - dp,
                    state.cp - cp,
                    state.dpend - dpend,
                    state.cpend - cpend,
                    state.id,
                )
            )
    if rows:
        _update_account.executemany(conn, _ACCOUNT_ROW, rows)
