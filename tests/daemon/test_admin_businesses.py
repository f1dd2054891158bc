"""`smscore admin business …` through click's runner on a real database: add (the merchant and its
wallet, one audit entry), key-add (the key printed once, only its digest stored), key-revoke,
suspend, reinstate, allow-ip, rate, list and show; one-line refusals with exit code 2."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from daemon.admin_cli import subscriber as subscriber_cli
from daemon.api.businesses import find_key_txn, get_business_txn
from daemon.api.principal import BusinessState
from daemon.commands.registry import Role
from daemon.schema import api_keys
from tests.daemon.test_admin_cli import AdminRunner, audit_rows, one_line_refusal, subscriber

MERCHANT = "254712000070"


@pytest.fixture
def cli(engine, tmp_path) -> AdminRunner:
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    return AdminRunner(
        ["--db", engine.url.render_as_string(hide_password=False), "--config", str(config)]
    )


def add(cli, code="ACME", *extra):
    return cli("business", "add", code, "--name", "Acme Ltd", "--msisdn", "0712 000 070",
               "--actor", "ops", *extra)  # fmt: skip


def business(engine, code="ACME"):
    with engine.begin() as conn:
        return get_business_txn(conn, code)


def key_add(cli, *extra) -> tuple[str, str]:
    result = cli("business", "key-add", "ACME", "--label", "payroll", "--actor", "ops", *extra)
    assert result.exit_code == 0, result.output
    first, key_text = result.output.splitlines()
    key_id = re.search(r"key ([0-9a-f]{16})", first).group(1)
    return key_id, key_text


def test_add_registers_the_business_and_its_merchant(cli, engine):
    result = add(cli, "acme", "--rate", "5", "--burst", "10", "--allow-ip", "10.0.0.0/8")
    assert result.exit_code == 0, result.output
    assert result.output == f"business ACME (Acme Ltd): account {MERCHANT}; no key yet\n"
    found = business(engine)
    assert (found.msisdn, found.rate_limit_per_s, found.allowed_ips) == (
        MERCHANT,
        5.0,
        ("10.0.0.0/8",),
    )
    merchant = subscriber(engine, MERCHANT)
    assert merchant.role is Role.BILLER and merchant.registered_by == "staff:ops"
    [entry] = audit_rows(engine)
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "ops",
        "business.add",
        "business:ACME",
    )


def test_key_add_prints_the_key_once_and_stores_its_digest(cli, engine):
    add(cli)
    key_id, key_text = key_add(cli, "--scope", "maker")
    assert key_text.startswith(f"smk_{key_id}_")
    with engine.begin() as conn:
        stored = conn.execute(select(api_keys)).one()
        assert find_key_txn(conn, key_text).key.key_id == key_id
    assert bytes(stored.key_digest) == hashlib.sha256(key_text.encode()).digest()
    assert stored.scope == "maker"
    show = cli("business", "show", "ACME")
    assert show.exit_code == 0, show.output
    assert key_id in show.output and key_text not in show.output and "never" in show.output
    assert all(key_text not in str(row) for row in audit_rows(engine))


def test_key_revoke_suspend_reinstate(cli, engine):
    add(cli)
    key_id, key_text = key_add(cli)
    result = cli("business", "key-revoke", key_id, "--actor", "ops")
    assert result.output == f"key {key_id}: revoked\n"
    with engine.begin() as conn:
        assert find_key_txn(conn, key_text).key.state == "revoked"
    one_line_refusal(cli("business", "key-revoke", key_id, "--actor", "ops"), "revoked already")
    assert (
        cli("business", "suspend", "ACME", "--actor", "ops").output == "business ACME: suspended\n"
    )
    assert business(engine).state is BusinessState.SUSPENDED
    one_line_refusal(cli("business", "suspend", "ACME", "--actor", "ops"), "suspended already")
    assert (
        cli("business", "reinstate", "ACME", "--actor", "ops").output == "business ACME: active\n"
    )
    actions = [row["action"] for row in audit_rows(engine)]
    assert actions == ["business.add", "business.key_add", "business.key_revoke",
                       "business.suspend", "business.reinstate"]  # fmt: skip


def test_allow_ip_replaces_or_clears_the_list(cli, engine):
    add(cli)
    result = cli("business", "allow-ip", "ACME", "192.168.1.7", "2001:db8::/32", "--actor", "ops")
    assert result.output == "business ACME: allowed IPs 192.168.1.7/32, 2001:db8::/32\n"
    assert (
        cli("business", "allow-ip", "ACME", "--clear").output == "business ACME: allowed IPs any\n"
    )
    assert business(engine).allowed_ips == ()
    one_line_refusal(
        cli("business", "allow-ip", "ACME"), "give the addresses (CIDR ...) or --clear"
    )
    one_line_refusal(cli("business", "allow-ip", "ACME", "300.1.1.1"), "not an address or CIDR")


def test_rate_sets_or_resets_the_limit(cli, engine):
    add(cli)
    assert cli("business", "rate", "ACME", "2.5", "7").output == (
        "business ACME: rate limit 2.5/s, burst 7\n"
    )
    assert business(engine).rate_limit_burst == 7
    result = cli("business", "rate", "ACME", "--default")
    assert result.output == "business ACME: rate limit 20/s, burst 40 (the default)\n"
    one_line_refusal(cli("business", "rate", "ACME", "5"), "give RATE and BURST, or --default")
    one_line_refusal(cli("business", "rate", "ACME", "0", "5"), "rate 0-100000/s")


def test_list_shows_every_business(cli):
    assert cli("business", "list").output == "no businesses yet\n"
    add(cli)
    key_add(cli)
    listed = cli("business", "list")
    assert listed.exit_code == 0, listed.output
    assert "ACME" in listed.output and MERCHANT in listed.output and "20/s" in listed.output


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("business", "add", "a", "--name", "X", "--msisdn", "0712000070"), "2 to 32 letters"),
        (("business", "add", "ACME", "--name", "X", "--msisdn", "07"), "MSISDN '07'"),
        (("business", "add", "ACME", "--name", "X", "--msisdn", "0712000070", "--rate", "3"),
         "a rate and a burst, or neither"),
        (("business", "show", "NOPE"), "no business NOPE"),
        (("business", "key-add", "NOPE"), "no business NOPE"),
        (("business", "key-revoke", "0123456789abcdef"), "no API key 0123456789abcdef"),
        (("business", "reinstate", "NOPE"), "no business NOPE"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_and_change_nothing(cli, engine, args, problem):
    one_line_refusal(cli(*args), problem)
    assert audit_rows(engine) == []


def test_a_customer_number_cannot_be_a_business(cli, engine):
    added = cli("add", "0712000070", "--pin", "3917", "--actor", "ops", group=subscriber_cli)
    assert added.exit_code == 0, added.output
    one_line_refusal(add(cli), "registered as customer: a business needs a merchant number")
    assert business(engine) is None
