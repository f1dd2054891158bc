"""Subscribers: registration with wallet, PIN digests with a pepper file, lockout; the admin CLI."""

import os
import stat

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.admin_cli import subscriber as subscriber_cli
from daemon.chart import ensure_chart_txn, wallet_account_id
from daemon.commands import Role
from daemon.schema import subscribers
from daemon.subscribers import (
    PEPPER_BYTES,
    PepperError,
    PinHasher,
    PinOutcome,
    PinPolicy,
    SubscriberExists,
    check_pin_txn,
    create_subscriber_txn,
    get_subscriber_txn,
    load_or_create_pepper,
    read_pepper,
    set_pin_txn,
)
from ledger import AccountCode, get_accounts

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
HASHER = PinHasher(b"p" * PEPPER_BYTES)
POLICY = PinPolicy(max_failures=3, lockout_ns=900 * NS)
ALICE = "254712000001"


@pytest.fixture
def alice(engine):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        return create_subscriber_txn(
            conn, ALICE, pin="1234", hasher=HASHER, currency="KES", now_ns=NOW, name="Alice"
        )


def test_registration_opens_a_wallet_and_stores_only_a_digest(engine, alice):
    with engine.begin() as conn:
        row = conn.execute(select(subscribers)).one()
        wallet = get_accounts(conn, [alice.account_id])[alice.account_id]
    assert alice.account_id == wallet_account_id(ALICE)
    assert wallet.code == AccountCode.CUSTOMER_WALLET
    assert row.pin_hmac == HASHER.digest(ALICE, "1234")
    assert b"1234" not in row.pin_hmac
    assert "1234" not in repr(alice)
    with engine.begin() as conn, pytest.raises(SubscriberExists):
        create_subscriber_txn(conn, ALICE, pin="1", hasher=HASHER, currency="KES", now_ns=NOW)


def test_digest_depends_on_pepper_and_msisdn():
    other = PinHasher(b"q" * PEPPER_BYTES)
    assert HASHER.digest(ALICE, "1234") != other.digest(ALICE, "1234")
    assert HASHER.digest(ALICE, "1234") != HASHER.digest("254712000002", "1234")
    assert HASHER.matches(ALICE, "1234", HASHER.digest(ALICE, "1234"))
    assert not HASHER.matches(ALICE, "1235", HASHER.digest(ALICE, "1234"))


def _check(engine, pin, now):
    with engine.begin() as conn:
        current = get_subscriber_txn(conn, ALICE)
        check, updated = check_pin_txn(conn, current, pin, HASHER, POLICY, now)
    with engine.begin() as conn:
        assert get_subscriber_txn(conn, ALICE) == updated  # what was returned is what was saved
    return check, updated


def test_wrong_pins_count_then_lock_then_unlock_after_the_lockout(engine, alice):
    check, state = _check(engine, "0000", NOW)
    assert (check.outcome, check.remaining, state.pin_failures) == (PinOutcome.WRONG, 2, 1)
    check, _ = _check(engine, "0000", NOW)
    assert (check.outcome, check.remaining) == (PinOutcome.WRONG, 1)
    check, state = _check(engine, "0000", NOW + 1)
    assert check.outcome is PinOutcome.LOCKED
    assert state.locked_until_ns == NOW + 1 + 900 * NS
    check, _ = _check(engine, "1234", NOW + 899 * NS)  # right PIN, still locked: not even checked
    assert check.outcome is PinOutcome.LOCKED
    check, state = _check(engine, "1234", NOW + 1 + 900 * NS)
    assert check.outcome is PinOutcome.OK
    assert (state.pin_failures, state.locked_until_ns) == (0, 0)


def test_right_pin_resets_the_failure_count(engine, alice):
    _check(engine, "0000", NOW)
    check, state = _check(engine, "1234", NOW)
    assert check.outcome is PinOutcome.OK
    assert state.pin_failures == 0


def test_set_pin_replaces_the_digest_and_unlocks(engine, alice):
    for _ in range(3):
        _check(engine, "0000", NOW)
    with engine.begin() as conn:
        set_pin_txn(conn, ALICE, "9876", HASHER)
    check, _ = _check(engine, "9876", NOW)
    assert check.outcome is PinOutcome.OK


def test_no_pin_set(engine):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        bob = create_subscriber_txn(
            conn, ALICE, pin=None, hasher=HASHER, currency="KES", now_ns=NOW
        )
        check, _ = check_pin_txn(conn, bob, "1234", HASHER, POLICY, NOW)
    assert check.outcome is PinOutcome.NOT_SET


