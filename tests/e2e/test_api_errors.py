"""The business API's errors over real HTTP (127.0.0.1, `requests`, every answer checked against the
served OpenAPI document by tests/e2e/api_client.py), against ONE real daemon for the module whose
[api] approval_timeout_s is short: a merchant-initiated payment the customer leaves unanswered
expires; validation (the body, the amount, the currency, the parties, the callback URL),
identification (404), authorisation (401) and businessRule errors (an unknown transactionType,
insufficientFunds, a reversal the business cannot pay back); nothing moves on any of them. The
rate limit's 429 is tests/e2e/test_api_core.py's. Every test ends with nothing in flight, every
SMS read and the ledger check passing (tests/e2e/money.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.api_client import party
from tests.e2e.api_money import api_service, business, pay_code
from tests.e2e.money import KES, PIN, START, MoneyService

APPROVAL_TIMEOUT_S = 2.0
EXPIRY_BOUND_S = APPROVAL_TIMEOUT_S + 15.0  # the worker's look and a loaded machine


@pytest.fixture(scope="module")
def money_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    workdir: Path = tmp_path_factory.mktemp("api_errors")
    with api_service(workdir, approval_timeout_s=APPROVAL_TIMEOUT_S) as service:
        yield service


def refused(answer, status: int, category: str, code: str) -> dict:
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert (error["errorCategory"], error["errorCode"]) == (category, code), error
    return error


def test_a_merchantpay_left_unanswered_expires(money) -> None:
    shop = business(money, "LATE")
    gina = money.customer(START, name="Gina Mutua")
    body = {"amount": "90", "currency": "KES", "debitParty": party(gina.msisdn)}
    started, correlation = time.monotonic(), {"X-CorrelationID": str(uuid.uuid4())}
    state = shop.client.create("merchantpay", body, **correlation)
    code = pay_code(gina.next("the request to pay"))
    replayed = shop.client.create("merchantpay", body, **correlation)  # while it waits
    assert replayed["serverCorrelationId"] == state["serverCorrelationId"]
    expired = shop.client.poll_final(state, timeout_s=EXPIRY_BOUND_S)
    assert time.monotonic() - started >= APPROVAL_TIMEOUT_S  # not before its time
    assert expired["status"] == "failed", expired
    assert (expired["error"]["errorCategory"], expired["error"]["errorCode"]) == (
        "businessRule", "genericError",
    )  # fmt: skip
    # The business learns of the expiry from the request state (and its callback), never by SMS
    # to its phone, whether the API worker or the settler found it first (finish_test checks).
    after = shop.client.create("merchantpay", body, **correlation)  # the same, not a new one
    assert (after["serverCorrelationId"], after["status"]) == (
        state["serverCorrelationId"],
        "failed",
    )
    late = gina.send(f"PAY {code} {PIN}")  # too late: nothing is paid
    assert code in late, late
    assert money.posted(gina.msisdn) == START and money.posted(shop.msisdn) == 0


def test_validation_errors_are_400_and_accept_nothing(money) -> None:
    shop = business(money, "VALID", 1_000 * KES)
    hugo = money.customer(0, name="Hugo Kiprop")
    good = {"amount": "10.00", "currency": "KES", "creditParty": party(hugo.msisdn)}
    path = "/transactions/type/disbursement"
    cases = [
        ({**good, "amount": "10.001"}, "formatError"),
        ({**good, "amount": "ten"}, "formatError"),
        ({**good, "currency": "USD"}, "currencyNotSupported"),
        ({k: v for k, v in good.items() if k != "creditParty"}, "mandatoryValueNotSupplied"),
        ({**good, "creditParty": [{"key": "msisdn", "value": "not a number"}]}, "formatError"),
        ({**good, "surprise": "field"}, "formatError"),
    ]
    for body, code in cases:
        error = refused(shop.client.post(path, body), 400, "validation", code)
        assert error["errorDescription"], error
    refused(shop.client.post(path, b"{not json"), 400, "validation", "formatError")
    bad_callback = {"X-Callback-URL": "ftp://127.0.0.1/cb"}
    refused(shop.client.post(path, good, **bad_callback), 400, "validation", "formatError")
    refused(shop.client.post(path, good, **{"X-CorrelationID": "x" * 300}), 400, "validation",
            "lengthError")  # fmt: skip
    statement = shop.client.get(f"/accounts/msisdn/{shop.msisdn}/statemententries")
    assert statement.headers["X-Records-Available-Count"] == "0"
    refused(shop.client.get(f"/accounts/msisdn/{shop.msisdn}/statemententries?limit=0"), 400,
            "validation", "formatError")  # fmt: skip


def test_identification_and_authorisation_errors(money) -> None:
    shop = business(money, "IDENT")
    other = business(money, "OTHER")
    ivy = money.customer(0, name="Ivy Chebet")
    refused(shop.client.get("/transactions/NOSUCHREF1"), 404, "identification", "genericError")
    refused(
        shop.client.get(f"/accounts/msisdn/{ivy.msisdn}/balance"),
        404,
        "identification",
        "genericError",
    )  # fmt: skip: another account's balance is not the business's to read
    unknown = money.number("2547440")
    refused(shop.client.get(f"/accounts/msisdn/{unknown}/accountname"), 404, "identification",
            "genericError")  # fmt: skip
    state = other.client.create("merchantpay", {
        "amount": "5", "currency": "KES", "debitParty": party(ivy.msisdn),
    })  # fmt: skip
    ivy.send(f"NO {pay_code(ivy.next('the request to pay'))}")
    other.phone.next("the refusal notice")
    other.client.poll_final(state)
    theirs = f"/requeststates/{state['serverCorrelationId']}"
    refused(shop.client.get(theirs), 404, "identification", "genericError")  # not its own
    nobody = shop.client.with_key(None)
    refused(nobody.get(theirs), 401, "authorisation", "clientAuthorisationError")
    refused(shop.client.with_key(shop.key[:-2] + "zz").get(theirs), 401, "authorisation",
            "clientAuthorisationError")  # fmt: skip


def test_business_rule_errors(money) -> None:
    shop = business(money, "RULES", 100 * KES)
    jay = money.customer(START, name="Jay Mwangi")
    kind = shop.client.post("/transactions/type/cashin", {"amount": "1", "currency": "KES"})
    refused(kind, 400, "businessRule", "transactionTypeError")
    too_much = {"amount": "100.01", "currency": "KES", "creditParty": party(jay.msisdn)}
    failed = shop.client.poll_final(shop.client.create("disbursement", too_much))
    assert failed["status"] == "failed"
    assert (failed["error"]["errorCategory"], failed["error"]["errorCode"]) == (
        "businessRule", "insufficientFunds",
    )  # fmt: skip
    stranger = {"amount": "1.00", "currency": "KES", "creditParty": party(money.number("2547450"))}
    unknown = shop.client.poll_final(shop.client.create("disbursement", stranger))
    assert (unknown["status"], unknown["error"]["errorCode"]) == ("failed", "identifierError")
    assert money.posted(shop.msisdn) == 100 * KES and money.posted(jay.msisdn) == START
    # Paid 50 by Jay, the business spends it all, then cannot give Jay's back.
    state = shop.client.create("merchantpay", {
        "amount": "50", "currency": "KES", "debitParty": party(jay.msisdn),
    })  # fmt: skip
    jay.send(f"PAY {pay_code(jay.next('the request to pay'))} {PIN}")
    shop.phone.next("the merchant's notice")
    paid = shop.client.poll_final(state)
    assert paid["status"] == "completed", paid
    everything = shop.client.get(f"/accounts/msisdn/{shop.msisdn}/balance").json()
    spend = {"amount": everything["availableBalance"], "currency": "KES",
             "creditParty": party(jay.msisdn)}  # fmt: skip
    assert shop.client.poll_final(shop.client.create("disbursement", spend))["status"] == (
        "completed"
    )
    jay.next("the disbursement SMS")
    reversal = shop.client.post(f"/transactions/{paid['objectReference']}/reversals",
                                {"type": "reversal"})  # fmt: skip
    assert reversal.status_code == 202, reversal.text
    failed = shop.client.poll_final(reversal.json())
    assert (failed["status"], failed["error"]["errorCode"]) == ("failed", "insufficientFunds")
    assert money.posted(shop.msisdn) == 0


def test_a_request_state_polled_past_its_poll_limit_is_refused(money) -> None:
    shop = business(money, "POLLS", 100 * KES, rate_limit_per_s=1000.0, rate_limit_burst=1000)
    kim = money.customer(0, name="Kim Wekesa")
    correlation_id = str(uuid.uuid4())
    body = {"amount": "5.00", "currency": "KES", "creditParty": party(kim.msisdn)}
    state = shop.client.create("disbursement", body, **{"X-CorrelationID": correlation_id})
    kim.next("the disbursement SMS")
    done = shop.client.poll_final(state)
    path, limit = f"/requeststates/{state['serverCorrelationId']}", done["pollLimit"]
    for _ in range(limit + 1):  # bounded: some polls are spent already
        answer = shop.client.get(path)
        if answer.status_code != 200:
            break
    error = refused(answer, 400, "businessRule", "rateLimitError")
    assert {"key": "pollLimit", "value": str(limit)} in error["errorParameters"], error
    assert shop.client.get(path).status_code == 400  # still refused
    recovered = shop.client.get(f"/responses/{correlation_id}")  # what the refusal advises
    assert recovered.status_code == 200 and "/transactions/" in recovered.json()["link"]
