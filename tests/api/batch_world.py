"""Helpers for the bulk batch tests: a business with a maker key and a checker key, customers to
pay, the batch requests as a client sends them, and the batches' worker step run by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select

from daemon.api.batch_worker import batch_step_txn
from daemon.api.principal import Business, KeyScope
from daemon.api.worker import run_batch_txn
from daemon.schema import api_callbacks, api_requests
from tests.api.businesses import add_business, add_key, key_header
from tests.api.world import Answer, ApiWorld

KES = 100
CUSTOMERS = ("254711000001", "254711000002", "254711000003")


@dataclass(frozen=True)
class Payroll:
    business: Business
    maker: str  # key texts
    checker: str


def payroll(world: ApiWorld, balance_minor: int = 100_000 * KES) -> Payroll:
    """ACME with a maker key (scope maker) and a checker key (scope checker); three customers."""
    business, maker = add_business(world, balance_minor=balance_minor, scope=KeyScope.MAKER)
    checker, _ = add_key(world, business, KeyScope.CHECKER, label="checker")
    for msisdn in CUSTOMERS:
        world.add(msisdn)
    return Payroll(business, maker, checker)


def item(msisdn: str, amount: str, **more: object) -> dict:
    return {
        "type": "disbursement",
        "amount": amount,
        "currency": "KES",
        "creditParty": [{"key": "msisdn", "value": f"+{msisdn}"}],
        **more,
    }


def salaries(*amounts: str) -> dict:
    """A batch paying CUSTOMERS[i] amounts[i]."""
    items = [
        item(msisdn, amount, requestingOrganisationTransactionReference=f"pay-{n}")
        for n, (msisdn, amount) in enumerate(zip(CUSTOMERS, amounts, strict=False))
    ]
    return {"transactions": items, "batchTitle": "December payroll"}


def post_batch(world: ApiWorld, key: str, body: dict, **headers: str) -> Answer:
    return world.http("POST", "/batchtransactions", body, key_header(key, **headers))


def created_batch(world: ApiWorld, key: str, body: dict, **headers: str) -> str:
    """The batchId of a batch the maker created."""
    answer = post_batch(world, key, body, **headers)
    assert answer.status == 202, answer.body
    return answer.body["objectReference"]


def decide(world: ApiWorld, key: str, batch_id: str, status: str = "approved") -> Answer:
    patch = [{"op": "replace", "path": "/batchStatus", "value": status}]
    return world.http("PATCH", f"/batchtransactions/{batch_id}", patch, key_header(key))


def view(world: ApiWorld, key: str, batch_id: str, what: str = "") -> Answer:
    answer = world.http("GET", f"/batchtransactions/{batch_id}{what}", headers=key_header(key))
    assert answer.status == 200, answer.body
    return answer


def custom(batch: dict) -> dict[str, str]:
    return {pair["key"]: pair["value"] for pair in batch.get("customData", [])}


def step(world: ApiWorld, batch_size: int = 100) -> dict[str, int]:
    with world.engine.begin() as conn:
        counts, _ = batch_step_txn(conn, world.now_ns, batch_size=batch_size, retention_days=7.0)
    return counts


def item_requests(world: ApiWorld) -> list:
    query = select(api_requests).where(api_requests.c.batch_id.is_not(None))
    with world.engine.begin() as conn:
        return conn.execute(query.order_by(api_requests.c.id)).all()


def batch_request(world: ApiWorld, batch_id: str):
    query = select(api_requests).where(
        api_requests.c.operation == "batch", api_requests.c.object_reference == batch_id
    )
    with world.engine.begin() as conn:
        return conn.execute(query).one()


def callbacks_of(world: ApiWorld, request_id: int) -> list[dict]:
    query = select(api_callbacks.c.body).where(api_callbacks.c.request_id == request_id)
    with world.engine.begin() as conn:
        return [json.loads(row.body) for row in conn.execute(query)]


def count_callbacks(world: ApiWorld) -> int:
    with world.engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(api_callbacks)).scalar_one()


def run_items(world: ApiWorld, limit: int = 100) -> dict[str, int]:
    """The API worker's run, as the TranProc role would: each pending item is a disbursement."""
    with world.engine.begin() as conn:
        counts, _ = run_batch_txn(conn, world.config, world.now_ns, limit)
    return counts
