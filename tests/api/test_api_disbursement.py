"""Disbursements and transfers through the business API: accepted (202), done by the worker (the
money posted, the customer told by SMS, the request completed, its callback queued) in one
transaction; every refusal as the specification's errorCode; idempotent replays."""

from __future__ import annotations

import pytest

from daemon.api.businesses import set_state_txn
from daemon.api.principal import BusinessState
from daemon.chart import wallet_account_id
from daemon.commands import Role
from tests.api.businesses import add_business
from tests.api.tx_helpers import (
    ALICE,
    BOB,
    CALLBACK,
    callbacks,
    done,
    failed,
    pay,
    post,
    request_of,
    requests_count,
    state,
    view,
    wallet,
    wallet_id,
    work,
)
from tests.api.world import ApiWorld

KES = 100


@pytest.fixture
def acme(api_world: ApiWorld):
    business, key = add_business(api_world, balance_minor=100_000 * KES)
    api_world.add(ALICE, name="Alice Wanjiku")
    return business, key


def test_a_disbursement_is_accepted_then_posted_and_the_customer_told(api_world, acme) -> None:
    business, key = acme
    answer = post(api_world, key, "disbursement", pay("1500.00"), "c-1", CALLBACK)
    assert answer.status == 202
    assert answer.body["status"] == "pending"
    assert answer.body["notificationMethod"] == "callback"
    assert api_world.balance(ALICE) == 0  # nothing moves before the worker runs
    response = done(api_world, key, answer)
    assert api_world.balance(ALICE) == 1500 * KES
    assert api_world.balance(business.msisdn) == (100_000 - 1500) * KES
    assert response["type"] == "disbursement"
    assert response["amount"] == "1500.00" and response["transactionStatus"] == "completed"
    ref = response["transactionReference"]
    [sms] = api_world.texts_to(ALICE)
    assert sms.startswith(f"{ref} Confirmed. You have received KES 1,500.00 from ACME LTD")
    assert callbacks(api_world) == [response]
    polled = state(api_world, key, answer)
    assert polled["status"] == "completed" and polled["objectReference"] == ref
    api_world.check()


def test_the_transaction_object_is_read_back(api_world, acme) -> None:
    business, key = acme
    body = pay("20.50", requestingOrganisationTransactionReference="PAYROLL-7",
               descriptionText="December wages")  # fmt: skip
    ref = done(api_world, key, post(api_world, key, "disbursement", body))["transactionReference"]
    answer = view(api_world, key, ref)
    assert answer.status == 200
    got = answer.body
    assert got["requestingOrganisationTransactionReference"] == "PAYROLL-7"
    assert got["descriptionText"] == "December wages"
    assert got["debitParty"][0] == {"key": "msisdn", "value": f"+{business.msisdn}"}
    assert {"key": "walletid", "value": str(wallet_account_id(ALICE))} in got["creditParty"]
    assert got["creationDate"].endswith("Z")
    _, other_key = add_business(api_world, code="OTHER")
    assert view(api_world, other_key, ref).status == 404  # another business's: not found
    assert view(api_world, key, "NOSUCHREF1").status == 404


def test_a_transfer_may_pay_a_merchant_a_disbursement_may_not(api_world, acme) -> None:
    _, key = acme
    shop, _ = add_business(api_world, code="SHOP")
    error = failed(api_world, post(api_world, key, "disbursement", pay(to=shop.msisdn)))
    assert (error["errorCategory"], error["errorCode"]) == ("validation", "identifierError")
    response = done(api_world, key, post(api_world, key, "transfer", pay("5.00", to=shop.msisdn)))
    assert response["type"] == "transfer"
    assert api_world.balance(shop.msisdn) == 5 * KES
    api_world.check()


