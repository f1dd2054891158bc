"""Bulk disbursement (payroll, B2C) with a maker/checker step, as the GSMA Mobile Money API 1.2
names it: POST /batchtransactions (a maker key; 202 with the batch's request state, objectReference
the batchId), PATCH /batchtransactions/{batchId} (a checker key, never the maker's: replace
/batchStatus with approved, or rejected), GET /batchtransactions/{batchId}, and its /rejections and
/completions (pages by limit and offset, X-Records-Available-Count and X-Records-Returned-Count).

The rules are daemon.api.batch_rules', the rows daemon.api.batch_store's, the items' running
daemon.api.batch_worker's; the batch's request completes (and its callback goes to the POST's
X-Callback-URL) when every item is paid or failed, or when the checker rejects it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection
from twisted.internet.defer import Deferred

import daemon.api.batch_worker  # noqa: F401  (registers the batches' step)
from daemon.api.batch_models import (
    PageQuery,
    RequestBatchTransaction,
    RequestGenericPatchArray,
    ResponseBatchTransaction,
    ResponseBatchTransactionCompletionList,
    ResponseBatchTransactionRejectionList,
)
from daemon.api.batch_rules import decision, new_batch, require_maker
from daemon.api.batch_store import (
    BatchState,
    create_batch_txn,
    decide_txn,
    get_batch_txn,
    items_page_txn,
    tally_txn,
)
from daemon.api.batch_view import (
    batch_object,
    complete_batch_request_txn,
    completion_of,
    rejected_batch_page,
    rejection_of,
)
from daemon.api.callback_urls import HEADER as CALLBACK_HEADER
from daemon.api.callback_urls import check_callback_url
from daemon.api.errors import validation_error
from daemon.api.lifecycle import RequestStatus, request_state
from daemon.api.routing import ROUTER, Call, Header, Reply
from daemon.api.supporting import RequestStateObject
from daemon.clock import NS_PER_S
from daemon.schema_api import CORRELATION_ID_MAX_CHARS

TAG = "Transactions"
CORRELATION = Header(
    "X-CorrelationID",
    "Names this request: sent again with the same body it returns the same request; with "
    "another body it is a duplicateRequest error",
)
CALLBACK = Header(
    CALLBACK_HEADER, "Where the batch's final representation is PUT once it completes"
)
FOREVER = (0, 2**63 - 1)


def _correlation_id(call: Call) -> str | None:
    value = call.header("X-CorrelationID")
    if value is not None and not 1 <= len(value) <= CORRELATION_ID_MAX_CHARS:
        raise validation_error("lengthError", "X-CorrelationID", "X-CorrelationID: 1 to 256 chars")
    return value


def _callback_url(call: Call) -> str | None:
    url = call.header(CALLBACK_HEADER)
    return None if url is None else check_callback_url(url, call.env.config)


@ROUTER.op(
    "POST",
    "/batchtransactions",
    "batchtransactionsPOST",
    summary="Create A Transaction Batch",
    description="A maker key creates the batch (batchStatus created); a checker key approves it.",
    tag=TAG,
    body=RequestBatchTransaction,
    responses={202: RequestStateObject},
    auth="business",
    headers=(CORRELATION, CALLBACK),
)
def create_batch(call: Call) -> Deferred:
    business = call.principal
    require_maker(business)
    batch = new_batch(call.body, business, call.env.config)
    api = call.env.config.api
    correlation_id, callback_url = _correlation_id(call), _callback_url(call)
    request_body = call.body.model_dump(mode="json", exclude_none=True)
    now_ns = call.env.now_ns()

    def create(conn: Connection) -> dict:
        request = create_batch_txn(
            conn, business=business, batch=batch, request_body=request_body,
            client_correlation_id=correlation_id, callback_url=callback_url, now_ns=now_ns,
            retention_days=api.idempotency_days,
        )  # fmt: skip
        return request_state(request, api.poll_limit)

    done = call.env.db.run_interaction("api batch create", create)
    return done.addCallback(lambda state: Reply(202, state))


@ROUTER.op(
    "GET",
    "/batchtransactions/{batchId}",
    "batchtransactionsBatchIdGET",
    summary="View A Transaction Batch",
    tag=TAG,
    responses={200: ResponseBatchTransaction},
    auth="business",
)
def view_batch(call: Call) -> Deferred:
    business, batch_ref = call.principal, call.params["batchId"]

    def read(conn: Connection) -> dict:
        batch = get_batch_txn(conn, business.id, batch_ref)
        return batch_object(batch, tally_txn(conn, batch))

    done = call.env.db.run_interaction("api batch read", read)
    return done.addCallback(lambda body: Reply(200, body))


@ROUTER.op(
    "PATCH",
    "/batchtransactions/{batchId}",
    "batchtransactionsBatchIdPATCH",
    summary="Update A Transaction Batch",
    description="A checker key (never the key that created the batch) replaces /batchStatus "
    "with approved (its transactions are paid) or rejected (none is).",
    tag=TAG,
    body=RequestGenericPatchArray,
    responses={204: None},
    auth="business",
    headers=(CORRELATION,),
)
def update_batch(call: Call) -> Deferred:
    business, batch_ref = call.principal, call.params["batchId"]
    wanted = decision(call.body)
    _correlation_id(call)
    now_ns = call.env.now_ns()

    def decide(conn: Connection) -> None:
        batch, rejected_now = decide_txn(conn, business, batch_ref, wanted, now_ns)
        if rejected_now:
            complete_batch_request_txn(conn, batch, now_ns)

    done = call.env.db.run_interaction("api batch decide", decide)
    return done.addCallback(lambda _: Reply(204))


def _bounds(page: PageQuery) -> tuple[int, int]:
    if page.offset < 0:
        raise validation_error("invalidOffset", "offset", "offset: 0 or more")
    low, high = FOREVER
    for name, value in (("fromDateTime", page.fromDateTime), ("toDateTime", page.toDateTime)):
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise validation_error("formatError", name, f"{name}: an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            raise validation_error("formatError", name, f"{name}: with its time zone (Z)")
        at_ns = int(moment.timestamp() * NS_PER_S)
        low, high = (at_ns, high) if name == "fromDateTime" else (low, at_ns)
    return low, high


def _page_reply(shown: list[dict], available: int) -> Reply:
    headers = {
        "X-Records-Available-Count": str(available),
        "X-Records-Returned-Count": str(len(shown)),
    }
    return Reply(200, shown, headers)


@ROUTER.op(
    "GET",
    "/batchtransactions/{batchId}/rejections",
    "batchtransactionsBatchIdRejectionsGET",
    summary="View Batch Rejections",
    tag=TAG,
    query=PageQuery,
    responses={200: ResponseBatchTransactionRejectionList},
    auth="business",
)
def batch_rejections(call: Call) -> Deferred:
    business, batch_ref = call.principal, call.params["batchId"]
    page, bounds = call.query, _bounds(call.query)

    def read(conn: Connection) -> Reply:
        batch = get_batch_txn(conn, business.id, batch_ref)
        if batch.state is BatchState.REJECTED:
            return _page_reply(*rejected_batch_page(batch, page, bounds))
        failed, available = items_page_txn(conn, batch, RequestStatus.FAILED, page, bounds)
        return _page_reply([rejection_of(item) for item in failed], available)

    return call.env.db.run_interaction("api batch rejections", read)


@ROUTER.op(
    "GET",
    "/batchtransactions/{batchId}/completions",
    "batchtransactionsBatchIdCompletionsGET",
    summary="View Batch Completions",
    tag=TAG,
    query=PageQuery,
    responses={200: ResponseBatchTransactionCompletionList},
    auth="business",
)
def batch_completions(call: Call) -> Deferred:
    business, batch_ref = call.principal, call.params["batchId"]
    page, bounds = call.query, _bounds(call.query)

    def read(conn: Connection) -> Reply:
        batch = get_batch_txn(conn, business.id, batch_ref)
        paid, available = items_page_txn(conn, batch, RequestStatus.COMPLETED, page, bounds)
        return _page_reply([completion_of(item) for item in paid], available)

    return call.env.db.run_interaction("api batch completions", read)
