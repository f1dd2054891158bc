"""Bulk disbursement's life over the API (daemon.api.batches): a maker key creates a batch, a
checker key (another) approves or rejects it, its items become disbursements, and the batch
completes, with its callback, once every item is paid or failed."""

from __future__ import annotations

import json

from sqlalchemy import select

from daemon.audit import list_txn
from daemon.schema import api_batches
from tests.api.batch_world import (
    CUSTOMERS,
    KES,
    batch_request,
    callbacks_of,
    count_callbacks,
    created_batch,
    custom,
    decide,
    item_requests,
    payroll,
    post_batch,
    run_items,
    salaries,
    step,
    view,
)
from tests.api.businesses import add_key
from tests.api.world import ApiWorld

CALLBACK = {"X-Callback-URL": "http://127.0.0.1:9/batches"}


def test_a_maker_creates_a_batch_awaiting_its_checker(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    answer = post_batch(api_world, acme.maker, salaries("1500.00", "2500.50"), **CALLBACK)
    assert answer.status == 202
    assert answer.body["status"] == "pending"
    assert answer.body["notificationMethod"] == "callback"
    assert "awaiting approval" in answer.body["pendingReason"]
    batch = view(api_world, acme.maker, answer.body["objectReference"]).body
    assert batch["batchStatus"] == "created"
    assert batch["processingFlag"] is False
    assert (batch["parsingSuccessCount"], batch["completedCount"], batch["rejectionCount"]) == (
        2,
        0,
        0,
    )
    assert batch["batchTitle"] == "December payroll"
    assert "approvalDate" not in batch
    amounts = custom(batch)
    assert (amounts["totalAmount"], amounts["pendingAmount"], amounts["currency"]) == (
        "4000.50",
        "4000.50",
        "KES",
    )
    assert step(api_world) == {"items_queued": 0, "batches_completed": 0}  # not approved: nothing
    assert item_requests(api_world) == []


def test_approved_by_a_checker_every_item_is_paid_and_the_batch_completes(
    api_world: ApiWorld,
) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("100", "200", "300"), **CALLBACK)
    assert decide(api_world, acme.checker, batch_id).status == 204
    batch = view(api_world, acme.checker, batch_id).body
    assert (batch["batchStatus"], batch["processingFlag"]) == ("approved", True)
    assert "approvalDate" in batch
    assert step(api_world) == {"items_queued": 3, "batches_completed": 0}
    items = item_requests(api_world)
    assert [r.operation for r in items] == ["disbursement"] * 3
    assert all(r.callback_url is None and r.state == "pending" for r in items)  # no callback each
    assert run_items(api_world)["done"] == 3
    assert step(api_world) == {"items_queued": 0, "batches_completed": 1}
    batch = view(api_world, acme.maker, batch_id).body
    assert (batch["batchStatus"], batch["processingFlag"], batch["completedCount"]) == (
        "completed",
        False,
        3,
    )
    assert custom(batch)["completedAmount"] == "600.00"
    assert [api_world.balance(m) for m in CUSTOMERS] == [100 * KES, 200 * KES, 300 * KES]
    api_world.check()
    own = batch_request(api_world, batch_id)
    assert own.state == "completed"
    [callback] = callbacks_of(api_world, own.id)
    assert (callback["batchId"], callback["batchStatus"], callback["completedCount"]) == (
        batch_id,
        "completed",
        3,
    )