def test_a_wallet_id_names_the_recipient(api_world, acme) -> None:
    _, key = acme
    body = {"amount": "7", "currency": "KES", "creditParty": wallet_id(ALICE)}
    done(api_world, key, post(api_world, key, "disbursement", body))
    assert api_world.balance(ALICE) == 7 * KES


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (pay("1.005"), "formatError"),
        (pay("-5"), "formatError"),  # the pattern refuses a sign before the amount is read
        (pay("0"), "formatError"),
        ({**pay(), "currency": "USD"}, "currencyNotSupported"),
        ({"amount": "5", "currency": "KES"}, "mandatoryValueNotSupplied"),
        (pay(to="12345"), "formatError"),
        ({**pay(), "creditParty": [{"key": "iban", "value": "X"}]}, "formatError"),
        ({**pay(), "unknownField": 1}, "formatError"),
        ({**pay(), "debitParty": wallet(ALICE)}, "samePartiesError"),
    ],
)
def test_refused_at_once(api_world, acme, body, code) -> None:
    _, key = acme
    answer = post(api_world, key, "disbursement", body)
    assert answer.status == 400
    assert answer.body["errorCode"] == code
    assert requests_count(api_world) == 0


def test_an_unknown_type_is_a_transaction_type_error(api_world, acme) -> None:
    _, key = acme
    answer = post(api_world, key, "inttransfer", pay())
    assert (answer.status, answer.body["errorCode"]) == (400, "transactionTypeError")


def test_without_a_key_nothing_is_accepted(api_world, acme) -> None:
    answer = api_world.http("POST", "/transactions/type/disbursement", pay())
    assert answer.status == 401
    assert requests_count(api_world) == 0


@pytest.mark.parametrize(
    ("setup", "body", "code"),
    [
        ("none", pay(to=BOB), "identifierError"),  # not registered: no voucher
        ("poor", pay("100"), "insufficientFunds"),
        ("none", pay("25000"), "greaterThanTransactionMaxValue"),  # tier 1: 20,000 at most
        ("none", pay("0.50"), "lessThanTransactionMinValue"),
        ("agent", pay(to=BOB), "identifierError"),
        ("frozen", pay(), "genericError"),
        ("rich", pay("100"), "maxBalanceExceeded"),
        ("debit", {**pay(), "debitParty": wallet(BOB)}, "identifierError"),
    ],
)
def test_refused_by_the_worker(api_world, acme, setup, body, code) -> None:
    business, key = acme
    if setup == "poor":
        business, key = add_business(api_world, code="POOR", balance_minor=50 * KES)
    balance_before = api_world.balance(business.msisdn)
    if setup == "agent":
        api_world.add(BOB, role=Role.AGENT)
    if setup == "debit":
        api_world.add(BOB)
    if setup == "frozen":
        with api_world.engine.begin() as conn:
            from daemon.schema import subscribers

            conn.execute(subscribers.update().where(subscribers.c.msisdn == ALICE)
                         .values(state="frozen"))  # fmt: skip
    if setup == "rich":
        api_world.add(BOB, balance_minor=49_950 * KES)
        body = pay("100", to=BOB)
    answer = post(api_world, key, "disbursement", body, callback=CALLBACK)
    assert answer.status == 202
    error = failed(api_world, answer)
    assert error["errorCode"] == code
    assert callbacks(api_world) == [error]  # the failure is called back too
    assert api_world.balance(business.msisdn) == balance_before  # nothing moved
    assert state(api_world, key, answer)["error"]["errorCode"] == code
    api_world.check()


def test_the_daily_limits_of_the_business_tier(api_world, acme) -> None:
    _, key = acme
    for _ in range(2):
        done(api_world, key, post(api_world, key, "disbursement", pay("20000")))
    api_world.add(BOB)
    error = failed(api_world, post(api_world, key, "disbursement", pay("15000", to=BOB)))
    assert error["errorCode"] == "dailyValueLimitExceeded"
    assert error["errorParameters"] == [{"key": "allowed", "value": str(10_000 * KES)}]


def test_a_replay_gets_the_same_request_and_another_body_is_a_duplicate(api_world, acme) -> None:
    _, key = acme
    first = post(api_world, key, "disbursement", pay("10"), "pay-1")
    again = post(api_world, key, "disbursement", pay("10"), "pay-1")
    assert again.status == 202
    assert again.body["serverCorrelationId"] == first.body["serverCorrelationId"]
    done(api_world, key, first)
    after = post(api_world, key, "disbursement", pay("10"), "pay-1")
    assert after.body["status"] == "completed"  # as it stands now
    other = post(api_world, key, "disbursement", pay("11"), "pay-1")
    assert (other.status, other.body["errorCode"]) == (400, "duplicateRequest")
    assert api_world.balance(ALICE) == 10 * KES  # paid once
    assert requests_count(api_world) == 1


