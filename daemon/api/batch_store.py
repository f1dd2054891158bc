"""Bulk batches in the database (`api_batches`; the items' requests in `api_requests` by batch_id).

A batch's own request (the POST's, operation "batch") stays pending while the batch is created
(awaiting its checker) and approved (its items running); it is completed with the batch's final
representation when the batch completes or is rejected, which queues its callback, once: both
steps change the batch's state only from the one they expect.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from daemon.api.amounts import format_amount, parse_amount
from daemon.api.batch_models import PageQuery
from daemon.api.batch_rules import APPROVED, NewBatch, require_checker
from daemon.api.errors import ApiError, ErrorCategory, not_found
from daemon.api.lifecycle import (
    ApiRequest,
    RequestStatus,
    accept_txn,
    by_column_txn,
    canonical_json,
    get_by_server_id_txn,
    set_pending_txn,
)
from daemon.api.principal import Business
from daemon.audit import record_txn
from daemon.schema import api_batches, api_requests

BATCH_OPERATION = "batch"
BATCH_PATH = "/batchtransactions"
AWAITING_APPROVAL = "awaiting approval by a checker key"
PROCESSING = "approved: its transactions are being paid"


class BatchState(StrEnum):
    CREATED = "created"  # awaiting a checker
    APPROVED = "approved"  # its items are being made into disbursements and run
    REJECTED = "rejected"  # by a checker: nothing paid (batchStatus "completed" in the API)
    COMPLETED = "completed"  # every item paid or failed


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    business_id: int
    batch_ref: str
    request_id: int
    title: str
    description: str
    state: BatchState
    maker_key_id: str
    checker_key_id: str | None
    item_count: int
    currency: str
    total_minor: int
    queued: int
    body: dict  # {"items": [the items' request bodies], "requestDate": ...}
    reason: str | None
    completed_count: int
    rejected_count: int
    completed_minor: int
    rejected_minor: int
    created_at_ns: int
    decided_at_ns: int | None
    completed_at_ns: int | None

    @property
    def finished(self) -> bool:
        return self.state in (BatchState.COMPLETED, BatchState.REJECTED)


@dataclass(frozen=True, slots=True)
class Tally:
    """Where a batch's items stand."""

    completed_count: int = 0
    rejected_count: int = 0
    completed_minor: int = 0
    rejected_minor: int = 0
    pending_count: int = 0
    pending_minor: int = 0


def batch_of_row(row: Any) -> Batch:
    values = dict(row._mapping)
    values["state"] = BatchState(values["state"])
    values["body"] = json.loads(values["body"])
    return Batch(**values)


def create_batch_txn(
    conn: Connection,
    *,
    business: Business,
    batch: NewBatch,
    request_body: dict,
    client_correlation_id: str | None,
    callback_url: str | None,
    now_ns: int,
    retention_days: float,
) -> ApiRequest:
    """The batch's request, pending (a replay: the earlier one, as it is now)."""
    batch_ref = str(uuid.uuid4())
    accepted = accept_txn(
        conn,
        business_id=business.id,
        client_correlation_id=client_correlation_id,
        operation=BATCH_OPERATION,
        method="POST",
        path=BATCH_PATH,
        body=request_body,
        callback_url=callback_url,
        now_ns=now_ns,
        retention_days=retention_days,
        object_reference=batch_ref,
    )
    if accepted.replay:
        return accepted.request
    body = {"items": batch.items, "requestDate": request_body.get("requestDate")}
    conn.execute(
        insert(api_batches).values(
            business_id=business.id, batch_ref=batch_ref, request_id=accepted.request.id,
            title=batch.title, description=batch.description, state=BatchState.CREATED.value,
            maker_key_id=business.key_id, item_count=len(batch.items), currency=batch.currency,
            total_minor=batch.total_minor, queued=0, body=canonical_json(body).decode(),
            completed_count=0, rejected_count=0, completed_minor=0, rejected_minor=0,
            created_at_ns=now_ns,
        )
    )  # fmt: skip
    set_pending_txn(conn, accepted.request, now_ns, reason=AWAITING_APPROVAL)
    total = format_amount(batch.total_minor, batch.currency)
    detail = f"{business.code}: {len(batch.items)} items, {total} {batch.currency}"
    _audit_txn(conn, business, "batch.create", batch_ref, detail, now_ns)
    found = get_by_server_id_txn(conn, accepted.request.server_correlation_id)
    assert found is not None
    return found


def get_batch_txn(conn: Connection, business_id: int, batch_ref: str) -> Batch:
    """The business's batch; another business's is not found, as one that does not exist."""
    query = select(api_batches).where(
        api_batches.c.batch_ref == batch_ref, api_batches.c.business_id == business_id
    )
    row = conn.execute(query).first()
    if row is None:
        raise not_found("batchId", batch_ref)
    return batch_of_row(row)


def batch_by_id_txn(conn: Connection, batch_id: int) -> Batch:
    return batch_of_row(conn.execute(select(api_batches).where(api_batches.c.id == batch_id)).one())