def test_the_completion_callback_is_queued_once(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20"), **CALLBACK)
    decide(api_world, acme.checker, batch_id)
    step(api_world)
    run_items(api_world)
    for _ in range(3):
        step(api_world)
        api_world.advance(1)
    assert count_callbacks(api_world) == 1
    assert len(callbacks_of(api_world, batch_request(api_world, batch_id).id)) == 1


def test_items_are_queued_once_each_a_bounded_number_per_run(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20", "30"))
    decide(api_world, acme.checker, batch_id)
    assert step(api_world, batch_size=2) == {"items_queued": 2, "batches_completed": 0}
    assert step(api_world, batch_size=2) == {"items_queued": 1, "batches_completed": 0}
    assert step(api_world, batch_size=2) == {"items_queued": 0, "batches_completed": 0}
    requests = item_requests(api_world)
    assert {r.path for r in requests} == {"/transactions/type/disbursement"}
    payees = [json.loads(r.body) for r in requests]
    assert all("type" not in p for p in payees)  # the path says it, as a single disbursement's
    assert [p["creditParty"][0]["value"] for p in payees] == [f"+{m}" for m in CUSTOMERS]
    assert all(p["debitParty"] == [{"key": "msisdn", "value": acme.business.msisdn}]
               for p in payees)  # fmt: skip


def test_an_item_that_fails_is_a_rejection_and_the_others_still_pay(api_world: ApiWorld) -> None:
    acme = payroll(api_world, balance_minor=400 * KES)  # pays the first; then 300.00 is left
    batch_id = created_batch(api_world, acme.maker, salaries("100", "350", "300"))
    decide(api_world, acme.checker, batch_id)
    step(api_world)
    run_items(api_world)
    step(api_world)
    batch = view(api_world, acme.maker, batch_id).body
    assert (batch["batchStatus"], batch["completedCount"], batch["rejectionCount"]) == (
        "completed",
        2,
        1,
    )
    assert (custom(batch)["completedAmount"], custom(batch)["rejectedAmount"]) == (
        "400.00",
        "350.00",
    )
    rejections = view(api_world, acme.maker, batch_id, "/rejections")
    [rejected] = rejections.body
    assert rejected["creditParty"] == [{"key": "msisdn", "value": f"+{CUSTOMERS[1]}"}]
    assert rejected["rejectionReason"].startswith("insufficientFunds")
    assert rejected["requestingOrganisationTransactionReference"] == "pay-1"
    assert rejections.headers["x-records-available-count"] == "1"
    completions = view(api_world, acme.maker, batch_id, "/completions")
    assert [c["requestingOrganisationTransactionReference"] for c in completions.body] == [
        "pay-0",
        "pay-2",
    ]
    assert all(c["link"] == f"/transactions/{c['transactionReference']}" for c in completions.body)
    assert api_world.balance(acme.business.msisdn) == 0
    api_world.check()
    assert completions.headers["x-records-returned-count"] == "2"


def test_a_maker_cannot_approve_its_own_batch(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    both, _ = add_key(api_world, acme.business, label="owner")  # scope both
    batch_id = created_batch(api_world, both, salaries("10"))
    refused = decide(api_world, both, batch_id)
    assert refused.status == 401
    assert refused.body["errorCode"] == "clientAuthorisationError"
    assert "another key" in refused.body["errorDescription"]
    maker_only = decide(api_world, acme.maker, batch_id)
    assert maker_only.status == 401
    assert "scope maker" in maker_only.body["errorDescription"]
    assert view(api_world, both, batch_id).body["batchStatus"] == "created"
    assert decide(api_world, acme.checker, batch_id).status == 204  # another key: approved


def test_a_checker_key_cannot_create_a_batch(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    refused = post_batch(api_world, acme.checker, salaries("10"))
    assert refused.status == 401
    assert "scope checker" in refused.body["errorDescription"]
    with api_world.engine.begin() as conn:
        assert conn.execute(select(api_batches)).all() == []


def test_a_rejected_batch_pays_nothing_and_completes_with_every_item_rejected(
    api_world: ApiWorld,
) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20"), **CALLBACK)
    assert decide(api_world, acme.checker, batch_id, "rejected").status == 204
    assert step(api_world) == {"items_queued": 0, "batches_completed": 0}
    assert item_requests(api_world) == []
    batch = view(api_world, acme.maker, batch_id).body
    assert (batch["batchStatus"], batch["rejectionCount"], batch["completedCount"]) == (
        "completed",
        2,
        0,
    )
    assert custom(batch)["batchDecision"] == "rejected"
    assert "approvalDate" not in batch
    rejections = view(api_world, acme.maker, batch_id, "/rejections").body
    assert [r["requestingOrganisationTransactionReference"] for r in rejections] == [
        "pay-0",
        "pay-1",
    ]
    assert all("rejected by the checker" in r["rejectionReason"] for r in rejections)
    own = batch_request(api_world, batch_id)
    assert own.state == "completed"
    assert [c["batchStatus"] for c in callbacks_of(api_world, own.id)] == ["completed"]
    late = decide(api_world, acme.checker, batch_id, "approved")
    assert (late.status, late.body["errorCode"]) == (400, "incorrectState")


def test_deciding_again_the_same_way_changes_nothing(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20"))
    assert decide(api_world, acme.checker, batch_id).status == 204
    assert decide(api_world, acme.checker, batch_id).status == 204
    step(api_world)
    step(api_world)
    assert len(item_requests(api_world)) == 2
    other = decide(api_world, acme.checker, batch_id, "rejected")
    assert (other.status, other.body["errorCode"]) == (400, "incorrectState")


def test_maker_and_checker_are_on_the_audit_chain(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20.50"))
    decide(api_world, acme.checker, batch_id)
    with api_world.engine.begin() as conn:
        entries = list_txn(conn, target=f"batch:{batch_id}")
    by_action = {entry.action: entry for entry in entries}
    assert set(by_action) == {"batch.create", "batch.approved"}
    assert by_action["batch.create"].actor == f"api-key:{acme.business.key_id}"
    assert by_action["batch.create"].detail == "ACME: 2 items, 30.50 KES"
    assert by_action["batch.approved"].actor != by_action["batch.create"].actor
    assert by_action["batch.approved"].actor.startswith("api-key:")
