"""The API's access log: one `api_access` row per answer, authenticated or not (who: business, key
id, address; what: method, path, operationId, X-CorrelationID; the outcome: status, errorCode, how
long it took). Rows are buffered in memory and written in one transaction per batch (every
[api] access_log_flush_ms, or at once when access_log_batch_rows are waiting), fire-and-forget on
the database thread: an answer never waits for its log line, a flood costs one INSERT per batch,
and a failed write is logged, never turned into a failed answer. Past access_log_buffer_rows
unwritten rows new ones are dropped and counted (the flusher's `access_dropped` counter). Nothing secret is in a
row: the path without its query, the key's public id, never a header's value but X-CorrelationID.

Housekeeping (a periodic job where the worker runs): rows older than [api] access_log_days are
deleted, and requests past [api] idempotency_days forgotten (daemon.api.lifecycle.forget_txn).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
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
from daemon.components import Adapted, Component, ComponentStatus, periodic_component
from daemon.periodic import Periodic
from daemon.schema import api_access
from daemon.schema_api import CORRELATION_ID_MAX_CHARS

log = Logger()
_PATH_MAX_CHARS = 255
_IP_MAX_CHARS = 64
_SERVICE = __name__  # env.services key of the buffer


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


def write_access_txn(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(api_access), rows)


@dataclass
class AccessBuffer:
    max_rows: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    written: int = 0

    def add(self, row: dict[str, Any]) -> None:
        if len(self.rows) >= self.max_rows:
            self.dropped += 1
        else:
            self.rows.append(row)


def access_buffer(env: ApiEnv) -> AccessBuffer:
    buffer = env.services.get(_SERVICE)
    if buffer is None:
        buffer = env.services[_SERVICE] = AccessBuffer(env.config.api.access_log_buffer_rows)
    return buffer


def flush_access_log(env: ApiEnv) -> None:
    """The buffered rows written in one transaction (fire-and-forget)."""
    buffer = access_buffer(env)
    rows, buffer.rows = buffer.rows, []
    if not rows:
        return
    buffer.written += len(rows)
    written = env.db.run_interaction("api.access", write_access_txn, rows)
    written.addErrback(_not_written, len(rows))


def observe(call: Call, status: int, error: ApiError | None) -> None:
    buffer = access_buffer(call.env)
    buffer.add(access_row(call, status, error))
    if len(buffer.rows) >= call.env.config.api.access_log_batch_rows:
        flush_access_log(call.env)


def _not_written(failure: Failure, count: int) -> None:
    log.failure("api: {count} access log rows were not written", failure, count=count)


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


@api_component("all", "lis")  # where the HTTP server listens (daemon.service API_ROLES)
def access_log_flusher(env: ApiEnv) -> Component:
    loop = LoopingCall(flush_access_log, env)
    loop.clock = env.reactor

    def start() -> None:
        loop.start(env.config.api.access_log_flush_ms / 1000, now=False)

    def stop() -> Deferred:
        if loop.running:
            loop.stop()
        flush_access_log(env)  # what is left, before the database stops
        return succeed(None)

    def status() -> ComponentStatus:
        buffer = access_buffer(env)
        return ComponentStatus({"access_written": buffer.written, "access_dropped": buffer.dropped})

    return Adapted("api.access_log", start, stop, status)