def test_a_second_worker_run_posts_nothing_twice(api_world, acme) -> None:
    _, key = acme
    answer = post(api_world, key, "disbursement", pay("10"))
    assert work(api_world)["done"] == 1
    assert work(api_world) == {"done": 0, "failed": 0, "waiting": 0}
    assert api_world.balance(ALICE) == 10 * KES
    assert len(api_world.texts_to(ALICE)) == 1
    assert request_of(api_world, answer).move_id is not None
    api_world.check()


def test_a_crash_before_the_commit_leaves_it_pending_then_done_once(
    api_world, acme, monkeypatch
) -> None:
    _, key = acme
    answer = post(api_world, key, "disbursement", pay("10"), callback=CALLBACK)
    import daemon.api.lifecycle as lifecycle

    real = lifecycle.queue_callback_txn

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the posting, before the commit

    monkeypatch.setattr(lifecycle, "queue_callback_txn", crash)
    with pytest.raises(KeyboardInterrupt):
        work(api_world)
    assert request_of(api_world, answer).state.value == "pending"
    assert api_world.balance(ALICE) == 0 and api_world.texts_to(ALICE) == []
    monkeypatch.setattr(lifecycle, "queue_callback_txn", real)
    done(api_world, key, answer)
    assert api_world.balance(ALICE) == 10 * KES
    assert len(api_world.texts_to(ALICE)) == 1 and len(callbacks(api_world)) == 1
    api_world.check()


def test_a_request_finished_meanwhile_is_not_posted_again(api_world, acme) -> None:
    _, key = acme
    answer = post(api_world, key, "disbursement", pay("10"))
    stale = request_of(api_world, answer)
    work(api_world)
    from daemon.api.worker import run_one_txn

    with api_world.engine.begin() as conn:  # a second worker that read it before the first ended
        assert run_one_txn(conn, api_world.config, stale, api_world.now_ns) == "done"
    assert api_world.balance(ALICE) == 10 * KES
    api_world.check()


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "http://example.com/hook", "https://u:p@example.com/"]
)
def test_a_callback_url_the_engine_would_not_use_is_refused(api_world, acme, url) -> None:
    _, key = acme
    answer = post(api_world, key, "disbursement", pay(), callback=url)
    assert (answer.status, answer.body["errorCode"]) == (400, "formatError")
    assert answer.body["errorParameters"] == [{"key": "field", "value": "X-Callback-URL"}]
    assert requests_count(api_world) == 0


def test_a_correlation_id_too_long_is_refused(api_world, acme) -> None:
    _, key = acme
    answer = post(api_world, key, "disbursement", pay(), "x" * 257)
    assert (answer.status, answer.body["errorCode"]) == (400, "lengthError")


def test_a_lost_response_is_recovered_by_its_correlation_id(api_world, acme) -> None:
    business, key = acme
    body = {**pay("3"), "debitParty": wallet(business.msisdn)}  # its own account, named
    answer = post(api_world, key, "disbursement", body, "lost-1")
    pending = api_world.http("GET", "/responses/lost-1", headers={"X-API-Key": key}).body
    assert pending["link"].endswith(f"/requeststates/{answer.body['serverCorrelationId']}")
    ref = done(api_world, key, answer)["transactionReference"]
    link = api_world.http("GET", "/responses/lost-1", headers={"X-API-Key": key}).body["link"]
    assert link.endswith(f"/transactions/{ref}")
    path = link[link.index("/transactions/") :]
    assert api_world.http("GET", path, headers={"X-API-Key": key}).body["amount"] == "3.00"


