"""Load, lock and write back the state one batch of transfers needs.

The cost of a ledger on SQL is per statement, so a batch reads each table once (ids IN (...)),
validates in Python against those rows, and writes with one executemany per table: the transfer
inserts, the pending-state changes and ONE balance update per touched account.

Chains. A batch appends its transfers to ONE hash chain, holding that chain's `ledger_head` row
until its transaction ends. SQLite has one writer: it always takes chain 1. On PostgreSQL a batch
takes the first head row no other transaction holds (FOR UPDATE SKIP LOCKED), preferring the chain
its connection used last, so each writer process keeps to a chain of its own and a transaction
that posts several batches keeps to one; when every head row is held it starts a new chain (up to
MAX_CHAINS, then it waits for one). Writers therefore never queue on a head row: they meet only on
the accounts they share. Within a chain the links are written under its head's lock, so a chain has
no gaps and no out-of-order commits; `smscore ledger check` verifies every chain and the seal keeps
every chain's head (ledger.seal).

Why chains per writer, not a sealer chaining committed rows later: every transfer is hashed in
the transaction that writes it, so there are no unsealed rows, no second write of every row, no
sealer role to run and watch, and no sequence gaps or out-of-order commits to reason about (a
chain's links are numbered under its head's lock); an existing ledger is chain 1 unchanged. What
is given up is one total order across chains: two transfers written at once by two writers have
no order but their `seq`, which the check holds to rise along each chain.

Lock order (PostgreSQL): a head row first (never waited for while another is free), then the
accounts in ascending id order, then the pending and stored transfers are read again: a post or
void and an expiry of the same pending transfer lock the same two accounts, so the later one sees
the earlier one's committed status (READ COMMITTED reads afresh per statement). Two batches
touching the same accounts lock them in the same order and never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ledger.fastpath import (
    BulkStatement,
    PreparedSelect,
    bulk_insert,
    bulk_update,
    id_filter,
    in_parameter_value,
)
from ledger.hashchain import chain_genesis, transfer_digest
from ledger.model import PendingStatus, TransferKind
from ledger.schema import (
    HEAD_ROW_ID,
    MAX_CHAINS,
    accounts,
    ledger_head,
    pending_transfers,
    transfers,
)


class AccountState:
    """One account row as the batch sees it; `loaded` is the row as read, for the deltas."""

    __slots__ = (
        "credits_pending",
        "credits_posted",
        "currency",
        "debits_pending",
        "debits_posted",
        "flags",
        "id",
        "loaded",
    )

    def __init__(self, row: AccountRow) -> None:
        self.id = row.id
        self.currency = row.currency
        self.flags = row.flags
        self.debits_posted = row.debits_posted
        self.credits_posted = row.credits_posted
        self.debits_pending = row.debits_pending
        self.credits_pending = row.credits_pending
        self.loaded = row

    def snapshot(self) -> tuple[int, ...]:
        """The mutable fields, for `restore` (a linked chain's undo)."""
        return (
            self.flags,
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
        )

    def restore(self, saved: tuple[int, ...]) -> None:
        (
            self.flags,
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
        ) = saved

    def changed(self) -> bool:
        loaded = self.loaded
        return (
            self.flags != loaded.flags
            or self.debits_posted != loaded.debits_posted
            or self.credits_posted != loaded.credits_posted
            or self.debits_pending != loaded.debits_pending
            or self.credits_pending != loaded.credits_pending
        )


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

    def __init__(self, row: PendingRow, is_new: bool) -> None:
        self.id = row.id
        self.debit = row.debit_account_id
        self.credit = row.credit_account_id
        self.amount = row.amount
        self.currency = row.currency
        self.code = row.code
        self.flags = row.flags
        self.kind = row.kind
        self.status = row.status
        self.expires_at_ns = row.expires_at_ns
        self.loaded_status = None if is_new else row.status
        self.is_new = is_new


@dataclass(frozen=True, slots=True)
class Head:
    chain: int
    transfer_count: int
    head_hash: bytes
    last_timestamp_ns: int


class StoredTransfer(NamedTuple):
    """The immutable fields of a transfer, in the order the hash chain encodes them (and
    idempotency compares them, see transfers._same_transfer)."""

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    code: int
    flags: int
    pending_id: int | None
    timeout_s: int
    user_data: str | None


class PendingRow(NamedTuple):
    """A transfer a post/void refers to, with its pending state (status None: not pending)."""

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    code: int
    flags: int
    kind: int
    status: int | None
    expires_at_ns: int | None


class AccountRow(NamedTuple):
    id: int
    currency: str
    flags: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


# StoredTransfer(...) runs its __new__ in Python; the batch makes one per transfer with this instead.
make_stored_transfer = partial(tuple.__new__, StoredTransfer)
make_pending_row = partial(tuple.__new__, PendingRow)
STORED_COLUMNS = tuple(transfers.c[name] for name in StoredTransfer._fields)
_HEAD_COLUMNS = (
    ledger_head.c.id,
    ledger_head.c.transfer_count,
    ledger_head.c.head_hash,
    ledger_head.c.last_timestamp_ns,
)
# SQLite: one writer, chain 1 (its write lock, taken at BEGIN IMMEDIATE, is the head's lock).
# PostgreSQL: the first head row nobody else holds, the connection's last chain first.
_take_head = PreparedSelect(
    lambda dialect_name: (
        select(*_HEAD_COLUMNS).where(ledger_head.c.id == HEAD_ROW_ID)
        if dialect_name != "postgresql"
        else select(*_HEAD_COLUMNS)
        .order_by((ledger_head.c.id == bindparam("preferred")).desc(), ledger_head.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
)
_wait_head = select(*_HEAD_COLUMNS).where(ledger_head.c.id == bindparam("chain")).with_for_update()
_CHAIN_KEY = "ledger.chain"  # conn.info: the chain this connection appended to last

# Each read is one statement with every id in ONE bound parameter (see ledger.fastpath).
_select_stored = PreparedSelect(
    lambda dialect_name: select(*STORED_COLUMNS).where(id_filter(dialect_name)(transfers.c.id)),
    row=StoredTransfer,
)
_select_pending = PreparedSelect(
    lambda dialect_name: (
        select(
            *(transfers.c[name] for name in PendingRow._fields[:-2]),
            pending_transfers.c.status,
            pending_transfers.c.expires_at_ns,
        )
        .select_from(transfers.outerjoin(pending_transfers))
        .where(id_filter(dialect_name)(transfers.c.id))
    ),
    row=PendingRow,
)
_select_accounts = PreparedSelect(
    lambda dialect_name: (
        select(*(accounts.c[name] for name in AccountRow._fields))
        .where(id_filter(dialect_name)(accounts.c.id))
        .order_by(accounts.c.id)
        .with_for_update()
    ),
    row=AccountRow,
)
# The order write_transfers builds rows in: the stored fields with the kind after the flags.
_TRANSFER_ROW = (
    "chain", "chain_seq", *StoredTransfer._fields[:7], "kind", *StoredTransfer._fields[7:],
    "timestamp_ns", "hash",
)  # fmt: skip
# every column but `seq`, which the database gives (see ledger.schema)
assert {*_TRANSFER_ROW, "seq"} == {column.name for column in transfers.columns}
_insert_transfers = bulk_insert(transfers, _TRANSFER_ROW, postgresql_unnest=True)
_insert_pending = bulk_insert(
    pending_transfers, ("transfer_id", "status", "expires_at_ns", "resolved_at_ns")
)
_update_pending = bulk_update(
    pending_transfers, ("status", "resolved_at_ns"), where=("transfer_id",)
)


# What one batch does to an account row, in write_accounts' row order: the flags are set, the
# balances are added to (a concurrent reader never sees a balance go back), the id selects.
_ACCOUNT_DELTA = (
    "flags",
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "id",
)
_BALANCES = _ACCOUNT_DELTA[1:5]
_update_account = BulkStatement(
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values(
        flags=bindparam("b_flags"),
        **{name: accounts.c[name] + bindparam(f"b_{name}") for name in _BALANCES},
    ),
    names=tuple(f"b_{name}" for name in _ACCOUNT_DELTA),
    # the same statement, one array per _ACCOUNT_DELTA field
    postgresql_sql=(
        f"UPDATE {accounts.name} AS a SET flags = v.flags, "
        + ", ".join(f"{name} = a.{name} + v.{name}" for name in _BALANCES)
        + " FROM unnest(%b::INTEGER[], %b::BIGINT[], %b::BIGINT[], %b::BIGINT[], %b::BIGINT[], "
        f"%b::BIGINT[]) AS v({', '.join(_ACCOUNT_DELTA)}) WHERE a.id = v.id"
    ),
)
_update_head = BulkStatement(
    update(ledger_head)
    .where(ledger_head.c.id == bindparam("b_head"))
    .values(
        transfer_count=bindparam("b_count"),
        head_hash=bindparam("b_hash"),
        last_timestamp_ns=bindparam("b_ts"),
    ),
    names=("b_count", "b_hash", "b_ts", "b_head"),
)


def _by_ids(conn: Connection, select_rows: PreparedSelect, ids: Iterable[int]) -> list:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return select_rows.all(conn, {"ids": in_parameter_value(conn.dialect.name, wanted)})


def take_chain(conn: Connection) -> Head:
    """The head of a chain this transaction may append to, locked until it ends (see above)."""
    postgres = conn.dialect.name == "postgresql"
    preferred = conn.info.get(_CHAIN_KEY, HEAD_ROW_ID)
    for _attempt in range(MAX_CHAINS + 1):
        row = _take_head.first(conn, {"preferred": preferred} if postgres else None)
        if row is None and postgres:
            row = _new_chain(conn)
        if row is not None:
            break
    else:  # every chain is held by another writer: wait for one (spread over them)
        row = conn.execute(_wait_head, {"chain": 1 + hash(conn) % MAX_CHAINS}).one()
    conn.info[_CHAIN_KEY] = row[0]
    return Head(row[0], row[1], bytes(row[2]), row[3])


def _new_chain(conn: Connection) -> tuple | None:
    """Start the next chain (None: another writer is starting it, or MAX_CHAINS are there)."""
    chain = (conn.execute(select(func.max(ledger_head.c.id))).scalar_one() or 0) + 1
    if chain > MAX_CHAINS:
        return None
    values = {"id": chain, "transfer_count": 0, "head_hash": chain_genesis(chain)}
    # A competing insert of the same id waits for the other transaction, then inserts nothing.
    insert = pg_insert(ledger_head).values(last_timestamp_ns=0, **values)
    created = conn.execute(insert.on_conflict_do_nothing().returning(*_HEAD_COLUMNS)).first()
    return tuple(created) if created is not None else None


def newest_timestamp(conn: Connection) -> int:
    """The newest timestamp of any chain (read, not locked)."""
    found = conn.execute(select(func.max(ledger_head.c.last_timestamp_ns))).scalar_one()
    return found or 0


def load_stored(conn: Connection, ids: Iterable[int]) -> dict[int, StoredTransfer]:
    return {row.id: row for row in _by_ids(conn, _select_stored, ids)}


def load_pending(conn: Connection, ids: Iterable[int]) -> dict[int, PendingState]:
    return {row.id: PendingState(row, is_new=False) for row in _by_ids(conn, _select_pending, ids)}


def lock_accounts(conn: Connection, ids: Iterable[int]) -> dict[int, AccountState]:
    """Read (and on PostgreSQL lock, ascending by id) the accounts a batch touches."""
    return {row.id: AccountState(row) for row in _by_ids(conn, _select_accounts, ids)}


def write_transfers(
    conn: Connection, head: Head, created: list[tuple[StoredTransfer, int]], timestamp_ns: int
) -> Head:
    """Give the created transfers (fields, kind) their place in the chain, insert, move the head."""
    if not created:
        return head
    chain, count, chained = head.chain, head.transfer_count, head.head_hash
    rows = []
    for fields, kind in created:
        count += 1
        chained = transfer_digest(chained, count, fields, timestamp_ns)
        rows.append((chain, count, *fields[:7], kind, *fields[7:], timestamp_ns, chained))
    _insert_transfers.executemany(conn, rows)
    new_head = Head(chain, count, chained, max(timestamp_ns, head.last_timestamp_ns))
    _update_head.executemany(conn, [(count, chained, new_head.last_timestamp_ns, chain)])
    return new_head


def write_pending(conn: Connection, pendings: Iterable[PendingState], timestamp_ns: int) -> None:
    inserts, updates = [], []
    for state in pendings:
        resolved_at = None if state.status == PendingStatus.PENDING else timestamp_ns
        # Plain ints: the rows go to the driver as they are.
        if state.is_new:
            inserts.append((state.id, int(state.status), state.expires_at_ns, resolved_at))
        elif state.kind == TransferKind.PENDING and state.status != state.loaded_status:
            updates.append((int(state.status), resolved_at, state.id))
    if inserts:
        _insert_pending.executemany(conn, inserts)
    if updates:
        _update_pending.executemany(conn, updates)


def write_accounts(conn: Connection, states: Iterable[AccountState]) -> None:
    rows = []
    for state in states:
        if state.changed():
            loaded = state.loaded
            rows.append(
                (  # _ACCOUNT_DELTA order; a plain tuple: this runs per account per batch
                    state.flags,
                    state.debits_posted - loaded.debits_posted,
                    state.credits_posted - loaded.credits_posted,
                    state.debits_pending - loaded.debits_pending,
                    state.credits_pending - loaded.credits_pending,
                    state.id,
                )
            )
    if rows:
        _update_account.executemany(conn, rows)
