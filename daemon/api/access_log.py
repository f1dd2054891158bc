"""The API's access log: one `api_access` row per answer, authenticated or not (who: business, key
id, address; what: method, path, operationId, X-CorrelationID; the outcome: status, errorCode, how
long it took). Written fire-and-forget on the database thread, so an answer never waits for its
log line, and a failed write is logged, never turned into a failed answer. Nothing secret is in a
row: the path without its query, the key's public id, never a header's value but X-CorrelationID.

Housekeeping (a periodic job where the worker runs): rows older than [api] access_log_days are
deleted, and requests past [api] idempotency_days forgotten (daemon.api.lifecycle.forget_txn).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.api.auth import KEY_HEADER
from daemon.api.businesses import split_key
from daemon.api.components import api_component
from daemon.api.env import ApiEnv
from daemon.api.errors import ApiError
from daemon.api.lifecycle import NS_PER_DAY, forget_txn
from daemon.api.principal import Business
from daemon.api.routing import ROUTER, Call
from daemon.components import Component, periodic_component
from daemon.periodic import Periodic
from daemon.schema import api_access
from daemon.schema_api import CORRELATION_ID_MAX_CHARS

log = Logger()
_PATH_MAX_CHARS = 255
_IP_MAX_CHARS = 64


def access_row(call: Call, status: int, error: ApiError | None) -> dict[str, Any]:
    principal = call.principal if isinstance(call.principal, Business) else None
    path = call.request.path.decode("latin-1") if call.request.path else ""
    correlation_id = call.header("X-CorrelationID")
    return {
        "business_id": principal.id if principal is not None else None,
        "key_id": _key_id(call, principal),
        "remote_ip": call.remote_ip[:_IP_MAX_CHARS],
        "method": call.operation.method,
        "path": path[:_PATH_MAX_CHARS],
        "operation_id": call.operation.operation_id,
        "client_correlation_id": (correlation_id or "")[:CORRELATION_ID_MAX_CHARS] or None,
        "status": status,
        "error_code": error.code[:64] if error is not None else None,
        "at_ns": call.env.now_ns(),
        "duration_us": max(0, (time.monotonic_ns() - call.started_ns) // 1000),
    }


def _key_id(call: Call, principal: Business | None) -> str | None:
    """The key the request came with: a refused one's public id too (a revoked key still in use
    shows), never anything of a text that is not a well-formed key."""
    if principal is not None:
        return principal.key_id or None
    presented = call.header(KEY_HEADER)
    return split_key(presented.strip()) if presented else None


def write_access_txn(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(api_access).values(row))


def observe(call: Call, status: int, error: ApiError | None) -> None:
    row = access_row(call, status, error)
    written = call.env.db.run_interaction("api.access", write_access_txn, row)
    written.addErrback(_not_written, row)


def _not_written(failure: Failure, row: dict[str, Any]) -> None:
    log.failure(
        "api: the access log row of {method} {path} -> {status} was not written",
        failure,
        method=row["method"],
        path=row["path"],
        status=row["status"],
    )


ROUTER.observers.append(observe)


def prune_access_txn(conn: Connection, before_ns: int, limit: int) -> int:
    """Rows older than `before_ns` deleted, at most `limit` (oldest first); how many."""
    old = select(api_access.c.id).where(api_access.c.at_ns < before_ns)
    ids = [row.id for row in conn.execute(old.order_by(api_access.c.at_ns).limit(limit))]
    if ids:
        conn.execute(delete(api_access).where(api_access.c.id.in_(ids)))
    return len(ids)


def housekeeping_work(env: ApiEnv):
    api = env.config.api
    keep_ns = int(api.access_log_days * NS_PER_DAY)
    limit = api.housekeeping_batch_size

    def work(conn: Connection, now_ns: int) -> tuple[dict[str, int], bool]:
        pruned = prune_access_txn(conn, now_ns - keep_ns, limit)
        forgotten = forget_txn(conn, now_ns, limit)
        full = pruned >= limit or forgotten >= limit
        return {"access_pruned": pruned, "requests_forgotten": forgotten}, full

    return work


@api_component("all", "tranproc")
def housekeeping(env: ApiEnv) -> Component | None:
    if not env.config.api.enabled:
        return None
    job = Periodic(
        env.reactor, env.db, "api.housekeeping", housekeeping_work(env),
        env.config.api.housekeeping_interval_s,
    )  # fmt: skip
    return periodic_component(job)
