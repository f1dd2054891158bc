"""billpay (the business pays a biller's account) and reversals of a business's transactions: a
payment it received refunded at once; one it made held from the recipient for staff to decide."""

from __future__ import annotations

import re

import pytest

from daemon.money.account_rules import parse_rule
from daemon.money.billers import BillRow, add_biller_txn, get_bill_txn, import_bills_txn
from daemon.money.common import money_env
from daemon.money.reversal_decisions import Staff, approve_txn, reject_txn
from tests.api.businesses import add_business
from tests.api.tx_helpers import (
    ALICE,
    CALLBACK,
    add_till,
    callbacks,
    done,
    failed,
    pay,
    post,
    request_of,
    view,
    wallet,
    work,
)
from tests.api.world import ApiWorld

KES = 100


def add_biller(world: ApiWorld, bills_only: bool = False, bills=(), rule: str = "digits:8") -> None:
    with world.engine.begin() as conn:
        biller = add_biller_txn(
            conn, "KPLC", "Kenya Power", parse_rule(rule), bills_only=bills_only,
            currency="KES", actor="test", now_ns=world.now_ns,
        )  # fmt: skip
        if bills:
            import_bills_txn(conn, biller, [BillRow(a, m) for a, m in bills], "test", world.now_ns)


def bill_body(amount: str = "300", account: str = "12345678", code: str = "KPLC") -> dict:
    credit = [{"key": "serviceprovider", "value": code}, {"key": "consumerno", "value": account}]
    return {"amount": amount, "currency": "KES", "creditParty": credit}


@pytest.fixture
def acme(api_world: ApiWorld):
    return add_business(api_world, balance_minor=10_000 * KES)


def test_a_bill_is_paid_and_counted(api_world, acme) -> None:
    business, key = acme
    add_biller(api_world, bills=[("12345678", 1000 * KES)])
    response = done(api_world, key, post(api_world, key, "billpay", bill_body("300")))
    assert response["type"] == "billpay"
    assert {"key": "consumerno", "value": "12345678"} in response["creditParty"]
    fee = money_env(api_world.config).tariff.fee_minor("PAY", 300 * KES, biller="KPLC")
    assert api_world.balance(business.msisdn) == 10_000 * KES - 300 * KES - fee
    with api_world.engine.begin() as conn:
        assert get_bill_txn(conn, "KPLC", "12345678").paid_minor == 300 * KES
    got = view(api_world, key, response["transactionReference"]).body
    assert got["transactionStatus"] == "completed"
    api_world.check()


@pytest.mark.parametrize(
    ("bills_only", "body", "code"),
    [
        (False, bill_body(code="NOPE"), "identifierError"),
        (False, bill_body(account="12"), "identifierError"),
        (True, bill_body(account="87654321"), "identifierError"),
        (False, bill_body("1500"), "overPaymentNotAllowed"),
    ],
)
def test_a_bill_refused(api_world, acme, bills_only, body, code) -> None:
    business, key = acme
    add_biller(api_world, bills_only=bills_only, bills=[("12345678", 1000 * KES)])
    assert failed(api_world, post(api_world, key, "billpay", body))["errorCode"] == code
    assert api_world.balance(business.msisdn) == 10_000 * KES


def test_the_account_is_named_as_an_sms_pay_names_it(api_world, acme) -> None:
    _, key = acme
    add_biller(api_world, bills=[("ABC123", 100 * KES)], rule="alnum:6")
    error = failed(api_world, post(api_world, key, "billpay", bill_body("500", "abc123")))
    assert error["errorCode"] == "overPaymentNotAllowed"  # the bill ABC123's own rule
    response = done(api_world, key, post(api_world, key, "billpay", bill_body("60", "abc123")))
    assert {"key": "consumerno", "value": "ABC123"} in response["creditParty"]
    with api_world.engine.begin() as conn:
        assert get_bill_txn(conn, "KPLC", "ABC123").paid_minor == 60 * KES
    answer = post(api_world, key, "billpay", bill_body("60", "ABC 123"))
    assert (answer.status, answer.body["errorCode"]) == (400, "formatError")  # as SMS refuses it
    api_world.check()


def test_billpay_needs_the_biller_and_account(api_world, acme) -> None:
    _, key = acme
    body = {**bill_body(), "creditParty": [{"key": "serviceprovider", "value": "KPLC"}]}
    answer = post(api_world, key, "billpay", body)
    assert (answer.status, answer.body["errorCode"]) == (400, "mandatoryValueNotSupplied")


# --- reversals


def reverse(world: ApiWorld, key: str, ref: str, body: dict | None = None, cid: str = "rv-1"):
    headers = {"X-API-Key": key, "X-CorrelationID": cid, "X-Callback-URL": CALLBACK}
    return world.http("POST", f"/transactions/{ref}/reversals", body or {"type": "reversal"},
                      headers)  # fmt: skip


def staff(world: ApiWorld) -> Staff:
    return Staff(world.config, "staff1")