# --- the pepper file


def test_pepper_file_is_created_private_and_then_reused(tmp_path):
    path = tmp_path / "state" / "pin_pepper"
    pepper = load_or_create_pepper(path)
    assert len(pepper) == PEPPER_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_pepper(path) == pepper
    assert [p.name for p in path.parent.iterdir()] == ["pin_pepper"]  # no temporary left behind


def test_pepper_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "pin_pepper"
    load_or_create_pepper(path)
    os.chmod(path, 0o644)
    with pytest.raises(PepperError, match="chmod 600"):
        read_pepper(path)


@pytest.mark.parametrize(("content", "problem"), [("zz\n", "not hex"), ("ab" * 8, "shorter")])
def test_malformed_pepper_is_refused(tmp_path, content, problem):
    path = tmp_path / "pin_pepper"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(PepperError, match=problem):
        read_pepper(path)


# --- the admin CLI


def _cli_config(tmp_path):
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    return str(config)


def test_cli_adds_a_funded_subscriber_and_lists_it(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    config = _cli_config(tmp_path)
    where = ["--db", url, "--config", config]
    added = runner.invoke(
        subscriber_cli,
        [
            "add",
            "0712 000 001",
            "--pin",
            "4826",
            "--name",
            "Alice",
            "--deposit",
            "1,500.50",
            *where,
        ],
    )
    assert added.exit_code == 0, added.output
    assert added.output == "registered 254712000001 (customer), balance KES 1,500.50\n"
    again = runner.invoke(
        subscriber_cli, ["add", "+254712000001", "--pin", "4826", "--db", url, "--config", config]
    )
    assert again.exit_code == 2
    assert "already registered" in again.output
    listed = runner.invoke(subscriber_cli, ["list", "--db", url, "--config", config])
    assert listed.exit_code == 0, listed.output
    assert listed.output == "254712000001\tcustomer\ten\tset\tKES 1,500.50\tAlice\n"
    pepper = read_pepper(tmp_path / "pepper")
    with engine.begin() as conn:
        stored = get_subscriber_txn(conn, "254712000001")
    assert PinHasher(pepper).matches("254712000001", "4826", stored.pin_hmac)
    assert stored.role is Role.CUSTOMER


def test_cli_takes_a_pin_in_the_digits_an_sms_may_carry(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    config = _cli_config(tmp_path)
    added = CliRunner().invoke(
        subscriber_cli,
        ["add", "0712000009", "--pin", "\u0664\u0668\u0662\u0666", "--db", url, "--config", config],
    )
    assert added.exit_code == 0, added.output
    with engine.begin() as conn:
        stored = get_subscriber_txn(conn, "254712000009")
    assert PinHasher(read_pepper(tmp_path / "pepper")).matches(
        "254712000009", "4826", stored.pin_hmac
    )


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["add", "12", "--pin", "5193"], "not a phone number of region KE (wrong_length)"),
        (["add", "0712000001", "--pin", "12"], "4 to 6 digits"),
        (["add", "0712000001", "--pin", "5193", "--deposit", "1.234"], "too_many_decimals"),
    ],
)
def test_cli_refuses_bad_input_with_one_line(tmp_path, args, problem):
    result = CliRunner().invoke(
        subscriber_cli,
        [*args, "--db", f"sqlite:///{tmp_path}/x.db", "--config", _cli_config(tmp_path)],
    )
    assert result.exit_code == 2
    assert problem in result.output
    assert "Traceback" not in result.output


def test_cli_prompts_for_the_pin_without_echo(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        subscriber_cli,
        ["add", "0712000002", "--db", url, "--config", _cli_config(tmp_path)],
        input="5915\n5915\n",
    )
    assert result.exit_code == 0, result.output
    assert "5915" not in result.output


def test_cli_list_creates_no_database_and_no_state_directory(tmp_path):
    state_dir = tmp_path / "state"
    result = CliRunner().invoke(
        subscriber_cli, ["list", "--state-dir", str(state_dir), "--config", _cli_config(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: no such database: ")
    assert "nothing was created" in result.output
    assert not state_dir.exists()
    explicit = tmp_path / "elsewhere" / "x.db"
    named = CliRunner().invoke(subscriber_cli, ["list", "--db", f"sqlite:///{explicit}"])
    assert named.exit_code == 2
    assert not explicit.parent.exists()
