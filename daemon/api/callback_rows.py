"""The callbacks' rows (`api_callbacks`, queued by daemon.api.callback_queue): claiming the due ones,
recording each attempt's outcome with the next try's time, and what staff see and retry.

A claim is its own transaction, committed before the PUT goes out: the row becomes `sending` with
one more attempt and a lease (`next_at_ns`) past the PUT's timeout. A process that dies while
sending leaves the row `sending`; once the lease runs out another claim takes it again (or fails
it, when that was its last attempt). An outcome is recorded only by the claim that holds the row
(same attempt number, still `sending`), so a late answer never overwrites a newer attempt's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from daemon.api.callback_queue import CallbackState
from daemon.audit import record_txn
from daemon.clock import NS_PER_S
from daemon.config_api import ApiConfig
from daemon.schema import api_callbacks, businesses

_ERROR_MAX_CHARS = 256  # api_callbacks.last_error
JITTER = 0.2  # a retry comes up to this fraction earlier than its backoff says (never later)
LOST_SENDER = "no outcome recorded: the process sending it stopped"


class CallbackError(ValueError):
    """A staff request about a callback that cannot be done (one line)."""


@dataclass(frozen=True, slots=True)
class Callback:
    id: int
    business_id: int
    business_code: str
    secret_version: int
    request_id: int | None
    url: str
    client_correlation_id: str | None
    body: str
    state: CallbackState
    attempts: int
    next_at_ns: int
    last_status: int | None
    last_error: str | None
    created_at_ns: int
    delivered_at_ns: int | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one PUT came to: the receiver's HTTP status (None: no answer) and, if it was not a
    2xx, why; `permanent`: never worth another try (the URL is refused)."""

    status: int | None
    error: str = ""
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class ClaimRound:
    claims: list[Callback]
    full: bool  # as many due rows as asked for: more may be waiting


def _query() -> Any:
    joined = api_callbacks.join(businesses, businesses.c.id == api_callbacks.c.business_id)
    return select(
        api_callbacks,
        businesses.c.code.label("business_code"),
        businesses.c.secret_version,
    ).select_from(joined)


def _callback(row: Any) -> Callback:
    values = dict(row._mapping)
    values["state"] = CallbackState(values["state"])
    return Callback(**values)


def retry_delay_s(attempts: int, config: ApiConfig, jitter: float) -> float:
    """When the next try goes, after `attempts` tries: callback_first_retry_s *
    callback_backoff ** (attempts - 1), at most callback_max_interval_s, less up to JITTER of it
    (`jitter` in [0, 1)) so that callbacks failed together do not all come back together."""
    exponent = min(max(attempts - 1, 0), 200)  # beyond the cap long before; no float overflow
    delay_s = config.callback_first_retry_s * config.callback_backoff**exponent
    return min(delay_s, config.callback_max_interval_s) * (1 - JITTER * jitter)


# --- the deliverer's side


def claim_due_txn(
    conn: Connection, now_ns: int, limit: int, lease_ns: int, max_attempts: int
) -> ClaimRound:
    """Up to `limit` due callbacks (pending ones past next_at_ns, and `sending` ones whose sender's
    lease ran out), each made `sending` with one more attempt; a lapsed one that had no attempt
    left is failed instead."""
    due = and_(
        api_callbacks.c.state.in_((CallbackState.PENDING.value, CallbackState.SENDING.value)),
        api_callbacks.c.next_at_ns <= now_ns,
    )
    query = _query().where(due).order_by(api_callbacks.c.next_at_ns, api_callbacks.c.id)
    query = query.limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=api_callbacks, skip_locked=True)
    rows = [_callback(row) for row in conn.execute(query)]
    claims = []
    for found in rows:
        lapsed = found.state is CallbackState.SENDING
        if lapsed and found.attempts >= max_attempts:
            _set_txn(conn, found, state=CallbackState.FAILED.value, last_error=LOST_SENDER)
            continue
        attempts = found.attempts + 1
        values = {"state": CallbackState.SENDING.value, "attempts": attempts,
                  "next_at_ns": now_ns + lease_ns}  # fmt: skip
        _set_txn(conn, found, **values)
        claims.append(_replace(found, **values))
    return ClaimRound(claims, full=len(rows) >= limit)