def batch_request_txn(conn: Connection, batch: Batch) -> ApiRequest:
    request = by_column_txn(conn, "id", batch.request_id)
    assert request is not None, f"batch {batch.batch_ref}: its request is gone"
    return request


def change_state_txn(
    conn: Connection, batch: Batch, expected: BatchState, **values: Any
) -> Batch | None:
    """The batch moved on from `expected`; None when someone else moved it first."""
    changed = conn.execute(
        update(api_batches)
        .where(api_batches.c.id == batch.id, api_batches.c.state == expected.value)
        .values(**values)
    )
    return batch_by_id_txn(conn, batch.id) if changed.rowcount == 1 else None


def decide_txn(
    conn: Connection, business: Business, batch_ref: str, wanted: str, now_ns: int
) -> tuple[Batch, bool]:
    """A checker's decision: (the batch, True when it was rejected just now: its request is to be
    completed). Deciding again what was decided is no change; anything else once decided is
    incorrectState."""
    batch = get_batch_txn(conn, business.id, batch_ref)
    require_checker(business, batch.maker_key_id)
    target = BatchState.APPROVED if wanted == APPROVED else BatchState.REJECTED
    if batch.state is target:
        return batch, False
    if batch.state is not BatchState.CREATED:
        raise ApiError(
            ErrorCategory.BUSINESS_RULE,
            "incorrectState",
            f"the batch is already {batch.state.value}",
            {"batchStatus": batch.state.value},
        )
    values: dict[str, Any] = {
        "state": target.value,
        "checker_key_id": business.key_id,
        "decided_at_ns": now_ns,
    }
    if target is BatchState.REJECTED:
        values |= {
            "reason": f"rejected by the checker (key {business.key_id})",
            "completed_at_ns": now_ns,
            "rejected_count": batch.item_count,
            "rejected_minor": batch.total_minor,
        }
    decided = change_state_txn(conn, batch, BatchState.CREATED, **values)
    if decided is None:  # decided by another request a moment ago: its answer is this one's
        return decide_txn(conn, business, batch_ref, wanted, now_ns)
    if target is BatchState.APPROVED:
        set_pending_txn(conn, batch_request_txn(conn, decided), now_ns, reason=PROCESSING)
    detail = f"{business.code}: made by key {batch.maker_key_id}"
    _audit_txn(conn, business, f"batch.{wanted}", batch_ref, detail, now_ns)
    return decided, target is BatchState.REJECTED


def _audit_txn(
    conn: Connection, business: Business, action: str, batch_ref: str, detail: str, now_ns: int
) -> None:
    """Maker and checker on the audit chain: which key did what to which batch."""
    record_txn(conn, f"api-key:{business.key_id}", action, f"batch:{batch_ref}", detail, now_ns)


def tally_txn(conn: Connection, batch: Batch) -> Tally:
    """Counts and amounts of the batch's items: kept in the row once it is finished, else counted
    from its items' requests (items not yet queued are pending)."""
    if batch.finished:
        return Tally(batch.completed_count, batch.rejected_count, batch.completed_minor,
                     batch.rejected_minor)  # fmt: skip
    counts = {state: 0 for state in RequestStatus}
    amounts = {state: 0 for state in RequestStatus}
    query = select(api_requests.c.state, api_requests.c.body).where(
        api_requests.c.batch_id == batch.id
    )
    for row in conn.execute(query):
        state = RequestStatus(row.state)
        counts[state] += 1
        amounts[state] += parse_amount(json.loads(row.body)["amount"], batch.currency)
    done_minor = amounts[RequestStatus.COMPLETED] + amounts[RequestStatus.FAILED]
    return Tally(
        counts[RequestStatus.COMPLETED],
        counts[RequestStatus.FAILED],
        amounts[RequestStatus.COMPLETED],
        amounts[RequestStatus.FAILED],
        batch.item_count - counts[RequestStatus.COMPLETED] - counts[RequestStatus.FAILED],
        batch.total_minor - done_minor,
    )


def items_page_txn(
    conn: Connection, batch: Batch, state: RequestStatus, page: PageQuery, bounds: tuple[int, int]
) -> tuple[list[ApiRequest], int]:
    """One page of the batch's items in `state` (completed or failed), in the batch's order,
    finished within `bounds` (ns), and how many there are in all."""
    where = (
        api_requests.c.batch_id == batch.id,
        api_requests.c.state == state.value,
        api_requests.c.updated_at_ns >= bounds[0],
        api_requests.c.updated_at_ns <= bounds[1],
    )
    available = conn.execute(
        select(func.count()).select_from(api_requests).where(*where)
    ).scalar_one()
    query = (
        select(api_requests.c.id)
        .where(*where)
        .order_by(api_requests.c.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    found = [by_column_txn(conn, "id", row.id) for row in conn.execute(query).all()]
    return [request for request in found if request is not None], available
