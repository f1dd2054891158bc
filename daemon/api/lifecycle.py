"""An asynchronous request's life (`api_requests`), as the GSMA Mobile Money API has it: accepted
(202 with a request state, `pending`), then `completed` with its object or `failed` with an
errorObject; the client learns which by polling GET /requeststates/{serverCorrelationId} or by the
callback to its X-Callback-URL, and can recover the final representation with
GET /responses/{clientCorrelationId}.

Idempotency: a client's X-CorrelationID names its request. Sent again with the same operation and
body (compared by the SHA-256 of the canonical JSON), it gets the original request back (`replay`);
with anything else it is a duplicateRequest error. An id is remembered `[api] idempotency_days`; two
processes accepting the same id at once meet the unique constraint, and the loser reads the winner's.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from daemon.api.callback_queue import queue_callback_txn
from daemon.api.errors import ApiError, ErrorCategory, iso_time
from daemon.schema import api_callbacks, api_requests

NS_PER_DAY = 86_400 * 10**9


class RequestStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ApiRequest:
    id: int
    business_id: int
    client_correlation_id: str | None
    server_correlation_id: str
    operation: str
    method: str
    path: str
    body: dict
    callback_url: str | None
    state: RequestStatus
    pending_reason: str | None
    object_reference: str | None
    response: dict | None
    error: dict | None
    move_id: int | None
    pay_request_id: int | None
    batch_id: int | None
    polls: int
    created_at_ns: int
    updated_at_ns: int
    expires_at_ns: int | None


@dataclass(frozen=True, slots=True)
class Accepted:
    request: ApiRequest
    replay: bool  # the same X-CorrelationID and body as an earlier request: that one, unchanged


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def body_digest(operation: str, path: str, body: dict) -> bytes:
    return hashlib.sha256(canonical_json([operation, path, body])).digest()


def _request(row: Any) -> ApiRequest:
    values = dict(row._mapping)
    values.pop("body_digest")
    values.pop("forget_at_ns")
    values["state"] = RequestStatus(values["state"])
    values["body"] = json.loads(values["body"])
    for name in ("response", "error"):
        values[name] = json.loads(values[name]) if values[name] is not None else None
    return ApiRequest(**values)


def accept_txn(
    conn: Connection,
    *,
    business_id: int,
    client_correlation_id: str | None,
    operation: str,
    method: str,
    path: str,
    body: dict,
    callback_url: str | None,
    now_ns: int,
    retention_days: float,
    expires_at_ns: int | None = None,
    object_reference: str | None = None,
    batch_id: int | None = None,
) -> Accepted:
    """Record a request (pending), or find the one this X-CorrelationID already named."""
    digest = body_digest(operation, path, body)
    if client_correlation_id is not None:
        earlier = _remembered_txn(conn, business_id, client_correlation_id, now_ns)
        if earlier is not None:
            return _replay(earlier, digest)
    values = {
        "business_id": business_id,
        "client_correlation_id": client_correlation_id,
        "server_correlation_id": str(uuid.uuid4()),
        "operation": operation,
        "method": method,
        "path": path,
        "body_digest": digest,
        "body": canonical_json(body).decode(),
        "callback_url": callback_url,
        "state": RequestStatus.PENDING.value,
        "object_reference": object_reference,
        "batch_id": batch_id,
        "polls": 0,
        "created_at_ns": now_ns,
        "updated_at_ns": now_ns,
        "expires_at_ns": expires_at_ns,
        "forget_at_ns": now_ns + int(retention_days * NS_PER_DAY),
    }
    try:
        with conn.begin_nested():
            conn.execute(insert(api_requests).values(values))
    except IntegrityError:  # another process took this X-CorrelationID a moment ago
        earlier = _remembered_txn(conn, business_id, client_correlation_id or "", now_ns)
        if earlier is None:
            raise
        return _replay(earlier, digest)
    found = get_by_server_id_txn(conn, values["server_correlation_id"])
    assert found is not None
    return Accepted(found, replay=False)


def _replay(earlier: tuple[ApiRequest, bytes], digest: bytes) -> Accepted:
    request, earlier_digest = earlier
    if earlier_digest != digest:
        raise ApiError(
            ErrorCategory.BUSINESS_RULE,
            "duplicateRequest",
            "this X-CorrelationID was used for another request",
            {"X-CorrelationID": request.client_correlation_id or ""},
        )
    return Accepted(request, replay=True)


def _remembered_txn(
    conn: Connection, business_id: int, client_correlation_id: str, now_ns: int
) -> tuple[ApiRequest, bytes] | None:
    """The request this id names, if still remembered; one past its retention is forgotten now."""
    named = and_(
        api_requests.c.business_id == business_id,
        api_requests.c.client_correlation_id == client_correlation_id,
    )
    row = conn.execute(select(api_requests).where(named)).first()
    if row is None:
        return None
    if row.forget_at_ns <= now_ns:
        conn.execute(update(api_requests).where(named).values(client_correlation_id=None))
        return None
    return _request(row), bytes(row.body_digest)


def _finish_txn(conn: Connection, request: ApiRequest, now_ns: int, **values: Any) -> ApiRequest:
    changed = conn.execute(
        update(api_requests)
        .where(
            api_requests.c.id == request.id,
            api_requests.c.state == RequestStatus.PENDING.value,
        )
        .values(updated_at_ns=now_ns, **values)
    )
    if changed.rowcount != 1:  # finished by someone else since it was read: never twice
        raise ApiError(ErrorCategory.BUSINESS_RULE, "incorrectState", "request already finished")
    found = get_by_server_id_txn(conn, request.server_correlation_id)
    assert found is not None
    return found


def complete_txn(
    conn: Connection,
    request: ApiRequest,
    *,
    response: dict,
    object_reference: str | None,
    now_ns: int,
    move_id: int | None = None,
) -> ApiRequest:
    """Completed with its final representation, in the caller's transaction (the posting's); the
    callback, if the client asked for one, is queued in the same transaction."""
    done = _finish_txn(
        conn,
        request,
        now_ns,
        state=RequestStatus.COMPLETED.value,
        response=canonical_json(response).decode(),
        object_reference=object_reference,
        move_id=move_id if move_id is not None else request.move_id,
    )
    _queue_callback_txn(conn, done, response, now_ns)
    return done


def fail_txn(conn: Connection, request: ApiRequest, error: ApiError, now_ns: int) -> ApiRequest:
    """Failed with an errorObject (nothing posted); the callback carries the error."""
    body = error.body(now_ns)
    done = _finish_txn(
        conn, request, now_ns, state=RequestStatus.FAILED.value, error=canonical_json(body).decode()
    )
    _queue_callback_txn(conn, done, body, now_ns)
    return done


def set_pending_txn(
    conn: Connection,
    request: ApiRequest,
    now_ns: int,
    *,
    reason: str | None = None,
    move_id: int | None = None,
    pay_request_id: int | None = None,
    object_reference: str | None = None,
) -> None:
    """A pending request's progress (waiting for the customer's approval, its move opened...)."""
    values: dict[str, Any] = {"updated_at_ns": now_ns, "pending_reason": reason}
    for name, value in (("move_id", move_id), ("pay_request_id", pay_request_id),
                        ("object_reference", object_reference)):  # fmt: skip
        if value is not None:
            values[name] = value
    conn.execute(update(api_requests).where(api_requests.c.id == request.id).values(values))


def _queue_callback_txn(conn: Connection, request: ApiRequest, body: dict, now_ns: int) -> None:
    if request.callback_url:
        queue_callback_txn(
            conn,
            business_id=request.business_id,
            request_id=request.id,
            url=request.callback_url,
            client_correlation_id=request.client_correlation_id,
            body=canonical_json(body),
            now_ns=now_ns,
        )


def request_state(request: ApiRequest, poll_limit: int) -> dict:
    """The requestStateObject of a request."""
    state: dict[str, Any] = {
        "serverCorrelationId": request.server_correlation_id,
        "status": request.state.value,
        "notificationMethod": "callback" if request.callback_url else "polling",
        "pollLimit": poll_limit,
    }
    if request.object_reference:
        state["objectReference"] = request.object_reference
    if request.pending_reason and request.state is RequestStatus.PENDING:
        state["pendingReason"] = request.pending_reason
    if request.expires_at_ns is not None and request.state is RequestStatus.PENDING:
        state["expiryTime"] = iso_time(request.expires_at_ns)
    if request.error is not None:
        state["error"] = request.error
    return state


# --- reading


def get_by_server_id_txn(conn: Connection, server_correlation_id: str) -> ApiRequest | None:
    query = select(api_requests).where(
        api_requests.c.server_correlation_id == server_correlation_id
    )
    row = conn.execute(query).first()
    return _request(row) if row is not None else None


def get_by_client_id_txn(
    conn: Connection, business_id: int, client_correlation_id: str, now_ns: int | None = None
) -> ApiRequest | None:
    """The request this business named so; with `now_ns`, None once past its retention (forgotten,
    though forget_txn may not have deleted it yet)."""
    query = select(api_requests).where(
        api_requests.c.business_id == business_id,
        api_requests.c.client_correlation_id == client_correlation_id,
    )
    if now_ns is not None:
        query = query.where(api_requests.c.forget_at_ns > now_ns)
    row = conn.execute(query).first()
    return _request(row) if row is not None else None


def by_column_txn(conn: Connection, column: str, value: int) -> ApiRequest | None:
    """The request linked to a move (`move_id`) or a request to pay (`pay_request_id`)."""
    row = conn.execute(select(api_requests).where(api_requests.c[column] == value)).first()
    return _request(row) if row is not None else None


def forget_txn(conn: Connection, now_ns: int, limit: int) -> int:
    """Finished requests past their retention deleted (bounded per call); their callbacks stay."""
    old = (
        select(api_requests.c.id)
        .where(
            api_requests.c.forget_at_ns <= now_ns,
            api_requests.c.state != RequestStatus.PENDING.value,
        )
        .limit(limit)
    )
    ids = [row.id for row in conn.execute(old)]
    if ids:
        kept = update(api_callbacks).where(api_callbacks.c.request_id.in_(ids))
        conn.execute(kept.values(request_id=None))
        conn.execute(delete(api_requests).where(api_requests.c.id.in_(ids)))
    return len(ids)
