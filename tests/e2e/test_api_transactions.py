"""The Transactions API end to end: the real daemon and simulator over 127.0.0.1, an independent
HTTP client (`requests`), the customers' phones reading what they get. A disbursement posted and
the customer told; a merchant-initiated payment approved with the PIN from the phone, another
refused; the business's balance and statement. Every test ends with nothing in flight, every SMS
read and `smscore ledger check` passing (tests/e2e/money.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import insert

from daemon.api.businesses import add_key_txn, create_business_txn
from daemon.api.principal import KeyScope
from daemon.chart import deposit_txn, new_transfer_id, wallet_account_id
from daemon.components import pin_hasher
from daemon.schema import tills
from tests.e2e import money as e2e_money
from tests.e2e.api_client import ApiClient
from tests.e2e.harness import SHORT_CODE, wait_for
from tests.e2e.money import KES, PIN, START, MoneyService, Phone, kes

TIMEOUT_S = 10
_CODE = re.compile(r"PAY (R\d+) PIN")


@pytest.fixture(scope="module")
def money_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    """The module's daemon, as tests/e2e/conftest.py's but with the number the API's SMS come
    from (no MO to answer: [sender] source_addr)."""
    plain = e2e_money.money_settings

    def settings() -> dict:
        return {**plain(), "sender": {"source_addr": SHORT_CODE}}

    workdir: Path = tmp_path_factory.mktemp("api_transactions")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(e2e_money, "money_settings", settings)
        service = MoneyService.start(workdir, f"sqlite:///{workdir / 'money.db'}")
    try:
        yield service
    finally:
        assert service.stop() == 0, service.daemon.log()


def business(money: MoneyService, code: str, balance_minor: int = 0) -> tuple[Phone, str]:
    """A business (its wallet funded, a till to take merchantpay) and a key: (its phone, key)."""
    msisdn = money.number("2547330")
    now_ns = time.time_ns()
    config = money.config
    with money.engine.begin() as conn:
        created = create_business_txn(
            conn, code=code, name=f"{code} Ltd", msisdn=msisdn, currency="KES", now_ns=now_ns,
            hasher=pin_hasher(config), actor="e2e",
        )  # fmt: skip
        key, _ = add_key_txn(conn, created.id, "e2e", KeyScope.BOTH, now_ns, actor="e2e")
        conn.execute(insert(tills).values(
            till_number=money.agent_number(), msisdn=msisdn, name=f"{code} Shop",
            state="active", created_at_ns=now_ns, created_by="e2e",
        ))  # fmt: skip
        if balance_minor:
            deposit_txn(conn, wallet_account_id(msisdn), balance_minor, "KES", now_ns,
                        transfer_id=new_transfer_id(), user_data="e2e")  # fmt: skip
    return money.phone(msisdn), key  # its own phone: told of payments to its till


def api(money: MoneyService) -> str:
    return f"http://{money.config.api.listen}"


def post(money: MoneyService, key: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return ApiClient(api(money), key).create(kind, body)  # checked against /openapi.json


def get(money: MoneyService, key: str, path: str) -> requests.Response:
    return ApiClient(api(money), key).get(path)


def final(money: MoneyService, key: str, state: dict[str, Any]) -> dict[str, Any]:
    """The request state once it is no longer pending (polled as a client would)."""
    path = f"/requeststates/{state['serverCorrelationId']}"

    def finished() -> dict[str, Any] | None:
        polled = get(money, key, path).json()
        return polled if polled["status"] != "pending" else None

    return wait_for(finished, TIMEOUT_S, "the request to finish", interval_s=0.2)


def waiting_for(money: MoneyService, key: str, state: dict[str, Any], reason: str) -> None:
    path = f"/requeststates/{state['serverCorrelationId']}"
    wait_for(lambda: reason in get(money, key, path).json().get("pendingReason", ""), TIMEOUT_S,
             "the request to wait for the customer", interval_s=0.2)  # fmt: skip


def party(msisdn: str) -> list[dict[str, str]]:
    return [{"key": "msisdn", "value": f"+{msisdn}"}]


def test_a_disbursement_over_http(money) -> None:
    shop, key = business(money, "PAYR", 10_000 * KES)
    alice = money.customer(0, name="Alice Atieno")
    state = post(
        money,
        key,
        "disbursement",
        {"amount": "250.00", "currency": "KES", "creditParty": party(alice.msisdn)},
    )
    done = final(money, key, state)
    assert done["status"] == "completed"
    told = alice.next("the disbursement SMS")
    assert f"You have received {kes(250 * KES)} from PAYR LTD" in told
    got = get(money, key, f"/transactions/{done['objectReference']}").json()
    assert got["type"] == "disbursement" and got["transactionStatus"] == "completed"
    balance = get(money, key, f"/accounts/msisdn/{shop.msisdn}/balance").json()
    assert balance["availableBalance"] == "9750.00"
    statement = get(money, key, f"/accounts/msisdn/{shop.msisdn}/statemententries")
    assert statement.headers["X-Records-Available-Count"] == "1"


def test_a_merchant_initiated_payment_approved_and_refused(money) -> None:
    shop, key = business(money, "STKP")
    alice = money.customer(START, name="Alice Atieno")
    body = {"amount": "120", "currency": "KES", "debitParty": party(alice.msisdn)}
    state = post(money, key, "merchantpay", body)
    asked = alice.next("the request to pay")
    assert "STKP SHOP" in asked and kes(120 * KES) in asked
    code = _CODE.search(asked).group(1)
    waiting_for(money, key, state, "approve")
    alice.send(f"PAY {code} {PIN}")
    shop.next("the merchant's notice")
    done = final(money, key, state)
    assert done["status"] == "completed"
    refused = post(money, key, "merchantpay", body)
    code = _CODE.search(alice.next("the second request")).group(1)
    waiting_for(money, key, refused, "approve")
    alice.send(f"NO {code}")
    shop.next("the refusal notice")
    failed = final(money, key, refused)
    assert failed["status"] == "failed" and failed["error"]["errorCode"] == "requestDeclined"
