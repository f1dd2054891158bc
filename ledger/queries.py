"""Read side: accounts, balances, transfer lookup and account statements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, case, func, or_, select

from ledger.batch import STORED_COLUMNS
from ledger.fastpath import PreparedSelect, id_filter, in_parameter_value
from ledger.model import (
    AccountFlags,
    AccountRecord,
    Balance,
    PendingStatus,
    TransferFlags,
    TransferKind,
    TransferRecord,
)
from ledger.schema import accounts, pending_transfers, transfers

STATEMENT_MAX_LINES = 10_000  # per call: a statement is read into memory whole
_POSTED_KINDS = (TransferKind.PLAIN, TransferKind.POST)

_select_transfers = select(
    transfers.c.seq,
    *STORED_COLUMNS,
    transfers.c.timestamp_ns,
    pending_transfers.c.status,
).select_from(transfers.outerjoin(pending_transfers))


_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.currency,
    accounts.c.code,
    accounts.c.flags,
    accounts.c.debits_posted,
    accounts.c.credits_posted,
    accounts.c.debits_pending,
    accounts.c.credits_pending,
    accounts.c.user_data,
    accounts.c.timestamp_ns,
)
_select_accounts = PreparedSelect(
    lambda dialect_name: select(*_ACCOUNT_COLUMNS).where(id_filter(dialect_name)(accounts.c.id))
)
# A balance is read once per BAL message: one constant statement, `id = ?`, on the driver's cursor
# (a new IN select per call cost 480-950 us; see BENCHMARKS.md).
_select_account = PreparedSelect(
    lambda _: select(*_ACCOUNT_COLUMNS).where(accounts.c.id == bindparam("account_id"))
)


def get_accounts(conn: Connection, ids: Iterable[int]) -> dict[int, AccountRecord]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    value = in_parameter_value(conn.dialect.name, wanted)
    return {row.id: _account(row) for row in _select_accounts.all(conn, {"ids": value})}


def get_balance(conn: Connection, account_id: int) -> Balance | None:
    row = _select_account.first(conn, {"account_id": account_id})
    if row is None:
        return None
    return Balance(
        account_id=account_id,
        currency=row.currency,
        debits_posted=row.debits_posted,
        credits_posted=row.credits_posted,
        debits_pending=row.debits_pending,
        credits_pending=row.credits_pending,
        debit_normal=bool(row.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    )


def get_transfers(conn: Connection, ids: Iterable[int]) -> dict[int, TransferRecord]:
    stmt = _select_transfers.where(transfers.c.id.in_(bindparam("ids", expanding=True)))
    return {row.id: _transfer(row) for row in conn.execute(stmt, {"ids": sorted(set(ids))})}


def transfers_by_user_data(
    conn: Connection, user_data: str, limit: int = STATEMENT_MAX_LINES
) -> list[TransferRecord]:
    stmt = (
        _select_transfers.where(transfers.c.user_data == user_data)
        .order_by(transfers.c.seq)
        .limit(limit)
    )
    return [_transfer(row) for row in conn.execute(stmt)]


@dataclass(frozen=True, slots=True)
class StatementLine:
    seq: int
    transfer_id: int
    timestamp_ns: int
    counterparty_account_id: int
    debit_amount: int  # taken from this account (0 if credited)
    credit_amount: int  # paid into this account (0 if debited)
    balance: int  # running posted balance after this line, from the account's normal side
    code: int
    user_data: str | None


@dataclass(frozen=True, slots=True)
class Statement:
    account_id: int
    currency: str
    from_ns: int
    to_ns: int
    opening_balance: int
    closing_balance: int
    lines: list[StatementLine]
    truncated: bool  # more than max_lines lines fell in the period; closing is at the last line


def statement(
    conn: Connection,
    account_id: int,
    from_ns: int,
    to_ns: int,
    max_lines: int = STATEMENT_MAX_LINES,
) -> Statement | None:
    """Posted movements of one account with timestamps in [from_ns, to_ns), running balance."""
    balance = get_balance(conn, account_id)
    if balance is None:
        return None
    sign = -1 if balance.debit_normal else 1
    touches = or_(
        transfers.c.debit_account_id == account_id, transfers.c.credit_account_id == account_id
    )
    posted = transfers.c.kind.in_(_POSTED_KINDS)
    net = case(
        (transfers.c.credit_account_id == account_id, transfers.c.amount), else_=-transfers.c.amount
    )
    opening_stmt = select(func.coalesce(func.sum(net), 0)).where(
        touches, posted, transfers.c.timestamp_ns < from_ns
    )
    running = sign * int(conn.execute(opening_stmt).scalar_one())
    opening = running
    lines_stmt = (
        select(transfers)
        .where(
            touches, posted, transfers.c.timestamp_ns >= from_ns, transfers.c.timestamp_ns < to_ns
        )
        .order_by(transfers.c.seq)
        .limit(max_lines + 1)
    )
    rows = conn.execute(lines_stmt).all()
    lines = []
    for row in rows[:max_lines]:
        credited = row.credit_account_id == account_id
        running += sign * (row.amount if credited else -row.amount)
        lines.append(
            StatementLine(
                seq=row.seq,
                transfer_id=row.id,
                timestamp_ns=row.timestamp_ns,
                counterparty_account_id=row.debit_account_id if credited else row.credit_account_id,
                debit_amount=0 if credited else row.amount,
                credit_amount=row.amount if credited else 0,
                balance=running,
                code=row.code,
                user_data=row.user_data,
            )
        )
    return Statement(
        account_id=account_id,
        currency=balance.currency,
        from_ns=from_ns,
        to_ns=to_ns,
        opening_balance=opening,
        closing_balance=running,
        lines=lines,
        truncated=len(rows) > max_lines,
    )


def _account(row: Any) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        currency=row.currency,
        code=row.code,
        flags=AccountFlags(row.flags),
        debits_posted=row.debits_posted,
        credits_posted=row.credits_posted,
        debits_pending=row.debits_pending,
        credits_pending=row.credits_pending,
        user_data=row.user_data,
        timestamp_ns=row.timestamp_ns,
    )


def _transfer(row: Row) -> TransferRecord:
    return TransferRecord(
        seq=row.seq,
        id=row.id,
        debit_account_id=row.debit_account_id,
        credit_account_id=row.credit_account_id,
        amount=row.amount,
        currency=row.currency,
        code=row.code,
        flags=TransferFlags(row.flags),
        pending_id=row.pending_id or 0,
        timeout_s=row.timeout_s,
        user_data=row.user_data,
        timestamp_ns=row.timestamp_ns,
        pending_status=None if row.status is None else PendingStatus(row.status),
    )
