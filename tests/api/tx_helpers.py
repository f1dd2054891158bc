"""Helpers of the transactions tests: posting a transaction, running the API worker as the
TranProc role would, reading a request's state and what was queued for it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from daemon.api import lifecycle
from daemon.api.lifecycle import ApiRequest
from daemon.api.worker import run_batch_txn
from daemon.chart import WALLET_ID_BASE
from daemon.schema import api_callbacks, api_requests, tills
from tests.api.world import Answer, ApiWorld

ALICE = "254711000001"
BOB = "254711000002"
CALLBACK = "http://127.0.0.1:9/hook"


def wallet(msisdn: str) -> list[dict[str, str]]:
    return [{"key": "msisdn", "value": f"+{msisdn}"}]


def wallet_id(msisdn: str) -> list[dict[str, str]]:
    return [{"key": "walletid", "value": str(WALLET_ID_BASE + int(msisdn))}]


def post(
    world: ApiWorld,
    key: str,
    kind: str,
    body: dict[str, Any],
    correlation_id: str | None = None,
    callback: str | None = None,
) -> Answer:
    headers = {"X-API-Key": key}
    if correlation_id is not None:
        headers["X-CorrelationID"] = correlation_id
    if callback is not None:
        headers["X-Callback-URL"] = callback
    return world.http("POST", f"/transactions/type/{kind}", body, headers)


def pay(amount: str = "100.00", to: str = ALICE, **more: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": "KES", "creditParty": wallet(to), **more}


def work(world: ApiWorld, limit: int = 100) -> dict[str, int]:
    """One run of the API worker; its counts."""
    with world.engine.begin() as conn:
        counts, _ = run_batch_txn(conn, world.config, world.now_ns, limit)
    return counts


def request_of(world: ApiWorld, answer: Answer) -> ApiRequest:
    with world.engine.begin() as conn:
        found = lifecycle.get_by_server_id_txn(conn, answer.body["serverCorrelationId"])
    assert found is not None
    return found


def state(world: ApiWorld, key: str, answer: Answer) -> dict[str, Any]:
    sid = answer.body["serverCorrelationId"]
    polled = world.http("GET", f"/requeststates/{sid}", headers={"X-API-Key": key})
    assert polled.status == 200, polled.body
    return polled.body


def callbacks(world: ApiWorld) -> list[dict[str, Any]]:
    with world.engine.begin() as conn:
        rows = conn.execute(select(api_callbacks).order_by(api_callbacks.c.id)).all()
    return [json.loads(row.body) for row in rows]


def requests_count(world: ApiWorld) -> int:
    with world.engine.begin() as conn:
        return len(conn.execute(select(api_requests.c.id)).all())


def view(world: ApiWorld, key: str, ref: str) -> Answer:
    return world.http("GET", f"/transactions/{ref}", headers={"X-API-Key": key})


def done(world: ApiWorld, key: str, answer: Answer) -> dict[str, Any]:
    """Run the worker; the request's final representation (it must have completed)."""
    work(world)
    request = request_of(world, answer)
    assert request.state.value == "completed", request.error
    assert request.response is not None
    return request.response


def failed(world: ApiWorld, answer: Answer) -> dict[str, Any]:
    """Run the worker; the request's errorObject (it must have failed)."""
    work(world)
    request = request_of(world, answer)
    assert request.state.value == "failed", request.response
    assert request.error is not None
    return request.error


def add_till(world: ApiWorld, msisdn: str, number: str = "555111", name: str = "Acme Shop") -> None:
    """A till for a business's wallet, as staff would add one (merchantpay lands there)."""
    with world.engine.begin() as conn:
        conn.execute(
            insert(tills).values(
                till_number=number, msisdn=msisdn, name=name, state="active",
                created_at_ns=world.now_ns, created_by="test",
            )
        )  # fmt: skip
