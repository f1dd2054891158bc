"""Expire pending transfers whose timeout has passed, releasing the amounts they reserved."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from ledger import batch
from ledger.model import PendingStatus
from ledger.schema import pending_transfers
from ledger.transfers import MAX_BATCH, release_pending, reopen_closed

_select_due = (
    select(pending_transfers.c.transfer_id)
    .where(
        pending_transfers.c.status == PendingStatus.PENDING,
        pending_transfers.c.expires_at_ns <= bindparam("now_ns"),
    )
    .order_by(pending_transfers.c.expires_at_ns, pending_transfers.c.transfer_id)
    .limit(bindparam("limit"))
)


def expire_pending_transfers(conn: Connection, now_ns: int, limit: int = MAX_BATCH) -> list[int]:
    """Expire up to `limit` due pending transfers in the caller's transaction; return their ids.

    A pending transfer is due when its expiry is at or before max(now_ns, newest ledger
    timestamp): the same time create_transfers uses to refuse a post of an expired transfer.
    Callers (the sweeper) loop until fewer than `limit` ids come back.
    """
    head = batch.lock_head(conn)
    now_ns = max(now_ns, head.last_timestamp_ns)
    due = conn.execute(_select_due, {"now_ns": now_ns, "limit": limit}).scalars().all()
    if not due:
        return []
    pendings = batch.load_pending(conn, due)
    account_ids = {a for p in pendings.values() for a in (p.debit, p.credit)}
    accounts = batch.lock_accounts(conn, account_ids)
    for pending in pendings.values():
        debit, credit = accounts[pending.debit], accounts[pending.credit]
        release_pending(debit, credit, pending)
        reopen_closed(debit, credit, pending)
        pending.status = PendingStatus.EXPIRED
    batch.write_pending(conn, pendings.values(), now_ns)
    batch.write_accounts(conn, accounts.values())
    return sorted(due)
