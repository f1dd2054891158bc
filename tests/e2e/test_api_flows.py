"""The business API's flows over real HTTP (127.0.0.1, `requests`, every answer checked against the
served OpenAPI document by tests/e2e/api_client.py), against ONE real daemon and simulator for the
module: a transfer and a bill payment posted and read back, the statement paged with limit/offset
and its X-Records-* headers, the name lookup, the balance; idempotent replays (the same body: the
same request; another body: duplicateRequest); a lost response recovered through
/responses/{clientCorrelationId}; a merchantpay received and reversed (refunded at once); a
callback to a receiver that was down for a while, delivered once. Every test ends with nothing in
flight, every SMS read and the ledger check passing (tests/e2e/money.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.admin.cli import admin
from daemon.schema import api_callbacks
from tests.e2e.api_client import party
from tests.e2e.api_money import CALLBACKS, api_service, business, pay_code
from tests.e2e.harness import free_port, wait_for
from tests.e2e.money import KES, PIN, START, MoneyService, kes
from tests.e2e.test_api_callbacks import Receiver

KPLC_ACCOUNT = "12345674"  # digits:8 with its Luhn check digit


@pytest.fixture(scope="module")
def money_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    workdir: Path = tmp_path_factory.mktemp("api_flows")
    with api_service(workdir, **CALLBACKS) as service:
        staff(service, "biller", "add", "KPLC", "--name", "Kenya Power",
              "--account-rule", "digits:8,luhn", "--actor", "e2e")  # fmt: skip
        yield service


def staff(money: MoneyService, *args: str) -> str:
    """`smscore admin ...` with the daemon's own config (its database and state dir)."""
    result = CliRunner().invoke(admin, [*args, "--config", str(money.daemon.config_path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_transfer_and_a_bill_payment_read_back_and_paged(money) -> None:
    shop = business(money, "FLOW", 5_000 * KES)
    bob = money.customer(0, name="Bob Otieno")
    looked_up = shop.client.get(f"/accounts/msisdn/{bob.msisdn}/accountname")
    assert looked_up.status_code == 200 and looked_up.json()["name"]["fullName"] == "BOB O."
    body = {"amount": "300.00", "currency": "KES", "creditParty": party(bob.msisdn)}
    sent = shop.client.poll_final(shop.client.create("transfer", body))
    assert sent["status"] == "completed", sent
    assert f"You have received {kes(300 * KES)} from FLOW LTD" in bob.next("the transfer SMS")
    bill = {"amount": "200.00", "currency": "KES", "creditParty": [
        {"key": "serviceprovider", "value": "KPLC"}, {"key": "consumerno", "value": KPLC_ACCOUNT},
    ]}  # fmt: skip
    paid = shop.client.poll_final(shop.client.create("billpay", bill))
    assert paid["status"] == "completed", paid
    for state, kind, amount in ((sent, "transfer", "300.00"), (paid, "billpay", "200.00")):
        got = shop.client.get(f"/transactions/{state['objectReference']}")
        assert got.status_code == 200
        view = got.json()
        assert (view["type"], view["transactionStatus"], view["amount"]) == (
            kind, "completed", amount,
        )  # fmt: skip
    fee = money.tariff.fee_minor("PAY", 200 * KES, biller="KPLC")
    balance = shop.client.get(f"/accounts/msisdn/{shop.msisdn}/balance").json()
    left = 5_000 * KES - 500 * KES - fee
    assert balance["availableBalance"] == f"{left // KES}.{left % KES:02d}"
    statement = f"/accounts/msisdn/{shop.msisdn}/statemententries"
    whole = shop.client.get(statement)
    assert whole.headers["X-Records-Available-Count"] == "2"
    newest, oldest = (entry["transactionReference"] for entry in whole.json())
    assert (newest, oldest) == (paid["objectReference"], sent["objectReference"])
    second = shop.client.get(statement + "?limit=1&offset=1")
    assert second.headers["X-Records-Available-Count"] == "2"
    assert second.headers["X-Records-Returned-Count"] == "1"
    assert [entry["transactionReference"] for entry in second.json()] == [oldest]


def test_a_replay_with_the_same_body_is_the_same_request_another_is_refused(money) -> None:
    shop = business(money, "IDEM", 1_000 * KES)
    carol = money.customer(0, name="Carol Achieng")
    path, correlation_id = "/transactions/type/disbursement", str(uuid.uuid4())
    body = {"amount": "100.00", "currency": "KES", "creditParty": party(carol.msisdn)}
    first = shop.client.post(path, body, correlation_id)
    assert first.status_code == 202
    done = shop.client.poll_final(first.json())
    assert done["status"] == "completed"
    carol.next("the disbursement SMS")
    again = shop.client.post(path, body, correlation_id)
    assert again.status_code == 202
    replayed = again.json()
    assert replayed["serverCorrelationId"] == first.json()["serverCorrelationId"]
    assert (replayed["status"], replayed["objectReference"]) == (
        "completed",
        done["objectReference"],
    )
    other = shop.client.post(path, {**body, "amount": "101.00"}, correlation_id)
    assert other.status_code == 400
    refused = other.json()
    assert (refused["errorCategory"], refused["errorCode"]) == ("businessRule", "duplicateRequest")
    statement = shop.client.get(f"/accounts/msisdn/{shop.msisdn}/statemententries")
    assert statement.headers["X-Records-Available-Count"] == "1"  # paid once
    assert money.posted(carol.msisdn) == 100 * KES


def test_a_lost_response_is_recovered_through_responses(money) -> None:
    shop = business(money, "LOSTR", 1_000 * KES)
    dan = money.customer(0, name="Dan Kamau")
    correlation_id = str(uuid.uuid4())
    body = {"amount": "50.00", "currency": "KES", "creditParty": party(dan.msisdn)}
    shop.client.post("/transactions/type/disbursement", body, correlation_id)  # the answer lost
    dan.next("the disbursement SMS")

    def linked() -> str | None:
        answer = shop.client.get(f"/responses/{correlation_id}")
        assert answer.status_code == 200, answer.text
        link = answer.json()["link"]  # an absolute URL, at this daemon's address
        assert link.startswith(shop.client.base_url + "/"), link
        path = link.removeprefix(shop.client.base_url)
        return path if path.startswith("/transactions/") else None

    link = wait_for(linked, 10, "the response to link to the transaction", interval_s=0.2)
    got = shop.client.get(link)
    assert got.status_code == 200
    assert (got.json()["type"], got.json()["amount"]) == ("disbursement", "50.00")
    other = shop.client.get(f"/responses/{uuid.uuid4()}")
    assert (other.status_code, other.json()["errorCategory"]) == (404, "identification")


def test_a_merchantpay_received_is_reversed_at_once(money) -> None:
    shop = business(money, "REFD", 1_000 * KES)  # a refund gives back the gross: fees are its cost
    erin = money.customer(START, name="Erin Njeri")
    body = {"amount": "400", "currency": "KES", "debitParty": party(erin.msisdn)}
    state = shop.client.create("merchantpay", body)
    erin.send(f"PAY {pay_code(erin.next('the request to pay'))} {PIN}")
    shop.phone.next("the merchant's notice")
    paid = shop.client.poll_final(state)
    assert paid["status"] == "completed", paid
    ref = paid["objectReference"]
    paid_out = START - money.posted(erin.msisdn)
    reversal = shop.client.post(f"/transactions/{ref}/reversals", {"type": "reversal"})
    assert reversal.status_code == 202, reversal.text
    done = shop.client.poll_final(reversal.json())
    assert done["status"] == "completed", done
    told = erin.next("the refund SMS")
    assert "REFD LTD refunded you" in told and ref in told
    refunded = START - money.posted(erin.msisdn)
    assert refunded == paid_out - 400 * KES  # the whole principal back; the fee stays paid
    assert money.posted(shop.msisdn) < 1_000 * KES  # the merchant fee is the business's cost
    twice = shop.client.post(f"/transactions/{ref}/reversals", {"type": "reversal"})
    again = shop.client.poll_final(twice.json()) if twice.status_code == 202 else twice.json()
    assert again.get("status", "failed") == "failed", again  # reversed once only
    assert START - money.posted(erin.msisdn) == refunded


def test_a_callback_reaches_a_receiver_that_was_down_a_while(money) -> None:
    shop = business(money, "CALLB", 1_000 * KES)
    fay = money.customer(0, name="Fay Wambui")
    receiver = Receiver(free_port())  # nothing listens there yet: the PUTs are refused
    url = f"http://127.0.0.1:{receiver.port}/callbacks"
    body = {"amount": "70.00", "currency": "KES", "creditParty": party(fay.msisdn)}
    state = shop.client.create("disbursement", body, **{"X-Callback-URL": url})
    fay.next("the disbursement SMS")

    def row():
        with money.engine.connect() as conn:
            return conn.execute(select(api_callbacks).where(api_callbacks.c.url == url)).first()

    def refused_twice():  # pending again: the second attempt is over, not under way
        found = row()
        return found is not None and found.state == "pending" and found.attempts >= 2 and found

    refused = wait_for(refused_twice, 20, "2 refused attempts")
    assert refused.last_status is None and receiver.received == []
    receiver.start()
    try:
        wait_for(lambda: row().state == "delivered", 20, "the callback delivered")
    finally:
        receiver.stop()
    [(headers, raw)] = receiver.received  # once
    delivered = json.loads(raw)
    done = shop.client.poll_final(state)
    assert delivered["transactionReference"] == done["objectReference"]
    assert delivered["transactionStatus"] == "completed"
    secret_hex = staff(money, "business", "secret", "CALLB", "--actor", "ops").splitlines()[-1]
    signed = headers["x-date"].encode() + b"\n" + raw  # the date is signed too (no replays)
    digest = hmac.new(bytes.fromhex(secret_hex), signed, hashlib.sha256).hexdigest()
    assert headers["x-signature"] == f"sha256={digest}"


def _disbursed_and_reversal_asked(money, shop, amount: str) -> tuple[str, dict, object]:
    """A disbursement to a new customer, and its reversal asked: (ref, the waiting state, phone)."""
    leo = money.customer(0, name="Leo Barasa")
    body = {"amount": amount, "currency": "KES", "creditParty": party(leo.msisdn)}
    paid = shop.client.poll_final(shop.client.create("disbursement", body))
    leo.next("the disbursement SMS")
    ref = paid["objectReference"]
    asked = shop.client.post(f"/transactions/{ref}/reversals", {"type": "reversal"})
    assert asked.status_code == 202, asked.text
    waiting = shop.client.poll_until(
        asked.json(), lambda found: bool(found.get("pendingReason")), "the reversal held"
    )
    assert waiting["status"] == "pending", waiting
    assert ref in leo.next("the hold notice")
    return ref, waiting, leo


def test_a_reversal_of_a_payment_made_waits_for_staff(money) -> None:
    shop = business(money, "UNDO", 1_000 * KES)
    ref, waiting, leo = _disbursed_and_reversal_asked(money, shop, "120.00")
    staff(money, "reversals", "approve", ref, "--note", "paid twice", "--actor", "ops")
    done = shop.client.poll_final(waiting, timeout_s=20)
    assert done["status"] == "completed", done
    leo.next("the reversal notice")
    assert f"Reversal of {ref}" in shop.phone.next("the business's refund notice")
    assert money.posted(leo.msisdn) == 0 and money.posted(shop.msisdn) == 1_000 * KES
    ref, waiting, mia = _disbursed_and_reversal_asked(money, shop, "80.00")
    staff(money, "reversals", "reject", ref, "--reason", "the customer has it", "--actor", "ops")
    declined = shop.client.poll_final(waiting, timeout_s=20)
    assert (declined["status"], declined["error"]["errorCode"]) == ("failed", "requestDeclined")
    mia.next("the release notice")
    assert f"reverse {ref}" in shop.phone.next("the business's refusal notice")
    assert money.posted(mia.msisdn) == 80 * KES
