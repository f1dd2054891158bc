"""The batches' own step, beside the API worker (roles all and tranproc): an approved batch's items
become `disbursement` requests (api_requests.batch_id; no callback each), a bounded number per run,
which the worker's disbursement executor then runs like any other; a batch whose every item is
completed or failed is completed, and its request with it (its callback queued in the same
transaction).

Queueing claims the range of items first (`queued` moved on from the value read), then records
them, in one transaction: two processes never queue the same item twice, and a crash queues none of
that range.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import Connection, and_, exists, select

from daemon.api.batch_rules import DISBURSEMENT_PATH
from daemon.api.batch_store import Batch, BatchState, batch_of_row, change_state_txn, tally_txn
from daemon.api.batch_view import complete_batch_request_txn
from daemon.api.components import api_component
from daemon.api.env import ApiEnv
from daemon.api.lifecycle import RequestStatus, accept_txn
from daemon.components import Component, periodic_component
from daemon.periodic import Periodic
from daemon.schema import api_batches, api_requests

ITEM_OPERATION = "disbursement"


def queue_items_txn(
    conn: Connection, now_ns: int, budget: int, retention_days: float
) -> tuple[int, bool]:
    """(items queued, more waiting) for approved batches, oldest first, at most `budget` items."""
    query = (
        select(api_batches)
        .where(
            api_batches.c.state == BatchState.APPROVED.value,
            api_batches.c.queued < api_batches.c.item_count,
        )
        .order_by(api_batches.c.id)
        .limit(budget)
    )
    queued = 0
    for row in conn.execute(query).all():
        if queued >= budget:
            return queued, True
        queued += queue_batch_txn(conn, batch_of_row(row), now_ns, budget - queued, retention_days)
    more = conn.execute(query.limit(1)).first() is not None
    return queued, more


def queue_batch_txn(
    conn: Connection, batch: Batch, now_ns: int, most: int, retention_days: float
) -> int:
    start = batch.queued
    end = min(batch.item_count, start + most)
    claimed = conn.execute(
        api_batches.update()
        .where(api_batches.c.id == batch.id, api_batches.c.queued == start)
        .values(queued=end)
    )
    if claimed.rowcount != 1:  # another process queued these a moment ago
        return 0
    for item in batch.body["items"][start:end]:
        accept_txn(
            conn,
            business_id=batch.business_id,
            client_correlation_id=None,
            operation=ITEM_OPERATION,
            method="POST",
            path=DISBURSEMENT_PATH,
            body=item,
            callback_url=None,
            now_ns=now_ns,
            retention_days=retention_days,
            batch_id=batch.id,
        )
    return end - start


def finish_batches_txn(conn: Connection, now_ns: int, limit: int) -> tuple[int, bool]:
    """(batches completed, more waiting): approved, every item queued and none still pending."""
    pending_item = exists().where(
        and_(
            api_requests.c.batch_id == api_batches.c.id,
            api_requests.c.state == RequestStatus.PENDING.value,
        )
    )
    query = (
        select(api_batches)
        .where(
            api_batches.c.state == BatchState.APPROVED.value,
            api_batches.c.queued == api_batches.c.item_count,
            ~pending_item,
        )
        .order_by(api_batches.c.id)
        .limit(limit)
    )
    rows = conn.execute(query).all()
    done = sum(finish_batch_txn(conn, batch_of_row(row), now_ns) for row in rows)
    return done, len(rows) == limit


def finish_batch_txn(conn: Connection, batch: Batch, now_ns: int) -> int:
    tally = tally_txn(conn, batch)
    finished = change_state_txn(
        conn, batch, BatchState.APPROVED,
        state=BatchState.COMPLETED.value, completed_at_ns=now_ns,
        completed_count=tally.completed_count, rejected_count=tally.rejected_count,
        completed_minor=tally.completed_minor, rejected_minor=tally.rejected_minor,
    )  # fmt: skip
    if finished is None:  # completed by another process a moment ago
        return 0
    complete_batch_request_txn(conn, finished, now_ns)
    return 1


def batch_step_txn(
    conn: Connection, now_ns: int, *, batch_size: int, retention_days: float
) -> tuple[dict[str, int], bool]:
    """One run: items queued, then batches finished (daemon.periodic's PeriodicWork)."""
    queued, more_items = queue_items_txn(conn, now_ns, batch_size, retention_days)
    finished, more_batches = finish_batches_txn(conn, now_ns, batch_size)
    return {"items_queued": queued, "batches_completed": finished}, more_items or more_batches


@api_component("all", "tranproc")
def batch_worker(env: ApiEnv) -> Component | None:
    api = env.config.api
    if not api.enabled:
        return None
    work = partial(
        batch_step_txn, batch_size=api.worker_batch_size, retention_days=api.idempotency_days
    )
    return periodic_component(
        Periodic(env.reactor, env.db, "api.batches", work, api.worker_interval_s)
    )