def _replace(found: Callback, **values: Any) -> Callback:
    if "state" in values:
        values["state"] = CallbackState(values["state"])
    return dataclasses.replace(found, **values)


def _set_txn(conn: Connection, found: Callback, **values: Any) -> bool:
    """Change a row only if it is still as `found` was read (state and attempt): True if it was."""
    changed = conn.execute(
        update(api_callbacks)
        .where(
            api_callbacks.c.id == found.id,
            api_callbacks.c.state == found.state.value,
            api_callbacks.c.attempts == found.attempts,
        )
        .values(**values)
    )
    return changed.rowcount == 1


def record_attempt_txn(
    conn: Connection,
    claim: Callback,
    attempt: Attempt,
    now_ns: int,
    config: ApiConfig,
    jitter: float,
) -> str:
    """The outcome of the claim's PUT; the step it led to: delivered, retry, failed, or stale
    (the row was taken again or changed by staff since: nothing recorded)."""
    error = attempt.error[:_ERROR_MAX_CHARS] or None
    if attempt.delivered:
        step, values = "delivered", {"state": CallbackState.DELIVERED.value,
                                     "delivered_at_ns": now_ns, "last_error": None}  # fmt: skip
    elif attempt.permanent or claim.attempts >= config.callback_max_attempts:
        step, values = "failed", {"state": CallbackState.FAILED.value, "last_error": error}
    else:
        delay_ns = int(retry_delay_s(claim.attempts, config, jitter) * NS_PER_S)
        step, values = "retry", {"state": CallbackState.PENDING.value,
                                 "next_at_ns": now_ns + delay_ns, "last_error": error}  # fmt: skip
    if attempt.status is not None:
        values["last_status"] = attempt.status
    return step if _set_txn(conn, claim, **values) else "stale"


# --- what staff see and do


def list_txn(
    conn: Connection,
    state: CallbackState | None = None,
    business_code: str | None = None,
    limit: int = 50,
) -> list[Callback]:
    """The latest callbacks (of one state, one business), newest first."""
    query = _query().order_by(api_callbacks.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(api_callbacks.c.state == state.value)
    if business_code is not None:
        query = query.where(businesses.c.code == business_code)
    return [_callback(row) for row in conn.execute(query)]


def get_txn(conn: Connection, callback_id: int) -> Callback:
    row = conn.execute(_query().where(api_callbacks.c.id == callback_id)).first()
    if row is None:
        raise CallbackError(f"callback {callback_id}: no such callback")
    return _callback(row)


def retry_txn(conn: Connection, callback_id: int, actor: str, now_ns: int) -> Callback:
    """A failed (or still pending) callback due again now with a fresh count of tries, audited."""
    found = get_txn(conn, callback_id)
    if found.state not in (CallbackState.FAILED, CallbackState.PENDING):
        raise CallbackError(f"callback {callback_id}: {found.state.value}, nothing to retry")
    return _retry_txn(conn, found, actor, now_ns)


def retry_failed_txn(
    conn: Connection, actor: str, now_ns: int, business_code: str | None = None
) -> list[Callback]:
    """Every failed callback (of one business) due again now, each audited."""
    failed = _query().where(api_callbacks.c.state == CallbackState.FAILED.value)
    if business_code is not None:
        failed = failed.where(businesses.c.code == business_code)
    found = [_callback(row) for row in conn.execute(failed.order_by(api_callbacks.c.id))]
    return [_retry_txn(conn, callback, actor, now_ns) for callback in found]


def _retry_txn(conn: Connection, found: Callback, actor: str, now_ns: int) -> Callback:
    values = {"state": CallbackState.PENDING.value, "attempts": 0, "next_at_ns": now_ns}
    if not _set_txn(conn, found, **values):
        raise CallbackError(f"callback {found.id}: changed meanwhile, try again")
    was = f"HTTP {found.last_status}" if found.last_status is not None else "no answer"
    detail = (
        f"{found.business_code} {found.state.value} after {found.attempts} attempts ({was}): "
        "pending again"
    )
    record_txn(conn, actor, "callback.retry", f"callback {found.id}", detail, now_ns)
    return _replace(found, **values)


def counts_txn(conn: Connection) -> dict[str, int]:
    """How many callbacks are in each state (the CLI's summary line)."""
    query = select(api_callbacks.c.state, func.count()).group_by(api_callbacks.c.state)
    return {state: count for state, count in conn.execute(query)}
