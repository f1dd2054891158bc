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

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, insert, select, update

from ledger.hashchain import transfer_digest
from ledger.model import PendingStatus, TransferKind
from ledger.schema import HEAD_ROW_ID, accounts, ledger_head, pending_transfers, transfers

IN_CHUNK = 2000  # ids per IN (...) list: far below every driver's parameter limit


class AccountState:
    """One account row as the batch sees it; `loaded` keeps the row as read, for the deltas."""

    __slots__ = ("cp", "cpend", "currency", "dp", "dpend", "flags", "id", "loaded")

    def __init__(self, id_: int, currency: str, flags: int, balances: tuple[int, ...]) -> None:
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
_ids = bindparam("ids", expanding=True)
_select_head = select(
    ledger_head.c.transfer_count, ledger_head.c.head_hash, ledger_head.c.last_timestamp_ns
).where(ledger_head.c.id == HEAD_ROW_ID)
_select_stored = select(*STORED_COLUMNS).where(transfers.c.id.in_(_ids))
_select_pending = (
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
    .where(transfers.c.id.in_(_ids))
)
_select_accounts = (
    select(
        accounts.c.id,
        accounts.c.currency,
        accounts.c.flags,
        accounts.c.debits_posted,
        accounts.c.credits_posted,
        accounts.c.debits_pending,
        accounts.c.credits_pending,
    )
    .where(accounts.c.id.in_(_ids))
    .order_by(accounts.c.id)
    .with_for_update()
)
_insert_transfers = insert(transfers)
_insert_pending = insert(pending_transfers)
_update_pending = (
    update(pending_transfers)
    .where(pending_transfers.c.transfer_id == bindparam("b_id"))
    .values(status=bindparam("b_status"), resolved_at_ns=bindparam("b_resolved_at_ns"))
)
_update_account = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values(
        flags=bindparam("b_flags"),
        debits_posted=accounts.c.debits_posted + bindparam("b_dp"),
        credits_posted=accounts.c.credits_posted + bindparam("b_cp"),
        debits_pending=accounts.c.debits_pending + bindparam("b_dpend"),
        credits_pending=accounts.c.credits_pending + bindparam("b_cpend"),
    )
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


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), IN_CHUNK):
        yield ordered[start : start + IN_CHUNK]


def load_stored(conn: Connection, ids: Iterable[int]) -> dict[int, tuple]:
    found: dict[int, tuple] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(_select_stored, {"ids": chunk}):
            found[row[0]] = tuple(row)
    return found


def load_pending(conn: Connection, ids: Iterable[int]) -> dict[int, PendingState]:
    found: dict[int, PendingState] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(_select_pending, {"ids": chunk}):
            found[row[0]] = PendingState(tuple(row), is_new=False)
    return found


def lock_accounts(conn: Connection, ids: Iterable[int]) -> dict[int, AccountState]:
    """Read (and on PostgreSQL lock, ascending by id) the accounts a batch touches."""
    found: dict[int, AccountState] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(_select_accounts, {"ids": chunk}):
            found[row[0]] = AccountState(row[0], row[1], row[2], tuple(row[3:7]))
    return found


def write_transfers(conn: Connection, head: Head, rows: list[dict], timestamp_ns: int) -> Head:
    """Give the new rows their place in the chain, insert them and move the head."""
    if not rows:
        return head
    count, chained = head.transfer_count, head.head_hash
    for row in rows:
        count += 1
        row["seq"] = count
        chained = transfer_digest(chained, row)
        row["hash"] = chained
    conn.execute(_insert_transfers, rows)
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
    params = []
    for state in states:
        _flags, dp, cp, dpend, cpend = state.loaded
        if state.snapshot() != state.loaded:
            params.append(
                {
                    "b_id": state.id,
                    "b_flags": state.flags,
                    "b_dp": state.dp - dp,
                    "b_cp": state.cp - cp,
                    "b_dpend": state.dpend - dpend,
                    "b_cpend": state.cpend - cpend,
                }
            )
    if params:
        conn.execute(_update_account, params)
