"""How a batch and its items read in the API: responseBatchTransaction, and each item as a
responseBatchTransactionRejection (failed: its error) or responseBatchTransactionCompletion
(paid: its transaction)."""

from __future__ import annotations

from sqlalchemy import Connection

from daemon.api.amounts import format_amount
from daemon.api.batch_models import PageQuery
from daemon.api.batch_store import Batch, BatchState, Tally, batch_request_txn, tally_txn
from daemon.api.errors import iso_time
from daemon.api.lifecycle import ApiRequest, complete_txn

# batchStatus keeps the specification's values: a rejected batch is finished, nothing paid.
BATCH_STATUS = {
    BatchState.CREATED: "created",
    BatchState.APPROVED: "approved",
    BatchState.REJECTED: "completed",
    BatchState.COMPLETED: "completed",
}
REASON_MAX_CHARS = 256


def _pairs(values: dict[str, str | None]) -> list[dict]:
    return [{"key": key, "value": value} for key, value in values.items() if value is not None]


def batch_object(batch: Batch, tally: Tally) -> dict:
    decided = batch.decided_at_ns
    body: dict = {
        "batchId": batch.batch_ref,
        "batchStatus": BATCH_STATUS[batch.state],
        "processingFlag": batch.state is BatchState.APPROVED,
        "completedCount": tally.completed_count,
        "rejectionCount": tally.rejected_count,
        "parsingSuccessCount": batch.item_count,
        "creationDate": iso_time(batch.created_at_ns),
    }
    if decided is not None and batch.state is not BatchState.REJECTED:
        body["approvalDate"] = iso_time(decided)
    if batch.completed_at_ns is not None:
        body["completionDate"] = iso_time(batch.completed_at_ns)
    changed = batch.completed_at_ns or decided
    if changed is not None:
        body["modificationDate"] = iso_time(changed)
    if batch.title:
        body["batchTitle"] = batch.title
    if batch.description:
        body["batchdescription"] = batch.description
    if batch.body.get("requestDate"):
        body["requestDate"] = batch.body["requestDate"]
    body["customData"] = _pairs(_amounts(batch, tally))
    return body


def _amounts(batch: Batch, tally: Tally) -> dict[str, str | None]:
    def money(minor: int) -> str:
        return format_amount(minor, batch.currency)

    decision = None
    if batch.state is BatchState.REJECTED:
        decision = "rejected"
    elif batch.decided_at_ns is not None:
        decision = "approved"
    return {
        "currency": batch.currency,
        "totalAmount": money(batch.total_minor),
        "completedAmount": money(tally.completed_minor),
        "rejectedAmount": money(tally.rejected_minor),
        "pendingAmount": money(tally.pending_minor),
        "pendingCount": str(tally.pending_count),
        "batchDecision": decision,
        "decisionReason": batch.reason,
    }


def _item_fields(item: dict) -> dict:
    fields = {"creditParty": item["creditParty"], "debitParty": item["debitParty"]}
    reference = item.get("requestingOrganisationTransactionReference")
    if reference is not None:
        fields["requestingOrganisationTransactionReference"] = reference
    return fields


def rejection_of(request: ApiRequest) -> dict:
    """A failed item: its error's code and description as the reason."""
    error = request.error or {}
    code = error.get("errorCode", "genericError")
    described = error.get("errorDescription")
    reason = f"{code}: {described}" if described else code
    body = _item_fields(request.body) | {
        "rejectionReason": reason[:REASON_MAX_CHARS],
        "rejectionDate": iso_time(request.updated_at_ns),
        "customData": _pairs({"errorCategory": error.get("errorCategory"), "errorCode": code}),
    }
    if request.object_reference:
        body["transactionReference"] = request.object_reference
    return body


def completion_of(request: ApiRequest) -> dict:
    """A paid item, its transaction's reference and where to read it."""
    reference = request.object_reference or request.server_correlation_id
    return _item_fields(request.body) | {
        "transactionReference": reference,
        "completionDate": iso_time(request.updated_at_ns),
        "link": f"/transactions/{reference}",
    }


def rejected_batch_page(
    batch: Batch, page: PageQuery, bounds: tuple[int, int]
) -> tuple[list[dict], int]:
    """A batch its checker rejected: every item is a rejection, as of the decision."""
    decided = batch.decided_at_ns or batch.created_at_ns
    items = batch.body["items"] if bounds[0] <= decided <= bounds[1] else []
    shown = items[page.offset : page.offset + page.limit]
    reason = batch.reason or "rejected by the checker"
    rejections = [
        _item_fields(item) | {"rejectionReason": reason, "rejectionDate": iso_time(decided)}
        for item in shown
    ]
    return rejections, len(items)


def complete_batch_request_txn(conn: Connection, batch: Batch, now_ns: int) -> None:
    """The batch's request completed with the batch's final representation (its callback)."""
    complete_txn(
        conn,
        batch_request_txn(conn, batch),
        response=batch_object(batch, tally_txn(conn, batch)),
        object_reference=batch.batch_ref,
        now_ns=now_ns,
    )
