"""Queueing a callback: one row in `api_callbacks`, written in the caller's transaction (the one
that completes the request, so a completed request always has its callback and a rolled-back one
never does). Delivery, signing and retries are daemon.api.callbacks'."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, insert

from daemon.schema import api_callbacks


class CallbackState(StrEnum):
    PENDING = "pending"  # due at next_at_ns
    SENDING = "sending"  # a PUT under way
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # out of attempts (visible in `smscore admin callbacks`, can be retried)


def queue_callback_txn(
    conn: Connection,
    *,
    business_id: int,
    request_id: int | None,
    url: str,
    client_correlation_id: str | None,
    body: bytes,
    now_ns: int,
) -> int:
    """The callback's row id; it is due at once."""
    query = (
        insert(api_callbacks)
        .values(
            business_id=business_id,
            request_id=request_id,
            url=url,
            client_correlation_id=client_correlation_id,
            body=body.decode("utf-8"),
            state=CallbackState.PENDING.value,
            attempts=0,
            next_at_ns=now_ns,
            created_at_ns=now_ns,
        )
        .returning(api_callbacks.c.id)
    )
    return conn.execute(query).scalar_one()
