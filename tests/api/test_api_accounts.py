"""The Accounts API: the business's own balance and statement (paged, with the record counts),
and the name lookup before paying."""

from __future__ import annotations

import pytest

from daemon.api.errors import iso_time
from daemon.chart import wallet_account_id
from daemon.commands import Role
from tests.api.businesses import add_business
from tests.api.tx_helpers import ALICE, BOB, add_till, done, pay, post
from tests.api.world import ApiWorld

KES = 100


@pytest.fixture
def acme(api_world: ApiWorld):
    return add_business(api_world, balance_minor=1000 * KES)


def get(world: ApiWorld, key: str, path: str):
    return world.http("GET", path, headers={"X-API-Key": key})


def test_the_business_reads_its_own_balance(api_world, acme) -> None:
    business, key = acme
    answer = get(api_world, key, f"/accounts/msisdn/+{business.msisdn}/balance")
    assert answer.status == 200
    assert answer.body == {
        "accountStatus": "available",
        "currentBalance": "1000.00",
        "availableBalance": "1000.00",
        "reservedBalance": "0.00",
        "unclearedBalance": "0.00",
        "currency": "KES",
    }
    by_id = get(api_world, key, f"/accounts/walletid/{wallet_account_id(business.msisdn)}/balance")
    assert by_id.body == answer.body


def test_another_account_balance_is_not_found(api_world, acme) -> None:
    _, key = acme
    api_world.add(ALICE, balance_minor=5 * KES)
    answer = get(api_world, key, f"/accounts/msisdn/{ALICE}/balance")
    assert answer.status == 404
    assert answer.body["errorCategory"] == "identification"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/accounts/iban/DE00/balance", 400, "formatError"),
        ("/accounts/msisdn/12/balance", 400, "formatError"),
        ("/accounts/walletid/abc/balance", 400, "formatError"),
    ],
)
def test_an_identifier_not_of_ours(api_world, acme, path, status, code) -> None:
    _, key = acme
    answer = get(api_world, key, path)
    assert (answer.status, answer.body["errorCode"]) == (status, code)


def test_the_name_lookup_shows_the_short_name(api_world, acme) -> None:
    _, key = acme
    api_world.add(ALICE, name="Alice Wanjiku Kamau")
    answer = get(api_world, key, "/accounts/msisdn/0711000001/accountname")
    assert answer.status == 200
    assert answer.body == {"name": {"firstName": "ALICE", "fullName": "ALICE K."}}
    shop, _ = add_business(api_world, code="SHOP")
    add_till(api_world, shop.msisdn, name="Mama Mboga")
    till = get(api_world, key, f"/accounts/msisdn/{shop.msisdn}/accountname").body
    assert till["name"]["fullName"] == "MAMA MBOGA"


def test_the_name_of_nobody_or_an_agent_is_not_found(api_world, acme) -> None:
    _, key = acme
    api_world.add(BOB, role=Role.AGENT, name="Bob Store")
    assert get(api_world, key, f"/accounts/msisdn/{BOB}/accountname").status == 404
    assert get(api_world, key, f"/accounts/msisdn/{ALICE}/accountname").status == 404


def test_the_statement_pages_newest_first_with_the_counts(api_world, acme) -> None:
    business, key = acme
    api_world.add(ALICE)
    refs = []
    for amount in ("1", "2", "3"):
        refs.append(done(api_world, key, post(api_world, key, "disbursement", pay(amount)))[
            "transactionReference"
        ])  # fmt: skip
        api_world.advance(60)
    path = f"/accounts/msisdn/{business.msisdn}/statemententries"
    answer = get(api_world, key, f"{path}?limit=2")
    assert answer.status == 200
    assert [entry["transactionReference"] for entry in answer.body] == refs[::-1][:2]
    assert answer.headers["x-records-available-count"] == "3"
    assert answer.headers["x-records-returned-count"] == "2"
    assert answer.body[0]["displayType"] == "disbursement out"
    rest = get(api_world, key, f"{path}?limit=2&offset=2")
    assert [entry["transactionReference"] for entry in rest.body] == refs[:1]
    since = iso_time(api_world.now_ns - 90 * 10**9)
    recent = get(api_world, key, f"{path}?fromDateTime={since}")
    assert [entry["transactionReference"] for entry in recent.body] == refs[2:]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "offset=-1", "fromDateTime=yesterday",
                                   "colour=red"])  # fmt: skip
def test_a_bad_statement_query_is_refused(api_world, acme, query) -> None:
    business, key = acme
    path = f"/accounts/msisdn/{business.msisdn}/statemententries?{query}"
    answer = get(api_world, key, path)
    assert (answer.status, answer.body["errorCode"]) == (400, "formatError")


def test_another_account_statement_is_not_found(api_world, acme) -> None:
    _, key = acme
    api_world.add(ALICE)
    assert get(api_world, key, f"/accounts/msisdn/{ALICE}/statemententries").status == 404
