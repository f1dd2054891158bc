"""The specification's supporting API: GET /heartbeat (is the service able to take a request now),
GET /requeststates/{serverCorrelationId} (how an accepted request is going: polled, at most pollLimit
times) and GET /responses/{clientCorrelationId} (a lost response recovered: the link to what the
request made, or to its request state while it has made nothing)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from sqlalchemy import Connection, func, select, update
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.api.errors import ApiError, ErrorCategory, not_found
from daemon.api.lifecycle import (
    ApiRequest,
    RequestStatus,
    get_by_client_id_txn,
    get_by_server_id_txn,
    request_state,
)
from daemon.api.models import ErrorObject, Model
from daemon.api.principal import Business
from daemon.api.routing import ROUTER, Call, Reply
from daemon.api.server import public_url
from daemon.clock import NS_PER_S
from daemon.schema import api_requests

log = Logger()
TAG = "Supporting"

# Where the object a completed request made is read, by the request's operation (a route module
# adds its own); anything not listed made a transaction.
RESOURCE_PATHS: dict[str, str] = {"batch": "/batchtransactions/{reference}"}
DEFAULT_RESOURCE_PATH = "/transactions/{reference}"


class ResponseHeartbeat(Model):
    serviceStatus: Literal["available", "unavailable", "degraded"]
    delay: int | None = Field(default=None, ge=0, description="Anticipated delay, milliseconds")


class RequestStateObject(Model):
    serverCorrelationId: str = Field(min_length=1, max_length=256)
    objectReference: str | None = Field(default=None, max_length=256)
    status: Literal["pending", "completed", "failed"]
    notificationMethod: Literal["callback", "polling"]
    pendingReason: str | None = Field(default=None, max_length=256)
    expiryTime: str | None = None
    pollLimit: int | None = Field(default=None, gt=0)
    error: ErrorObject | None = None


class ResponseResponse(Model):
    link: str = Field(min_length=1, max_length=256)


# --- GET /heartbeat


def backlog_txn(conn: Connection) -> int | None:
    """When the oldest accepted request still waiting for the worker was accepted (None: none
    waits). One waiting for a customer or a move (a reason, a move or a request to pay) is not."""
    waiting = select(func.min(api_requests.c.created_at_ns)).where(
        api_requests.c.state == RequestStatus.PENDING.value,
        api_requests.c.pending_reason.is_(None),
        api_requests.c.move_id.is_(None),
        api_requests.c.pay_request_id.is_(None),
    )
    return conn.execute(waiting).scalar()


@ROUTER.op(
    "GET",
    "/heartbeat",
    "heartbeatGET",
    summary="Check API availability",
    tag=TAG,
    responses={200: ResponseHeartbeat},
    description="available, or degraded while accepted requests wait longer than the service "
    "promises (delay: the oldest one's wait, ms); 503 when the database does not answer.",
)
def heartbeat(call: Call) -> Deferred:
    checked = call.env.db.run_interaction("api.heartbeat", backlog_txn)
    return checked.addCallbacks(_status, _unavailable, callbackArgs=(call,))


def _status(oldest_ns: int | None, call: Call) -> Reply:
    delay_ns = max(0, call.env.now_ns() - oldest_ns) if oldest_ns is not None else 0
    degraded = delay_ns > call.env.config.api.heartbeat_degraded_s * NS_PER_S
    status = "degraded" if degraded else "available"
    return Reply(200, ResponseHeartbeat(serviceStatus=status, delay=delay_ns * 1000 // NS_PER_S))


def _unavailable(failure: Failure) -> None:
    log.failure("api: heartbeat: the database does not answer", failure)
    raise ApiError(
        ErrorCategory.SERVICE_UNAVAILABLE, "genericError", "the database does not answer"
    )


# --- GET /requeststates/{serverCorrelationId}


def poll_txn(
    conn: Connection, business_id: int, server_correlation_id: str, poll_limit: int
) -> ApiRequest:
    """The business's own request, its polls counted; ApiError if unknown (or another business's:
    the same answer, so ids cannot be probed) or polled past the limit."""
    found = get_by_server_id_txn(conn, server_correlation_id)
    if found is None or found.business_id != business_id:
        raise not_found("serverCorrelationId", server_correlation_id)
    if found.polls >= poll_limit:
        raise ApiError(
            ErrorCategory.BUSINESS_RULE,
            "rateLimitError",
            f"this request state was polled {poll_limit} times (its pollLimit): use "
            "GET /responses/{clientCorrelationId} or a callback",
            {"pollLimit": str(poll_limit)},
        )
    counted = update(api_requests).where(api_requests.c.id == found.id)
    conn.execute(counted.values(polls=api_requests.c.polls + 1))
    return found


@ROUTER.op(
    "GET",
    "/requeststates/{serverCorrelationId}",
    "requeststatesServerCorrelationIdGET",
    summary="View a request state",
    tag=TAG,
    responses={200: RequestStateObject},
    auth="business",
)
def request_state_get(call: Call) -> Deferred:
    business: Business = call.principal
    limit = call.env.config.api.poll_limit
    server_id = call.params["serverCorrelationId"]
    found = call.env.db.run_interaction("api.poll", poll_txn, business.id, server_id, limit)
    return found.addCallback(lambda request: Reply(200, request_state(request, limit)))


# --- GET /responses/{clientCorrelationId}


def resource_path(request: ApiRequest) -> str:
    """Where the client reads what the request made, or how it is going while it made nothing."""
    if request.state is RequestStatus.COMPLETED and request.object_reference:
        template = RESOURCE_PATHS.get(request.operation, DEFAULT_RESOURCE_PATH)
        return template.format(reference=request.object_reference)
    return f"/requeststates/{request.server_correlation_id}"


@ROUTER.op(
    "GET",
    "/responses/{clientCorrelationId}",
    "responsesClientCorrelationIdGET",
    summary="View a response",
    tag=TAG,
    responses={200: ResponseResponse},
    auth="business",
    description="The response to the request sent with this X-CorrelationID, while it is "
    "remembered ([api] idempotency_days): a link to the resource it made, or to its request state.",
)
def response_get(call: Call) -> Deferred:
    business: Business = call.principal
    client_id = call.params["clientCorrelationId"]
    found = call.env.db.run_interaction(
        "api.response", get_by_client_id_txn, business.id, client_id, call.env.now_ns()
    )
    return found.addCallback(_response, call, client_id)


def _response(request: ApiRequest | None, call: Call, client_id: str) -> Reply:
    if request is None:
        raise not_found("clientCorrelationId", client_id)
    return Reply(200, ResponseResponse(link=public_url(call.env) + resource_path(request)))
