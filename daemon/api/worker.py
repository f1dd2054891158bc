"""The API worker: completes accepted requests where the TranProc runs (roles all and tranproc).

Every `[api] worker_interval_s` it takes a batch of pending requests whose operation has an
executor (`register_executor`) and runs each in its own savepoint: the executor posts the money,
queues the SMS and completes the request (lifecycle.complete_txn, which queues the callback) in
that one transaction, or raises ApiError and the request fails with it (nothing posted). A request
is finished exactly once: a second worker meets the guarded UPDATE of complete_txn and its savepoint
is undone; a crash undoes the whole transaction and the request is still pending for the next run.

A request with a pendingReason is waiting for something outside the worker (a customer's approval,
a staff decision, a bulk batch's checker) and is not run as a new one. An executor registered with
`reconcile=True` is also handed its waiting requests, a bounded batch at a time, least recently
looked at first, to finish those whose wait is over (a pay request's move posted later, an expiry).

A business suspended (`smscore admin business suspend`: a compromised key, a fraud case) moves no
more money: each of its requests not yet run fails with authorisation/clientAuthorisationError
("business suspended") when the worker reaches it, and a merchantpay waiting for the customer is
failed so and its request to pay withdrawn (daemon.api.merchantpay). A reversal waiting for staff
stays with staff (a person decides it anyway). Revoking one key does not touch the requests it
made: they were the business's when accepted; suspend the business to stop them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError
from twisted.logger import Logger

from daemon.api import lifecycle
from daemon.api.businesses import BusinessRecord, get_business_by_id_txn
from daemon.api.components import api_component
from daemon.api.env import ApiEnv
from daemon.api.errors import ApiError, ErrorCategory
from daemon.api.lifecycle import ApiRequest, RequestStatus
from daemon.api.principal import BusinessState
from daemon.components import Component, periodic_component
from daemon.config import Config
from daemon.db import is_transient
from daemon.money.common import MoneyEnv, money_env
from daemon.money.notices import Notifier
from daemon.periodic import Periodic
from daemon.schema import api_requests

log = Logger()


# A request whose executor meets the same database error (not a transient one: a constraint, a
# value too long) this many runs in a row is failed with internal/genericError: one bad request
# never stalls the others. A transient error (a lock, a deadlock, a lost connection) retries the
# whole run instead. The count is this process's (a restart gives each request its tries again).
MAX_ATTEMPTS = 3
_ATTEMPTS: dict[str, int] = {}
_ATTEMPTS_KEPT = 10_000  # bound of the counts kept (requests finished elsewhere leave theirs)
BUSINESS_LABEL_CHARS = 20  # of a business's name in an SMS: every reply must still fit


@dataclass(frozen=True)
class Work:
    """One request being run, and what running it needs."""

    conn: Connection
    config: Config
    request: ApiRequest
    business: BusinessRecord
    now_ns: int

    @property
    def business_label(self) -> str:
        """How an SMS names the business: `ACME LTD`."""
        return self.business.name.upper()[:BUSINESS_LABEL_CHARS].strip() or self.business.code

    @property
    def money(self) -> MoneyEnv:
        return money_env(self.config)

    def notifier(self) -> Notifier:
        """SMS to the parties, from the service's own number (no MO to answer)."""
        return Notifier(self.conn, self.config, sms_source(self.config), self.now_ns)


def sms_source(config: Config) -> str:
    """Where the API's SMS come from: [sender] source_addr, else the first short code a bind
    serves ("" if neither: set source_addr where the API is enabled)."""
    if config.sender.source_addr:
        return config.sender.source_addr
    return next((bind.serves[0] for bind in config.binds if bind.serves), "")


Executor = Callable[[Work], None]
EXECUTORS: dict[str, Executor] = {}
RECONCILED: set[str] = set()


def register_executor(operation: str, *, reconcile: bool = False) -> Callable[[Executor], Executor]:
    def register(executor: Executor) -> Executor:
        if operation in EXECUTORS:
            raise ValueError(f"an executor for {operation!r} is already registered")
        EXECUTORS[operation] = executor
        if reconcile:
            RECONCILED.add(operation)
        return executor

    return register


def _locked(conn: Connection, query):
    # Two workers (two TranProc processes) never take the same request at once.
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def ready_txn(conn: Connection, operations: tuple[str, ...], limit: int) -> list[ApiRequest]:
    """Pending requests not waiting for anything, oldest first."""
    query = (
        select(api_requests.c.server_correlation_id)
        .where(
            api_requests.c.state == RequestStatus.PENDING.value,
            api_requests.c.operation.in_(operations),
            api_requests.c.pending_reason.is_(None),
        )
        .order_by(api_requests.c.created_at_ns, api_requests.c.id)
        .limit(limit)
    )
    return _read(conn, _locked(conn, query))