def test_another_business_sees_none_of_what_the_payer_sent(api_world, acme) -> None:
    business, key = acme
    shop, shop_key = add_business(api_world, code="SHOP")
    body = pay("5.00", to=shop.msisdn, requestingOrganisationTransactionReference="acme-0007",
               descriptionText="secret deal", subType="internal",
               metadata=[{"key": "invoice", "value": "INV-secret-42"}])  # fmt: skip
    ref = done(api_world, key, post(api_world, key, "transfer", body))["transactionReference"]
    own = view(api_world, key, ref).body
    assert own["metadata"] == [{"key": "invoice", "value": "INV-secret-42"}]
    theirs = view(api_world, shop_key, ref)
    assert theirs.status == 200  # the payee sees the payment, not the payer's own fields
    for name in ("requestingOrganisationTransactionReference", "descriptionText", "subType",
                 "metadata", "requestDate"):  # fmt: skip
        assert name not in theirs.body
    path = f"/accounts/msisdn/{shop.msisdn}/statemententries"
    entries = api_world.http("GET", path, headers={"X-API-Key": shop_key}).body
    assert [entry["transactionReference"] for entry in entries] == [ref]
    assert "descriptionText" not in entries[0]
    path = f"/accounts/msisdn/{business.msisdn}/statemententries"
    entries = api_world.http("GET", path, headers={"X-API-Key": key}).body
    assert entries[0]["descriptionText"] == "secret deal"  # the payer's own statement keeps it


def test_a_business_suspended_after_accepting_pays_nothing(api_world, acme) -> None:
    business, key = acme
    answer = post(api_world, key, "disbursement", pay("10.00"), "c-s", CALLBACK)
    with api_world.engine.begin() as conn:
        set_state_txn(conn, business.code, BusinessState.SUSPENDED, api_world.now_ns)
    error = failed(api_world, answer)
    assert (error["errorCategory"], error["errorCode"]) == (
        "authorisation", "clientAuthorisationError",
    )  # fmt: skip
    assert api_world.balance(ALICE) == 0
    assert callbacks(api_world) == [error]


def test_a_replay_with_another_callback_url_is_a_duplicate(api_world, acme) -> None:
    _, key = acme
    first = post(api_world, key, "disbursement", pay("10"), "pay-cb", CALLBACK)
    same = post(api_world, key, "disbursement", pay("10"), "pay-cb", CALLBACK)
    assert same.body["serverCorrelationId"] == first.body["serverCorrelationId"]
    for other in ("http://127.0.0.1:9/elsewhere", None):  # the URL is part of what was asked
        answer = post(api_world, key, "disbursement", pay("10"), "pay-cb", other)
        assert (answer.status, answer.body["errorCode"]) == (400, "duplicateRequest")
    assert requests_count(api_world) == 1


@pytest.mark.parametrize("cid", ["café-1", "tab\tid", "é" * 10])
def test_a_correlation_id_not_printable_ascii_is_refused(api_world, acme, cid) -> None:
    _, key = acme
    answer = post(api_world, key, "disbursement", pay("10"), cid.encode().decode("latin-1"))
    assert (answer.status, answer.body["errorCode"]) == (400, "formatError")
    assert requests_count(api_world) == 0


def test_the_specifications_optional_fields_are_accepted(api_world, acme) -> None:
    _, key = acme
    kyc = {"nationality": "KE", "idDocument": [{"idType": "nationalidcard", "idNumber": "1234"}]}
    spec_fields = {
        "fees": [{"feeType": "transaction", "feeAmount": "0.00", "feeCurrency": "KES"}],
        "geoCode": "-1.2921,36.8219", "oneTimeCode": "991122", "senderKyc": kyc,
        "recipientKyc": kyc, "requestingLei": "5493001KJTIIGC8Y1R12",
        "receivingLei": "5493001KJTIIGC8Y1R12",
        "requestingOrganisation": {"requestingOrganisationIdentifierType": "organisationid",
                                   "requestingOrganisationIdentifier": "ACME-HQ"},
        "internationalTransferInformation": {"originCountry": "KE"},
    }  # fmt: skip
    answer = post(api_world, key, "disbursement", pay("10", **spec_fields))
    assert answer.status == 202, answer.body
    done(api_world, key, answer)
    stored = request_of(api_world, answer).body
    assert stored["geoCode"] == "-1.2921,36.8219"
    for secret in ("oneTimeCode", "senderKyc", "recipientKyc"):  # parsed, never kept
        assert secret not in stored
    unknown = post(api_world, key, "disbursement", pay("10", notInTheSpec=1))
    assert (unknown.status, unknown.body["errorCode"]) == (400, "formatError")
    bad = post(api_world, key, "disbursement", pay("10", requestingLei="X" * 21))
    assert bad.status == 400
