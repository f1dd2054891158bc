"""A bulk batch's money, through the real API worker (daemon.api.worker's disbursement executor):
each item is its own disbursement, so one the business cannot pay is rejected and the items after
it still pay; the ledger checks and the trust account reconciles afterwards."""

from __future__ import annotations

from sqlalchemy import select

from daemon.schema import api_callbacks
from tests.api.batch_world import (
    CUSTOMERS,
    KES,
    batch_request,
    callbacks_of,
    created_batch,
    custom,
    decide,
    item,
    payroll,
    run_items,
    salaries,
    step,
    view,
)
from tests.api.world import ApiWorld

CALLBACK = {"X-Callback-URL": "http://127.0.0.1:9/batches"}


def _run(world: ApiWorld) -> None:
    """The batches' step and the API worker until the batch is done, as the TranProc role runs."""
    step(world)
    run_items(world)
    step(world)


def test_a_payroll_pays_every_customer_and_completes(api_world: ApiWorld) -> None:
    acme = payroll(api_world, balance_minor=10_000 * KES)
    batch_id = created_batch(api_world, acme.maker, salaries("1500.00", "2500.50"), **CALLBACK)
    decide(api_world, acme.checker, batch_id)
    _run(api_world)
    assert [api_world.balance(m) for m in CUSTOMERS[:2]] == [1500 * KES, 250_050]
    assert api_world.balance(acme.business.msisdn) == 10_000 * KES - 400_050
    assert "KES 1,500.00" in api_world.last_to(CUSTOMERS[0])  # told like any disbursement
    batch = view(api_world, acme.maker, batch_id).body
    assert (batch["batchStatus"], batch["completedCount"]) == ("completed", 2)
    completions = view(api_world, acme.maker, batch_id, "/completions").body
    for paid in completions:
        answer = api_world.http(
            "GET", paid["link"], headers={"X-API-Key": acme.maker}
        )  # the transaction itself
        assert answer.status == 200, answer.body
        assert answer.body["transactionReference"] == paid["transactionReference"]
    with api_world.engine.begin() as conn:
        queued = conn.execute(select(api_callbacks.c.request_id)).scalars().all()
    assert queued == [batch_request(api_world, batch_id).id]  # the batch's only, none per item
    api_world.check()


def test_an_item_over_the_balance_is_rejected_and_the_rest_still_pay(api_world: ApiWorld) -> None:
    acme = payroll(api_world, balance_minor=1000 * KES)
    batch_id = created_batch(api_world, acme.maker, salaries("500", "800", "300"), **CALLBACK)
    decide(api_world, acme.checker, batch_id)
    _run(api_world)
    assert [api_world.balance(m) for m in CUSTOMERS] == [500 * KES, 0, 300 * KES]
    assert api_world.balance(acme.business.msisdn) == 200 * KES
    [rejected] = view(api_world, acme.maker, batch_id, "/rejections").body
    assert rejected["creditParty"][0]["value"] == f"+{CUSTOMERS[1]}"
    assert rejected["rejectionReason"].startswith("insufficientFunds")
    batch = view(api_world, acme.maker, batch_id).body
    assert (batch["completedCount"], batch["rejectionCount"]) == (2, 1)
    assert (custom(batch)["completedAmount"], custom(batch)["rejectedAmount"]) == (
        "800.00",
        "800.00",
    )
    [callback] = callbacks_of(api_world, batch_request(api_world, batch_id).id)
    assert (callback["completedCount"], callback["rejectionCount"]) == (2, 1)
    api_world.check()


def test_an_item_to_an_unknown_number_is_rejected_and_nothing_is_parked(
    api_world: ApiWorld,
) -> None:
    acme = payroll(api_world, balance_minor=1000 * KES)
    body = {"transactions": [item("254719999999", "100"), item(CUSTOMERS[0], "100")]}
    batch_id = created_batch(api_world, acme.maker, body)
    decide(api_world, acme.checker, batch_id)
    _run(api_world)
    [rejected] = view(api_world, acme.maker, batch_id, "/rejections").body
    assert rejected["rejectionReason"].startswith("identifierError")
    assert api_world.balance(CUSTOMERS[0]) == 100 * KES
    assert api_world.balance(acme.business.msisdn) == 900 * KES
    api_world.check()


def test_a_rejected_batch_moves_no_money(api_world: ApiWorld) -> None:
    acme = payroll(api_world, balance_minor=1000 * KES)
    batch_id = created_batch(api_world, acme.maker, salaries("100", "200"))
    decide(api_world, acme.checker, batch_id, "rejected")
    _run(api_world)
    assert api_world.balance(acme.business.msisdn) == 1000 * KES
    assert [api_world.balance(m) for m in CUSTOMERS[:2]] == [0, 0]
    api_world.check()
