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
    timestamp): create_transfers refuses a post of it from then on. A post and this expiry of the
    same transfer lock the same accounts, so one of them finds it no longer pending.
    Callers (the sweeper) loop until fewer than `limit` ids come back.
    """
    now_ns = max(now_ns, batch.newest_timestamp(conn))
    due = conn.execute(_select_due, {"now_ns": now_ns, "limit": limit}).scalars().all()
    if not due:
        return []
    pendings = batch.load_pending(conn, due)
    account_ids = {a for p in pendings.values() for a in (p.debit, p.credit)}
    accounts = batch.lock_accounts(conn, account_ids)
    if conn.dialect.name == "postgresql":  # read again under the locks (see ledger.batch)
        again = batch.load_pending(conn, due)
        pendings = {i: p for i, p in again.items() if p.status == PendingStatus.PENDING}
        due = list(pendings)
    for pending in pendings.values():
        debit, credit = accounts[pending.debit], accounts[pending.credit]
        release_pending(debit, credit, pending)
        reopen_closed(debit, credit, pending)
        pending.status = PendingStatus.EXPIRED
    batch.write_pending(conn, pendings.values(), now_ns)
    batch.write_accounts(conn, accounts.values())
    return sorted(due)
