"""What a bulk batch may be (refused whole, naming the item), idempotent re-POSTs, another
business's batch, and the pages of /rejections and /completions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from daemon.api.errors import iso_time
from daemon.api.principal import KeyScope
from daemon.chart import WALLET_ID_BASE
from daemon.schema import api_batches
from tests.api.batch_world import (
    CUSTOMERS,
    KES,
    created_batch,
    custom,
    decide,
    item,
    payroll,
    post_batch,
    run_items,
    salaries,
    step,
    view,
)
from tests.api.businesses import add_business, add_key, key_header
from tests.api.world import ApiWorld


def _batches(world: ApiWorld) -> int:
    with world.engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(api_batches)).scalar_one()


def _refused(answer, code: str, field: str) -> None:
    assert answer.status == 400, answer.body
    assert answer.body["errorCode"] == code
    assert {"key": "field", "value": field} in answer.body["errorParameters"]


@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        ({"currency": "USD"}, "currencyNotSupported", "transactions.1.currency"),
        ({"amount": "10.001"}, "formatError", "transactions.1.amount"),
        ({"amount": "0"}, "formatError", "transactions.1.amount"),
        ({"amount": "-5"}, "negativeValue", "transactions.1.amount"),
        ({"creditParty": [{"key": "msisdn", "value": "12"}]}, "formatError",
         "transactions.1.creditParty"),
        ({"creditParty": [{"key": "walletid", "value": "W1"}]}, "formatError",
         "transactions.1.creditParty"),
        ({"creditParty": [{"key": "iban", "value": "KE12"}]}, "formatError",
         "transactions.1.creditParty"),
        ({"debitParty": [{"key": "msisdn", "value": "+254711000003"}]}, "identifierError",
         "transactions.1.debitParty"),
        ({"type": "transfer"}, "formatError", "transactions.1.type"),
    ],
)  # fmt: skip
def test_a_bad_item_refuses_the_whole_batch_naming_it(
    api_world: ApiWorld, bad: dict, code: str, field: str
) -> None:
    acme = payroll(api_world)
    body = salaries("10", "20")
    body["transactions"][1] |= bad
    _refused(post_batch(api_world, acme.maker, body), code, field)
    assert _batches(api_world) == 0


def test_a_batch_paying_the_business_itself_is_refused(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    body = {"transactions": [item(acme.business.msisdn, "10")]}
    _refused(
        post_batch(api_world, acme.maker, body), "samePartiesError", "transactions.0.creditParty"
    )


def test_a_wallet_id_names_a_customer_as_in_a_single_disbursement(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    by_id = [{"key": "walletid", "value": str(WALLET_ID_BASE + int(CUSTOMERS[0]))}]
    body = {"transactions": [item(CUSTOMERS[1], "10") | {"creditParty": by_id}]}
    assert post_batch(api_world, acme.maker, body).status == 202


def test_the_debit_party_may_name_the_business(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    own = [{"key": "msisdn", "value": f"+{acme.business.msisdn}"}]
    body = {"transactions": [item(CUSTOMERS[0], "10", debitParty=own)]}
    assert post_batch(api_world, acme.maker, body).status == 202


def test_a_maker_cannot_create_a_batch_already_approved(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    body = salaries("10") | {"batchStatus": "approved"}
    _refused(post_batch(api_world, acme.maker, body), "formatError", "batchStatus")


def test_batches_over_the_configured_bounds_are_refused(engine: Engine) -> None:
    world = ApiWorld(engine, api={"batch_max_items": 2, "batch_max_total_minor": 50_000})
    acme = payroll(world)
    _refused(post_batch(world, acme.maker, salaries("1", "2", "3")), "lengthError", "transactions")
    over = post_batch(world, acme.maker, salaries("300", "200.01"))
    _refused(over, "greaterThanTransactionMaxValue", "transactions")
    assert "500.00 KES" in over.body["errorDescription"]
    assert post_batch(world, acme.maker, salaries("300", "200")).status == 202  # the bound itself


def test_a_re_post_with_the_same_correlation_id_is_the_same_batch(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    first = post_batch(api_world, acme.maker, salaries("10", "20"), **{"X-CorrelationID": "run-1"})
    again = post_batch(api_world, acme.maker, salaries("10", "20"), **{"X-CorrelationID": "run-1"})
    assert again.status == 202
    assert again.body["serverCorrelationId"] == first.body["serverCorrelationId"]
    assert again.body["objectReference"] == first.body["objectReference"]
    assert _batches(api_world) == 1
    other = post_batch(api_world, acme.maker, salaries("10", "21"), **{"X-CorrelationID": "run-1"})
    assert (other.status, other.body["errorCode"]) == (400, "duplicateRequest")
    assert _batches(api_world) == 1


def test_a_re_post_after_approval_shows_how_the_batch_goes(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    headers = {"X-CorrelationID": "run-2"}
    batch_id = created_batch(api_world, acme.maker, salaries("10"), **headers)
    decide(api_world, acme.checker, batch_id)
    again = post_batch(api_world, acme.maker, salaries("10"), **headers)
    assert again.body["pendingReason"].startswith("approved")
    assert _batches(api_world) == 1


def test_another_business_never_sees_or_decides_a_batch(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10"))
    _, other = add_business(api_world, code="OTHER")
    path = f"/batchtransactions/{batch_id}"
    for method, what, body in (("GET", "", None), ("GET", "/completions", None),
                               ("PATCH", "", [{"op": "replace", "path": "/batchStatus",
                                               "value": "approved"}])):  # fmt: skip
        answer = api_world.http(method, path + what, body, key_header(other))
        assert (answer.status, answer.body["errorCategory"]) == (404, "identification")
    assert view(api_world, acme.maker, batch_id).body["batchStatus"] == "created"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ([{"op": "replace", "path": "/batchStatus", "value": "completed"}], "value"),
        ([{"op": "replace", "path": "/batchTitle", "value": "x"}], "path"),
        ([{"op": "add", "path": "/batchStatus", "value": "approved"}], "path"),
        ([], "body"),
    ],
)
def test_only_approved_or_rejected_batch_status_is_a_decision(
    api_world: ApiWorld, patch: list, field: str
) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10"))
    answer = api_world.http(
        "PATCH", f"/batchtransactions/{batch_id}", patch, key_header(acme.checker)
    )
    assert answer.status == 400, answer.body
    assert answer.body["errorCategory"] == "validation"
    assert view(api_world, acme.maker, batch_id).body["batchStatus"] == "created"


_RUNS = itertools.count()


def _paid_batch(world: ApiWorld, amounts: list[str], failing: tuple[int, ...] = ()) -> tuple:
    """A batch approved and run by the API worker, paying a new customer per amount, by a
    business of its own (so one world can hold many) that can pay them all; the payees at
    `failing` are not registered, so those items fail (identifierError)."""
    run = next(_RUNS)
    business, maker = add_business(
        world, code=f"PAY{run}", scope=KeyScope.MAKER, balance_minor=1_000_000 * KES
    )
    checker, _ = add_key(world, business, KeyScope.CHECKER)
    payees = [f"2547{run:04d}{n:04d}" for n in range(len(amounts))]
    for n, payee in enumerate(payees):
        if n not in failing:
            world.add(payee)
    body = {"transactions": [item(p, a) for p, a in zip(payees, amounts, strict=True)]}
    batch_id = created_batch(world, maker, body)
    decide(world, checker, batch_id)
    step(world)
    run_items(world)
    step(world)
    return maker, batch_id


def test_completions_come_in_pages_by_limit_and_offset(api_world: ApiWorld) -> None:
    maker, batch_id = _paid_batch(api_world, ["1", "2", "3", "4", "5"])
    page = view(api_world, maker, batch_id, "/completions?limit=2&offset=3")
    assert [c["creditParty"][0]["value"][-4:] for c in page.body] == ["0003", "0004"]
    assert (
        page.headers["x-records-available-count"],
        page.headers["x-records-returned-count"],
    ) == (
        "5",
        "2",
    )
    past = view(api_world, maker, batch_id, "/completions?offset=9")
    assert (past.body, past.headers["x-records-returned-count"]) == ([], "0")
    bad = api_world.http(
        "GET", f"/batchtransactions/{batch_id}/completions?offset=-1", headers=key_header(maker)
    )
    assert (bad.status, bad.body["errorCode"]) == (400, "invalidOffset")


def test_records_are_bounded_by_from_and_to_date_time(api_world: ApiWorld) -> None:
    maker, batch_id = _paid_batch(api_world, ["1", "2"])
    paid_at = iso_time(api_world.now_ns)
    later = iso_time(api_world.now_ns + 10**9)
    assert len(view(api_world, maker, batch_id, f"/completions?fromDateTime={paid_at}").body) == 2
    assert view(api_world, maker, batch_id, f"/completions?fromDateTime={later}").body == []
    assert view(api_world, maker, batch_id, f"/completions?toDateTime={paid_at}").body != []
    bad = api_world.http(
        "GET",
        f"/batchtransactions/{batch_id}/rejections?toDateTime=yesterday",
        headers=key_header(maker),
    )
    assert (bad.status, bad.body["errorCode"]) == (400, "formatError")


# Amounts from the minimum a business may pay (SEND's, 1.00) to 5,000.00, within its limits.
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(100, 500_000), st.booleans()), min_size=1, max_size=4))
def test_counts_and_amounts_always_add_up(
    api_world: ApiWorld, paid: list[tuple[int, bool]]
) -> None:
    amounts = [f"{minor // 100}.{minor % 100:02d}" for minor, _ in paid]
    failing = tuple(n for n, (_, ok) in enumerate(paid) if not ok)
    maker, batch_id = _paid_batch(api_world, amounts, failing)
    batch = view(api_world, maker, batch_id).body
    assert batch["completedCount"] == sum(ok for _, ok in paid)
    assert batch["completedCount"] + batch["rejectionCount"] == len(paid)
    money = custom(batch)
    as_minor = {k: int(money[k].replace(".", "")) for k in ("completedAmount", "rejectedAmount")}
    assert as_minor["completedAmount"] == sum(minor for minor, ok in paid if ok)
    assert as_minor["completedAmount"] + as_minor["rejectedAmount"] == sum(m for m, _ in paid)
    assert money["pendingAmount"] == "0.00"
    api_world.check()


@pytest.mark.parametrize("url", ["http://example.com/hook", "https://u:p@example.com/", "ftp://x/"])
def test_a_callback_url_the_engine_would_not_deliver_to_is_refused(
    api_world: ApiWorld, url: str
) -> None:
    acme = payroll(api_world)
    answer = post_batch(api_world, acme.maker, salaries("10"), **{"X-Callback-URL": url})
    _refused(answer, "formatError", "X-Callback-URL")
    assert _batches(api_world) == 0