def test_a_merchantpay_received_is_refunded_at_once(api_world, acme) -> None:
    business, key = acme
    add_till(api_world, business.msisdn)
    api_world.add(ALICE, balance_minor=1000 * KES)
    asked = post(api_world, key, "merchantpay", {"amount": "500", "currency": "KES",
                                                 "debitParty": wallet(ALICE)})  # fmt: skip
    work(api_world)
    code = re.search(r"PAY (R\d+) PIN", api_world.last_to(ALICE)).group(1)
    api_world.sms(ALICE, f"PAY {code} 1234")
    ref = request_of(api_world, asked).response["transactionReference"]
    paid = api_world.balance(ALICE)
    answer = reverse(api_world, key, ref)
    assert answer.status == 202
    response = done(api_world, key, answer)
    assert response["originalTransactionReference"] == ref
    assert response["type"] == "reversal"
    assert api_world.balance(ALICE) == paid + 500 * KES  # all the customer paid, back
    assert response["amount"] == "500.00"
    assert "ACME LTD refunded you" in api_world.last_to(ALICE)
    assert view(api_world, key, ref).body["transactionStatus"] == "reversed"
    again = reverse(api_world, key, ref, cid="rv-2")
    assert failed(api_world, again)["errorCode"] == "incorrectState"  # once only
    # the customer cannot ask it back again either
    assert "was already reversed" in api_world.sms(ALICE, f"REVERSE {ref}")
    assert callbacks(api_world)[-2] == response
    api_world.check()


def test_a_disbursement_is_held_for_staff_then_approved(api_world, acme) -> None:
    business, key = acme
    api_world.add(ALICE)
    ref = done(api_world, key, post(api_world, key, "disbursement", pay("100")))[
        "transactionReference"
    ]
    answer = reverse(api_world, key, ref)
    work(api_world)
    request = request_of(api_world, answer)
    assert request.state.value == "pending" and request.pending_reason
    assert api_world.balance(ALICE) == 0  # held
    assert "ACME LTD" in api_world.last_to(ALICE)
    work(api_world)  # nothing decided yet
    assert request_of(api_world, answer).state.value == "pending"
    with api_world.engine.begin() as conn:
        approve_txn(conn, staff(api_world), ref, "agreed", api_world.now_ns)
    response = done(api_world, key, answer)
    assert response["originalTransactionReference"] == ref
    assert api_world.balance(business.msisdn) == 10_000 * KES
    api_world.check()


def test_a_reversal_rejected_by_staff_is_declined(api_world, acme) -> None:
    _, key = acme
    api_world.add(ALICE)
    ref = done(api_world, key, post(api_world, key, "disbursement", pay("100")))[
        "transactionReference"
    ]
    answer = reverse(api_world, key, ref)
    work(api_world)
    with api_world.engine.begin() as conn:
        reject_txn(conn, staff(api_world), ref, "the customer worked for it", api_world.now_ns)
    assert failed(api_world, answer)["errorCode"] == "requestDeclined"
    assert api_world.balance(ALICE) == 100 * KES
    api_world.check()


def test_a_reversal_of_an_unknown_or_foreign_transaction_is_not_found(api_world, acme) -> None:
    _, key = acme
    api_world.add(ALICE)
    _, other_key = add_business(api_world, code="OTHER", balance_minor=1000 * KES)
    ref = done(api_world, other_key, post(api_world, other_key, "disbursement", pay("5")))[
        "transactionReference"
    ]
    assert reverse(api_world, key, ref).status == 404
    assert reverse(api_world, key, "NOSUCHREF2").status == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [({"type": "reversal", "amount": "1.00"}, "genericError"),
     ({"type": "reversal", "currency": "USD"}, "currencyNotSupported")],
)  # fmt: skip
def test_a_reversal_is_in_full_only(api_world, acme, body, code) -> None:
    _, key = acme
    api_world.add(ALICE)
    ref = done(api_world, key, post(api_world, key, "disbursement", pay("100")))[
        "transactionReference"
    ]
    assert failed(api_world, reverse(api_world, key, ref, body))["errorCode"] == code


def test_a_reversal_past_the_window_is_refused(api_world, acme) -> None:
    _, key = acme
    api_world.add(ALICE)
    ref = done(api_world, key, post(api_world, key, "disbursement", pay("100")))[
        "transactionReference"
    ]
    api_world.advance(api_world.config.money.reversal_window_hours * 3600 + 1)
    assert failed(api_world, reverse(api_world, key, ref))["errorCode"] == "genericError"


def test_a_reference_percent_encoded_in_the_path_is_the_same_reference(api_world, acme) -> None:
    _, key = acme
    api_world.add(ALICE)
    ref = done(api_world, key, post(api_world, key, "disbursement", pay("100")))[
        "transactionReference"
    ]
    encoded = "".join(f"%{ord(char):02X}" for char in ref[:2]) + ref[2:]
    answer = reverse(api_world, key, encoded)
    assert answer.status == 202
    work(api_world)
    request = request_of(api_world, answer)
    assert request.state.value == "pending", request.error  # held for staff, not "not found"


def test_a_merchantpay_is_reversed_in_full_by_its_own_amount(api_world, acme) -> None:
    business, key = acme
    add_till(api_world, business.msisdn)
    api_world.add(ALICE, balance_minor=1000 * KES)
    asked = post(api_world, key, "merchantpay", {"amount": "500", "currency": "KES",
                                                 "debitParty": wallet(ALICE)})  # fmt: skip
    work(api_world)
    code = re.search(r"PAY (R\d+) PIN", api_world.last_to(ALICE)).group(1)
    api_world.sms(ALICE, f"PAY {code} 1234")
    ref = request_of(api_world, asked).response["transactionReference"]
    merchant_fee = money_env(api_world.config).tariff.merchant_fee_minor("TILL", 500 * KES)
    assert merchant_fee > 0  # the case: the business got less than the customer paid
    before = api_world.balance(business.msisdn)
    body = {"type": "reversal", "amount": "500.00", "currency": "KES"}
    done(api_world, key, reverse(api_world, key, ref, body))
    assert api_world.balance(ALICE) == 1000 * KES  # exactly as before the payment
    assert api_world.balance(business.msisdn) == before - 500 * KES  # its fee is its own
    api_world.check()
