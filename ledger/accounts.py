"""create_accounts: one CreateAccountResult per account; balances always start at zero."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ledger.errors import LedgerBatchTooLarge
from ledger.model import (
    ACCOUNT_FLAGS_SETTABLE,
    INT32_MAX,
    INT64_MAX,
    USER_DATA_MAX_CHARS,
    Account,
    AccountFlags,
    valid_currency,
)
from ledger.results import CreateAccountResult as R
from ledger.schema import accounts as accounts_table
from ledger.transfers import MAX_BATCH

_BOTH_LIMITS = (
    AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
)
_select_existing = select(
    accounts_table.c.id,
    accounts_table.c.currency,
    accounts_table.c.code,
    accounts_table.c.flags,
    accounts_table.c.user_data,
).where(accounts_table.c.id.in_(bindparam("ids", expanding=True)))
_insert = insert(accounts_table)
# PostgreSQL: no lock orders the writers; an account a concurrent transaction inserts first is
# waited for, then skipped, and compared like one that was there (SQLite has one writer).
_insert_new = pg_insert(accounts_table).on_conflict_do_nothing().returning(accounts_table.c.id)


def create_accounts(conn: Connection, new_accounts: Sequence[Account], now_ns: int) -> list[R]:
    """Create accounts in the caller's transaction. Same id and fields again → EXISTS."""
    if len(new_accounts) > MAX_BATCH:
        raise LedgerBatchTooLarge(f"{len(new_accounts)} accounts in one batch; at most {MAX_BATCH}")
    ids = sorted({a.id for a in new_accounts if 0 < a.id <= INT64_MAX})
    known = {row[0]: tuple(row[1:]) for row in conn.execute(_select_existing, {"ids": ids})}
    results, rows = [], []
    for account in new_accounts:
        result = _validate(account)
        fields = (account.currency, account.code, int(account.flags), account.user_data or None)
        if result is R.OK and account.id in known:
            result = R.EXISTS if known[account.id] == fields else R.EXISTS_WITH_DIFFERENT_FIELDS
        if result is R.OK:
            known[account.id] = fields
            rows.append(_row(account, now_ns))
        results.append(result)
    if rows and conn.dialect.name == "postgresql":
        return _insert_concurrently(conn, new_accounts, results, rows)
    if rows:
        conn.execute(_insert, rows)
    return results


def _insert_concurrently(
    conn: Connection, new_accounts: Sequence[Account], results: list[R], rows: list[dict]
) -> list[R]:
    inserted = set(conn.execute(_insert_new, rows).scalars())
    raced = [row["id"] for row in rows if row["id"] not in inserted]
    if not raced:
        return results
    known = {row[0]: tuple(row[1:]) for row in conn.execute(_select_existing, {"ids": raced})}
    for index, account in enumerate(new_accounts):
        if results[index] is R.OK and account.id in known:
            fields = (account.currency, account.code, int(account.flags), account.user_data or None)
            same = known[account.id] == fields
            results[index] = R.EXISTS if same else R.EXISTS_WITH_DIFFERENT_FIELDS
    return results


def _validate(account: Account) -> R:
    if not 0 < account.id <= INT64_MAX:
        return R.ID_OUT_OF_RANGE
    flags = int(account.flags)
    if flags & ~int(ACCOUNT_FLAGS_SETTABLE):
        return R.RESERVED_FLAG
    if flags & _BOTH_LIMITS == _BOTH_LIMITS:
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if not valid_currency(account.currency):
        return R.INVALID_CURRENCY
    if not 0 <= account.code <= INT32_MAX:
        return R.CODE_OUT_OF_RANGE
    if account.user_data is not None and len(account.user_data) > USER_DATA_MAX_CHARS:
        return R.USER_DATA_TOO_LONG
    return R.OK


def _row(account: Account, now_ns: int) -> dict:
    return {
        "id": account.id,
        "currency": account.currency,
        "code": account.code,
        "flags": int(account.flags),
        "debits_posted": 0,
        "credits_posted": 0,
        "debits_pending": 0,
        "credits_pending": 0,
        "user_data": account.user_data or None,
        "timestamp_ns": now_ns,
    }
