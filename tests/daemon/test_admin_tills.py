"""`smscore admin till …` through click's runner on a real database: add (the merchant, its merchant
wallet, its till, one audit entry), list, show, suspend and resume; one-line refusals, exit code 2."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon.chart import wallet_account_id
from daemon.commands.registry import Role
from daemon.money.tills import TillState, get_till_txn
from daemon.schema import audit_log
from ledger import AccountCode, get_accounts
from tests.daemon.test_admin_cli import AdminRunner, audit_rows, subscriber

MERCHANT = "254712000050"


@pytest.fixture
def cli(engine, tmp_path) -> AdminRunner:
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    return AdminRunner(
        ["--db", engine.url.render_as_string(hide_password=False), "--config", str(config)]
    )


def add(cli, number="123456", phone="0712 000 050", name="Mama Mboga", *extra):
    return cli("till", "add", number, "--phone", phone, "--name", name, "--pin", "4826",
               "--actor", "ops", *extra)  # fmt: skip


def till(engine, number="123456"):
    with engine.begin() as conn:
        return get_till_txn(conn, number)


def test_add_registers_the_merchant_with_a_merchant_wallet_and_its_till(cli, engine):
    result = add(cli)
    assert result.exit_code == 0, result.output
    assert result.output == f"till 123456 (Mama Mboga): merchant {MERCHANT}\n"
    merchant = subscriber(engine, MERCHANT)
    assert merchant.role is Role.BILLER and merchant.name == "Mama Mboga"
    assert merchant.registered_by == "staff:ops" and merchant.pin_hmac is not None
    with engine.begin() as conn:
        wallet = get_accounts(conn, [wallet_account_id(MERCHANT)])[wallet_account_id(MERCHANT)]
    assert wallet.code == AccountCode.MERCHANT_WALLET
    found = till(engine)
    assert (found.msisdn, found.state, found.created_by) == (MERCHANT, TillState.ACTIVE, "ops")
    [entry] = audit_rows(engine)
    assert (entry["actor"], entry["action"], entry["target"]) == ("ops", "till.add", MERCHANT)
    assert entry["detail"] == "till 123456, name 'Mama Mboga'" and "4826" not in entry["detail"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("12", "0712000050", "Shop"), "TILL '12': a till number is 5 to 10 digits"),
        (("123456", "07", "Shop"), "MSISDN '07': not a phone number"),
        (("123456", "0712000050", "x" * 21), "--name 'xxxxxxxxxxxxxxxxxxxxx': 1 to 20 printable"),
        (("123456", "0712000050", "  "), "--name '  ': 1 to 20 printable"),
        # in capitals in every payment SMS: one outside GSM-7 turns each into UCS-2 (70 a part)
        (("123456", "0712000050", "Café ☕"), "--name 'Café ☕': GSM-7 letters"),
        (("123456", "0712000050", "Àla"), "--name 'Àla': GSM-7 letters"),  # à is GSM-7, À not
        (("123456", "0712000050", "€" * 11), "1 to 20 printable"),  # 2 septets each
    ],
)
def test_bad_arguments_are_one_line(cli, engine, args, expected):
    result = add(cli, *args)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert audit_rows(engine) == []


def test_a_till_or_a_merchant_number_is_registered_once(cli, engine):
    assert add(cli).exit_code == 0
    again = add(cli, "123456", "0712000051")
    assert again.exit_code == 2 and "till 123456 exists already" in again.output
    taken = add(cli, "654321", "0712000050")
    assert taken.exit_code == 2 and f"{MERCHANT} is already registered" in taken.output
    assert len(audit_rows(engine)) == 1 and till(engine, "654321") is None


def test_suspend_and_resume_are_audited(cli, engine):
    add(cli)
    result = cli("till", "suspend", "123456", "--actor", "ops")
    assert result.exit_code == 0 and "suspended: it takes no payments" in result.output
    assert till(engine).state is TillState.SUSPENDED
    assert "was already suspended" in cli("till", "suspend", "123456").output
    assert "active again" in cli("till", "resume", "123456", "--actor", "ops").output
    assert till(engine).state is TillState.ACTIVE
    actions = [row["action"] for row in audit_rows(engine)]
    assert actions == ["till.add", "till.suspend", "till.resume"]
    unknown = cli("till", "suspend", "999999")
    assert unknown.exit_code == 2 and "no till 999999" in unknown.output


def test_list_and_show(cli, engine):
    assert cli("till", "list").output.strip() == "no tills yet"
    add(cli)
    add(cli, "777777", "0712000051", "Duka La Juma")
    listed = cli("till", "list")
    assert listed.exit_code == 0
    assert "123456" in listed.output and "Mama Mboga" in listed.output
    assert "777777" in listed.output and "KES 0.00" in listed.output
    shown = cli("till", "show", "123456")
    assert shown.exit_code == 0 and MERCHANT in shown.output and "active" in shown.output
    assert "no payments yet" in shown.output
    missing = cli("till", "show", "999999")
    assert missing.exit_code == 2 and "no till 999999" in missing.output
    with engine.begin() as conn:  # reading writes no audit entry
        assert len(conn.execute(select(audit_log)).all()) == 2