def waiting_txn(conn: Connection, operations: tuple[str, ...], limit: int) -> list[ApiRequest]:
    """Pending requests waiting for something, the least recently looked at first."""
    query = (
        select(api_requests.c.server_correlation_id)
        .where(
            api_requests.c.state == RequestStatus.PENDING.value,
            api_requests.c.operation.in_(operations),
            api_requests.c.pending_reason.is_not(None),
        )
        .order_by(api_requests.c.updated_at_ns, api_requests.c.id)
        .limit(limit)
    )
    return _read(conn, _locked(conn, query))


def _read(conn: Connection, query) -> list[ApiRequest]:
    found = [lifecycle.get_by_server_id_txn(conn, sid) for sid in conn.execute(query).scalars()]
    return [request for request in found if request is not None]


def suspended() -> ApiError:
    return ApiError(ErrorCategory.AUTHORISATION, "clientAuthorisationError", "business suspended")


def run_one_txn(conn: Connection, config: Config, request: ApiRequest, now_ns: int) -> str:
    """Run one request in its own savepoint: "done", "failed", or "waiting" (still pending)."""
    executor = EXECUTORS[request.operation]
    try:
        with conn.begin_nested():
            business = get_business_by_id_txn(conn, request.business_id)
            assert business is not None  # a business is never deleted
            if business.state is not BusinessState.ACTIVE and request.pending_reason is None:
                raise suspended()
            work = Work(conn, config, request, business, now_ns)
            executor(work)
    except ApiError as error:
        return _fail_txn(conn, request, error, now_ns)
    except DBAPIError as exc:
        if is_transient(exc):
            raise  # the database's trouble: the whole run is retried, nothing half done
        return _database_error_txn(conn, request, now_ns)
    except Exception:
        log.failure("api worker: request {sid} failed", sid=request.server_correlation_id)
        error = ApiError(ErrorCategory.INTERNAL, "genericError", "internal error")
        return _fail_txn(conn, request, error, now_ns)
    _ATTEMPTS.pop(request.server_correlation_id, None)
    found = lifecycle.get_by_server_id_txn(conn, request.server_correlation_id)
    assert found is not None
    return "waiting" if found.state is RequestStatus.PENDING else "done"


def _database_error_txn(conn: Connection, request: ApiRequest, now_ns: int) -> str:
    """Its savepoint undone: tried again next run, failed once it failed MAX_ATTEMPTS times."""
    sid = request.server_correlation_id
    if len(_ATTEMPTS) >= _ATTEMPTS_KEPT:
        _ATTEMPTS.clear()
    attempts = _ATTEMPTS[sid] = _ATTEMPTS.get(sid, 0) + 1
    log.failure("api worker: request {sid} met a database error ({n} of {max})", sid=sid,
                n=attempts, max=MAX_ATTEMPTS)  # fmt: skip
    if attempts < MAX_ATTEMPTS:
        return "waiting"
    _ATTEMPTS.pop(sid, None)
    error = ApiError(ErrorCategory.INTERNAL, "genericError", "internal error")
    return _fail_txn(conn, request, error, now_ns)


def _fail_txn(conn: Connection, request: ApiRequest, error: ApiError, now_ns: int) -> str:
    with conn.begin_nested():
        current = lifecycle.get_by_server_id_txn(conn, request.server_correlation_id)
        if current is None or current.state is not RequestStatus.PENDING:
            return "done"  # finished by someone else meanwhile: never twice
        lifecycle.fail_txn(conn, current, error, now_ns)
    return "failed"


def run_batch_txn(
    conn: Connection, config: Config, now_ns: int, limit: int
) -> tuple[dict[str, int], bool]:
    """One run of the worker: (counts, full)."""
    counts = {"done": 0, "failed": 0, "waiting": 0}
    ready = ready_txn(conn, tuple(EXECUTORS), limit)
    for request in ready:
        counts[run_one_txn(conn, config, request, now_ns)] += 1
    for request in waiting_txn(conn, tuple(sorted(RECONCILED)), limit):
        outcome = run_one_txn(conn, config, request, now_ns)
        if outcome == "waiting":  # looked at: to the back of the queue
            current = lifecycle.get_by_server_id_txn(conn, request.server_correlation_id)
            assert current is not None
            lifecycle.set_pending_txn(conn, current, now_ns, reason=current.pending_reason)
        else:
            counts[outcome] += 1
    counts["waiting"] = 0  # not worth logging every run
    return counts, len(ready) >= limit


@api_component("all", "tranproc")
def api_worker(env: ApiEnv) -> Component | None:
    config = env.config
    if not config.api.enabled:
        return None
    batch = config.api.worker_batch_size

    def work(conn: Connection, now_ns: int) -> tuple[dict[str, int], bool]:
        return run_batch_txn(conn, config, now_ns, batch)

    job = Periodic(env.reactor, env.db, "api.worker", work, config.api.worker_interval_s)
    return periodic_component(job)
