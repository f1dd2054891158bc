"""Businesses and their keys (daemon.api.businesses): the merchant behind each, keys shown once and
stored as digests, revocation, suspension, allowed addresses and rate limits, each change audited."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from daemon.api.businesses import (
    BusinessError,
    KeyState,
    add_key_txn,
    create_business_txn,
    find_key_txn,
    get_business_txn,
    ip_allowed,
    keys_of_txn,
    normal_code,
    parse_cidrs,
    revoke_key_txn,
    set_allowed_ips_txn,
    set_rate_limit_txn,
    set_state_txn,
    split_key,
)
from daemon.api.principal import BusinessState, KeyScope
from daemon.audit import list_txn
from daemon.chart import wallet_account_id
from daemon.commands import Role
from daemon.schema import api_keys
from ledger import get_accounts
from ledger.model import AccountCode
from tests.api.businesses import add_business, business_msisdn
from tests.api.world import ApiWorld
from tests.daemon.money_world import HASHER

MSISDN = "254790000001"


def _create(world: ApiWorld, code: str = "ACME", msisdn: str = MSISDN, **fields):
    with world.engine.begin() as conn:
        return create_business_txn(
            conn, code=code, name="Acme Ltd", msisdn=msisdn, currency="KES",
            now_ns=world.now_ns, hasher=HASHER, actor="ops", **fields,
        )  # fmt: skip


def _audit(world: ApiWorld, code: str = "ACME") -> list[tuple[str, str, str]]:
    with world.engine.begin() as conn:
        entries = list_txn(conn, target=f"business:{code}")
    return [(e.actor, e.action, e.detail) for e in reversed(entries)]


def test_a_business_is_a_merchant_with_a_merchant_wallet(api_world: ApiWorld) -> None:
    business = _create(api_world)
    assert (business.code, business.msisdn, business.state) == ("ACME", MSISDN, "active")
    merchant = api_world.subscriber(MSISDN)
    assert merchant is not None and merchant.role is Role.BILLER and merchant.pin_hmac is None
    with api_world.engine.begin() as conn:
        wallet = get_accounts(conn, [wallet_account_id(MSISDN)])[wallet_account_id(MSISDN)]
    assert wallet.code == AccountCode.MERCHANT_WALLET
    assert _audit(api_world) == [("ops", "business.add", f"name 'Acme Ltd', account {MSISDN}")]


def test_an_existing_merchant_becomes_a_business_but_a_customer_does_not(
    api_world: ApiWorld,
) -> None:
    api_world.add(MSISDN, role=Role.BILLER, balance_minor=500)
    assert _create(api_world).msisdn == MSISDN
    assert api_world.balance(MSISDN) == 500
    api_world.add("254790000002")
    with pytest.raises(BusinessError, match="registered as customer: a business needs a merchant"):
        _create(api_world, "BETA", "254790000002")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"code": "a"}, "2 to 32 letters and digits"),
        ({"code": "9LIVES"}, "a letter first"),
        ({"rate_limit_per_s": 5.0}, "a rate and a burst, or neither"),
        ({"rate_limit_per_s": 0.0, "rate_limit_burst": 1}, "rate 0-100000/s"),
        ({"allowed_ips": ["10.0.0.0/33"]}, "not an address or CIDR"),
    ],
)
def test_bad_values_are_refused_in_one_line(api_world: ApiWorld, fields, problem) -> None:
    with pytest.raises(BusinessError, match=problem):
        _create(api_world, **fields)
    assert api_world.subscriber(MSISDN) is None  # nothing made


def test_codes_and_accounts_are_one_business_each(api_world: ApiWorld) -> None:
    _create(api_world, "acme")
    with pytest.raises(BusinessError, match="business ACME exists already"):
        _create(api_world, "ACME", "254790000009")
    with pytest.raises(BusinessError, match="already the account of another business"):
        _create(api_world, "BETA")


def test_a_key_is_shown_once_and_stored_as_its_digest(api_world: ApiWorld) -> None:
    business = _create(api_world)
    with api_world.engine.begin() as conn:
        key_text, key_id = add_key_txn(conn, business.id, "payroll", KeyScope.MAKER,
                                       api_world.now_ns, actor="ops")  # fmt: skip
        stored = conn.execute(select(api_keys)).one()
    assert key_text.startswith(f"smk_{key_id}_") and split_key(key_text) == key_id
    assert bytes(stored.key_digest) == hashlib.sha256(key_text.encode()).digest()
    assert key_text.rsplit("_", 1)[1] not in str(tuple(stored))
    assert (stored.label, stored.scope, stored.state) == ("payroll", "maker", "active")
    assert _audit(api_world)[-1] == ("ops", "business.key_add", f"key {key_id} (maker) 'payroll'")
    assert key_text not in str(_audit(api_world))


def test_a_key_is_found_by_its_whole_text_only(api_world: ApiWorld) -> None:
    business, key_text = add_business(api_world, scope=KeyScope.CHECKER)
    with api_world.engine.begin() as conn:
        found = find_key_txn(conn, key_text)
        assert found is not None
        assert (found.key.key_id, found.key.scope) == (business.key_id, KeyScope.CHECKER)
        assert found.business.code == "ACME"
        assert find_key_txn(conn, key_text[:-2] + "xx") is None
        assert find_key_txn(conn, f"smk_{'0' * 16}_{key_text.rsplit('_', 1)[1]}") is None


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=100))
def test_split_key_never_takes_a_malformed_text(text: str) -> None:
    key_id = split_key(text)
    if key_id is not None:
        assert text.startswith(f"smk_{key_id}_") and len(text) == 4 + 16 + 1 + 43


def test_revoking_a_key_keeps_the_others(api_world: ApiWorld) -> None:
    business, first = add_business(api_world)
    with api_world.engine.begin() as conn:
        second, second_id = add_key_txn(conn, business.id, "b", KeyScope.BOTH, api_world.now_ns)
        revoke_key_txn(conn, business.key_id, api_world.now_ns, "ops")
        states = {k.key_id: k.state for k in keys_of_txn(conn, business.id)}
        assert find_key_txn(conn, second) is not None
        assert find_key_txn(conn, first).key.state is KeyState.REVOKED
        with pytest.raises(BusinessError, match="revoked already"):
            revoke_key_txn(conn, business.key_id, api_world.now_ns, "ops")
        with pytest.raises(BusinessError, match="no API key nope"):
            revoke_key_txn(conn, "nope", api_world.now_ns, "ops")
    assert states == {business.key_id: KeyState.REVOKED, second_id: KeyState.ACTIVE}
    assert _audit(api_world)[-1] == ("ops", "business.key_revoke", f"key {business.key_id}")


def test_suspend_reinstate_allowed_ips_and_rate_are_audited(api_world: ApiWorld) -> None:
    _create(api_world)
    now = api_world.now_ns
    with api_world.engine.begin() as conn:
        assert set_state_txn(conn, "ACME", BusinessState.SUSPENDED, now, "ops").state == "suspended"
        with pytest.raises(BusinessError, match="suspended already"):
            set_state_txn(conn, "ACME", BusinessState.SUSPENDED, now, "ops")
        set_state_txn(conn, "ACME", BusinessState.ACTIVE, now, "ops")
        changed = set_allowed_ips_txn(conn, "ACME", ["10.0.0.1", "10.0.0.1/32", "::1"], now, "ops")
        assert changed.allowed_ips == ("10.0.0.1/32", "::1/128")
        assert set_rate_limit_txn(conn, "ACME", 5.0, 10, now, "ops").rate_limit_burst == 10
        assert set_rate_limit_txn(conn, "ACME", None, None, now, "ops").rate_limit_per_s is None
        with pytest.raises(BusinessError, match="no business NOPE"):
            set_state_txn(conn, "NOPE", BusinessState.ACTIVE, now, "ops")
        assert get_business_txn(conn, "ACME").state is BusinessState.ACTIVE
    assert [action for _, action, _ in _audit(api_world)] == [
        "business.add", "business.suspend", "business.reinstate", "business.allow_ip",
        "business.rate", "business.rate",
    ]  # fmt: skip


def test_codes_are_normalised() -> None:
    assert normal_code(" acme2 ") == "ACME2"


def test_test_helper_numbers_differ_per_code() -> None:
    assert business_msisdn("ACME") != business_msisdn("BETA")


networks = st.one_of(
    st.builds(lambda a, p: ipaddress.IPv4Network((a, p), strict=False),
              st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a, p: ipaddress.IPv6Network((a, p), strict=False),
              st.integers(0, 2**128 - 1), st.integers(0, 128)),
)  # fmt: skip


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks, st.integers(0, 2**128 - 1))
def test_an_address_is_allowed_exactly_when_inside_a_listed_network(network, offset) -> None:
    [cidr] = parse_cidrs([str(network)])
    parsed = (ipaddress.ip_network(cidr),)
    inside = network[offset % network.num_addresses]
    assert ip_allowed(parsed, str(inside))
    outside_int = (int(network.network_address) + network.num_addresses) % (
        2**network.max_prefixlen
    )
    kind = ipaddress.IPv6Address if network.version == 6 else ipaddress.IPv4Address
    outside = kind(outside_int)
    assert ip_allowed(parsed, str(outside)) == (network.prefixlen == 0)


def test_ipv4_mapped_addresses_and_garbage() -> None:
    parsed = (ipaddress.ip_network("10.0.0.0/8"),)
    assert ip_allowed(parsed, "::ffff:10.1.2.3")
    assert not ip_allowed(parsed, "not-an-ip")
    assert ip_allowed((), "not-an-ip")  # no list: any caller


@given(st.text(max_size=30))
def test_parse_cidrs_takes_what_ipaddress_takes(text: str) -> None:
    try:
        expected = str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        with pytest.raises(BusinessError, match="not an address or CIDR"):
            parse_cidrs([text])
    else:
        assert parse_cidrs([text]) == (expected,)
