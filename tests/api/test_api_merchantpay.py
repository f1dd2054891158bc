"""merchantpay with the customer as the debit party (the "STK push"): the customer is asked by
SMS and approves with PAY <code> <PIN>, refuses with NO <code>, or lets it expire; the API
request follows in the same transaction (or, for a payment posted later, at the worker's next
look)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlalchemy import select

from daemon.api.businesses import set_state_txn
from daemon.api.merchantpay import AWAITING_APPROVAL, AWAITING_POSTING
from daemon.api.principal import BusinessState
from daemon.money import request_rows
from daemon.money.common import money_env
from daemon.money.request_rows import RequestState
from daemon.outbox import OutboxStatus
from daemon.schema import pay_requests
from tests.api.businesses import add_business
from tests.api.tx_helpers import (
    ALICE,
    BOB,
    CALLBACK,
    add_till,
    callbacks,
    post,
    request_of,
    state,
    view,
    wallet,
    work,
)
from tests.api.world import ApiWorld

KES = 100
_CODE = re.compile(r"PAY (R\d+) PIN")


def ask(amount: str = "500", customer: str = ALICE, **more) -> dict:
    return {"amount": amount, "currency": "KES", "debitParty": wallet(customer), **more}


@pytest.fixture
def shop(api_world: ApiWorld):
    business, key = add_business(api_world)
    add_till(api_world, business.msisdn)
    api_world.add(ALICE, name="Alice Wanjiku", balance_minor=2000 * KES)
    return business, key


def asked(world: ApiWorld, key: str, body: dict | None = None):
    """The request posted and run: (its 202 answer, the code the customer was sent)."""
    answer = post(world, key, "merchantpay", body or ask(), "mp-1", CALLBACK)
    assert answer.status == 202, answer.body
    assert "expiryTime" in answer.body
    work(world)
    request = request_of(world, answer)
    assert request.state.value == "pending" and request.pending_reason == AWAITING_APPROVAL
    found = _CODE.search(world.last_to(ALICE))
    assert found is not None, world.last_to(ALICE)
    return answer, found.group(1)


def test_approved_with_the_pin_completes_the_request(api_world, shop) -> None:
    business, key = shop
    answer, code = asked(api_world, key)
    assert "ACME SHOP" in api_world.last_to(ALICE) and "KES 500.00" in api_world.last_to(ALICE)
    polled = state(api_world, key, answer)
    assert polled["status"] == "pending" and polled["pendingReason"] == AWAITING_APPROVAL
    reply = api_world.sms(ALICE, f"PAY {code} 1234")
    assert "ACME SHOP" in reply
    request = request_of(api_world, answer)  # in the same transaction as the payment
    assert request.state.value == "completed"
    response = request.response
    assert response["type"] == "merchantpay" and response["amount"] == "500.00"
    assert response["debitParty"][0]["value"] == f"+{ALICE}"
    merchant_fee = money_env(api_world.config).tariff.merchant_fee_minor("TILL", 500 * KES)
    assert api_world.balance(business.msisdn) == 500 * KES - merchant_fee
    assert callbacks(api_world) == [response]
    assert view(api_world, key, response["transactionReference"]).body["type"] == "merchantpay"
    assert work(api_world) == {"done": 0, "failed": 0, "waiting": 0}
    api_world.check()


def test_refused_with_no_fails_it_request_declined(api_world, shop) -> None:
    _, key = shop
    answer, code = asked(api_world, key)
    api_world.sms(ALICE, f"NO {code}")
    request = request_of(api_world, answer)
    assert request.state.value == "failed"
    assert request.error["errorCode"] == "requestDeclined"
    assert request.error["errorCategory"] == "authorisation"  # as the specification groups it
    assert callbacks(api_world) == [request.error]
    assert api_world.balance(ALICE) == 2000 * KES
    api_world.check()


def test_not_approved_in_time_it_expires(api_world, shop) -> None:
    business, key = shop
    answer, code = asked(api_world, key)
    api_world.advance(api_world.config.api.approval_timeout_s + 1)
    api_world.settle()  # the requests_expired step ends the request to pay
    request = request_of(api_world, answer)
    assert request.state.value == "failed"
    assert request.error["errorCode"] == "genericError"
    # The business hears of it through the API, as when the worker finds it first: no SMS.
    assert api_world.texts_to(business.msisdn) == []
    reply = api_world.sms(ALICE, f"PAY {code} 1234")  # too late: nothing is paid
    assert api_world.balance(ALICE) == 2000 * KES, reply
    assert len(callbacks(api_world)) == 1
    api_world.check()


def test_the_worker_expires_it_too_without_the_settler(api_world, shop) -> None:
    _, key = shop
    answer, _ = asked(api_world, key)
    api_world.advance(api_world.config.api.approval_timeout_s - 1)
    work(api_world)
    assert request_of(api_world, answer).state.value == "pending"
    api_world.advance(2)
    work(api_world)
    assert request_of(api_world, answer).state.value == "failed"
    api_world.settle()  # the settler after the worker: nothing left to tell anybody
    assert api_world.texts_to(shop[0].msisdn) == []


def test_a_payment_held_for_its_receipt_completes_when_posted(engine) -> None:
    world = ApiWorld(engine, money={"post_on_delivery": ["TILL"]})
    business, key = add_business(world)
    add_till(world, business.msisdn)
    world.add(ALICE, balance_minor=2000 * KES)
    answer, code = asked(world, key)
    world.sms(ALICE, f"PAY {code} 1234")
    request = request_of(world, answer)
    assert request.state.value == "pending" and request.pending_reason == AWAITING_POSTING
    world.receipts()  # the confirmation delivered: the payment posts, and the request completes
    assert request_of(world, answer).state.value == "completed"
    merchant_fee = money_env(world.config).tariff.merchant_fee_minor("TILL", 500 * KES)
    assert world.balance(business.msisdn) == 500 * KES - merchant_fee
    world.check()


def test_a_payment_voided_waits_for_approval_again(engine) -> None:
    world = ApiWorld(engine, money={"post_on_delivery": ["TILL"]})
    business, key = add_business(world)
    add_till(world, business.msisdn)
    world.add(ALICE, balance_minor=2000 * KES)
    answer, code = asked(world, key)
    world.sms(ALICE, f"PAY {code} 1234")
    world.receipts(OutboxStatus.UNDELIVERABLE)  # never delivered: the payment is voided
    request = request_of(world, answer)
    assert request.state.value == "pending" and request.pending_reason == AWAITING_APPROVAL
    world.sms(ALICE, f"PAY {code} 1234")  # paid again
    world.receipts()
    assert request_of(world, answer).state.value == "completed"
    assert len(callbacks(world)) == 1
    world.check()


@pytest.mark.parametrize(
    ("setup", "body", "code"),
    [
        ("none", ask(customer=BOB), "identifierError"),
        ("notill", ask(), "genericError"),
        ("none", ask("25000"), "greaterThanTransactionMaxValue"),
        ("none", {**ask(), "creditParty": wallet(BOB)}, "identifierError"),
    ],
)
def test_refused_before_the_customer_is_asked(api_world, setup, body, code) -> None:
    business, key = add_business(api_world)
    if setup != "notill":
        add_till(api_world, business.msisdn)
    api_world.add(ALICE)
    answer = post(api_world, key, "merchantpay", body)
    work(api_world)
    request = request_of(api_world, answer)
    assert request.state.value == "failed" and request.error["errorCode"] == code
    assert api_world.texts_to(ALICE) == []


def test_the_customer_is_required(api_world, shop) -> None:
    _, key = shop
    body = {"amount": "5", "currency": "KES", "creditParty": wallet(ALICE)}
    answer = post(api_world, key, "merchantpay", body)
    assert (answer.status, answer.body["errorCode"]) == (400, "mandatoryValueNotSupplied")


def _suspend(world: ApiWorld, code: str) -> None:
    with world.engine.begin() as conn:
        set_state_txn(conn, code, BusinessState.SUSPENDED, world.now_ns)


def test_a_suspended_business_has_its_waiting_requests_failed_and_withdrawn(
    api_world, shop
) -> None:
    business, key = shop
    answer, code = asked(api_world, key)
    _suspend(api_world, business.code)
    work(api_world)
    request = request_of(api_world, answer)
    assert request.state.value == "failed"
    assert (request.error["errorCategory"], request.error["errorCode"]) == (
        "authorisation", "clientAuthorisationError",
    )  # fmt: skip
    api_world.sms(ALICE, f"PAY {code} 1234")  # the customer's PAY finds nothing to pay
    assert api_world.balance(ALICE) == 2000 * KES
    assert api_world.balance(business.msisdn) == 0
    api_world.check()


def test_a_suspended_business_never_asks_the_customer(api_world, shop) -> None:
    business, key = shop
    answer = post(api_world, key, "merchantpay", ask(), "mp-2")
    _suspend(api_world, business.code)
    work(api_world)
    assert request_of(api_world, answer).error["errorCode"] == "clientAuthorisationError"
    assert api_world.texts_to(ALICE) == []


def test_a_request_already_expired_when_the_worker_runs_never_asks(api_world, shop) -> None:
    _, key = shop
    answer = post(api_world, key, "merchantpay", ask(), "mp-3")
    api_world.advance(api_world.config.api.approval_timeout_s)  # the worker ran late
    work(api_world)
    request = request_of(api_world, answer)
    assert request.state.value == "failed" and request.pay_request_id is None
    assert request.error["errorCode"] == "genericError"
    assert "in time" in request.error["errorDescription"]
    assert api_world.texts_to(ALICE) == []


def test_the_worker_expires_the_request_to_pay_itself_never_racing_a_payment(
    api_world, shop
) -> None:
    _, key = shop
    answer, _ = asked(api_world, key)
    pay_request_id = request_of(api_world, answer).pay_request_id
    api_world.advance(api_world.config.api.approval_timeout_s + 1)
    if api_world.engine.dialect.name == "postgresql":
        # A customer's PAY holding the request to pay (its row locked): the worker does not
        # decide against it, nor wait for it; it looks again next run.
        with api_world.engine.connect() as paying:
            paying.execute(
                select(pay_requests).where(pay_requests.c.id == pay_request_id).with_for_update()
            )
            work(api_world)
            assert request_of(api_world, answer).state.value == "pending"
            paying.rollback()
    work(api_world)
    assert request_of(api_world, answer).state.value == "failed"
    with api_world.engine.begin() as conn:
        assert request_rows.get_txn(conn, pay_request_id).state is RequestState.EXPIRED


def test_a_staff_command_that_moves_money_drives_the_merchantpay_observers() -> None:
    # `smscore admin review release` of a held merchantpay payment runs in a process of its own:
    # the API request must follow the payment in its transaction there too.
    script = (
        "import sys\n"
        "from daemon.admin import env\n"
        "from daemon.config import build_config\n"
        "before = 'daemon.api.merchantpay' in sys.modules\n"
        "try:\n"
        "    env.activate_receipts(build_config({}))\n"
        "except Exception:\n"
        "    pass\n"
        "print(before, 'daemon.api.merchantpay' in sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    assert ran.stdout.split() == ["False", "True"], ran.stderr
