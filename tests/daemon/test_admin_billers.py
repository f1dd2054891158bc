"""`smscore admin biller …` through click's runner on a real database: adding a biller opens its
settlement account and is audited; a bad rule or bills file is one line, exit code 2, and changes
nothing; bills import and re-import; the statement lists what PAY paid it, with a total."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.admin.cli import admin
from daemon.chart import BILLER_ID_BASE
from daemon.money.billers import BillState, get_bill_txn, get_biller_txn
from daemon.schema import audit_log, billers, bills, moves
from ledger import AccountCode, get_accounts
from tests.daemon.money_world import World

ALICE = "254712000001"
KES = 100
AUDITED = frozenset({"add", "suspend", "resume", "bills"})


@pytest.fixture
def cli(engine, tmp_path):
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    where = ["--db", engine.url.render_as_string(hide_password=False), "--config", str(config)]

    def run(*args):
        # list, show and statement take no --actor: nothing they do is audited
        actor = ["--actor", "ops"] if args[0] in AUDITED else []
        return CliRunner().invoke(admin, ["biller", *args, *where, *actor])

    return run


def audit(engine):
    with engine.begin() as conn:
        return [(r.actor, r.action, r.target) for r in conn.execute(select(audit_log))]


def rows(engine, table):
    with engine.begin() as conn:
        return conn.execute(select(table).order_by(*table.primary_key.columns)).all()


def add_kplc(cli, *extra):
    result = cli("add", "kplc", "--name", "Kenya Power", "--account-rule", "digits:8", *extra)
    assert result.exit_code == 0, result.output
    return result


def test_adding_a_biller_opens_its_settlement_account(cli, engine):
    result = add_kplc(cli)
    assert result.output == (
        f"biller KPLC (Kenya Power): number 1, settlement account {BILLER_ID_BASE + 1}, "
        "account rule digits:8\n"
    )
    with engine.begin() as conn:
        account = get_accounts(conn, [BILLER_ID_BASE + 1])[BILLER_ID_BASE + 1]
        found = get_biller_txn(conn, "KPLC")
    assert account.code == AccountCode.BILLER_SETTLEMENT
    assert (found.number, found.bills_only, found.created_by) == (1, False, "ops")
    second = cli("add", "NAIWAT", "--name", "Nairobi Water", "--account-rule", "digits:11,luhn",
                 "--bills-only")  # fmt: skip
    assert f"number 2, settlement account {BILLER_ID_BASE + 2}" in second.output
    assert "listed bills only" in second.output
    assert audit(engine) == [("ops", "biller_add", "KPLC"), ("ops", "biller_add", "NAIWAT")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account-rule", "digits:10-6"], "--account-rule: account rule 'digits:10-6': "),
        (["--account-rule", "letters:8"], "starts with digits:, alnum: or regex:"),
        (["--account-rule", "regex:[A-"], "not a regular expression"),
    ],
)
def test_a_bad_rule_is_one_line_and_adds_nothing(cli, engine, args, message):
    result = cli("add", "KPLC", "--name", "Kenya Power", *args)
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith("Error: ") and message in line
    assert rows(engine, billers) == [] and audit(engine) == []


def test_a_bad_code_or_a_second_biller_of_a_code_is_refused(cli, engine):
    bad = cli("add", "K-PLC", "--name", "Kenya Power", "--account-rule", "digits:8")
    assert bad.exit_code == 2 and "biller code 'K-PLC': 2 to 16 letters or digits" in bad.output
    add_kplc(cli)
    again = cli("add", "KPLC", "--name", "Other", "--account-rule", "digits:6")
    assert again.exit_code == 2 and "biller 'KPLC' exists already" in again.output
    assert len(rows(engine, billers)) == 1


def test_suspend_and_resume_are_audited(cli, engine):
    add_kplc(cli)
    assert cli("suspend", "KPLC").output == "biller KPLC: suspended\n"
    twice = cli("suspend", "KPLC")
    assert twice.exit_code == 2 and "is suspended already" in twice.output
    assert cli("resume", "kplc").output == "biller KPLC: active\n"
    assert [action for _, action, _ in audit(engine)] == [
        "biller_add", "biller_suspend", "biller_resume",
    ]  # fmt: skip
    unknown = cli("suspend", "NOPE")
    assert unknown.exit_code == 2 and "biller 'NOPE': no such biller" in unknown.output


def test_list_and_show(cli):
    add_kplc(cli, "--bills-only")
    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    assert (
        "KPLC" in listed.output and "Kenya Power" in listed.output and "digits:8" in listed.output
    )
    shown = cli("show", "KPLC")
    assert "settlement account" in shown.output and str(BILLER_ID_BASE + 1) in shown.output
    assert "0 open of 0" in shown.output


def test_bills_import_and_reimport(cli, engine, tmp_path):
    add_kplc(cli)
    first = tmp_path / "bills.csv"
    first.write_text(
        'account,amount,name,due\n12345678,1500,Jane Wanjiku,2025-12-31\n\n87654321,"2,000.50"\n'
    )
    result = cli("bills", "import", "KPLC", str(first))
    assert result.exit_code == 0, result.output
    assert result.output == f"biller KPLC: 2 bills added, 0 updated from {first}\n"
    with engine.begin() as conn:
        jane = get_bill_txn(conn, "KPLC", "12345678")
        other = get_bill_txn(conn, "KPLC", "87654321")
    assert (jane.amount_due_minor, jane.customer_name, jane.due_day) == (
        1_500 * KES, "Jane Wanjiku", "2025-12-31",
    )  # fmt: skip
    assert other.amount_due_minor == 200_050 and other.state is BillState.OPEN
    second = tmp_path / "again.csv"
    second.write_text("12345678,1800\n")
    assert "0 bills added, 1 updated" in cli("bills", "import", "KPLC", str(second)).output
    with engine.begin() as conn:
        assert get_bill_txn(conn, "KPLC", "12345678").amount_due_minor == 1_800 * KES
    assert [action for _, action, _ in audit(engine)][-2:] == ["biller_bills_import"] * 2
    assert "2 open of 2" in cli("show", "KPLC").output


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("12345678,1500\n1234567,100\n", ":2: account '1234567' does not follow the rule digits:8"),
        ("12345678,15x0\n", ":1: amount '15x0': not a number"),
        ("12345678,0\n", ":1: amount '0': zero"),
        ("12345678\n", ":1: 1 columns; write account, amount, name, due"),
        ("12345678,100,Jane,31/12/2025\n", ":1: due date '31/12/2025': write YYYY-MM-DD"),
        ("12345678,100\n12345678,200\n", ":2: account 12345678 is listed twice"),
        ("account,amount\n", ": no bills"),
    ],
)
def test_a_bad_bills_file_names_its_line_and_imports_nothing(cli, engine, tmp_path, text, problem):
    add_kplc(cli)
    path = tmp_path / "bills.csv"
    path.write_text(text)
    result = cli("bills", "import", "KPLC", str(path))
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: {path}{problem}")
    assert rows(engine, bills) == []
    assert [action for _, action, _ in audit(engine)] == ["biller_add"]


def test_a_missing_bills_file_is_one_line(cli, tmp_path):
    add_kplc(cli)
    result = cli("bills", "import", "KPLC", str(tmp_path / "none.csv"))
    assert result.exit_code == 2 and "cannot read" in result.output
    assert len(result.output.splitlines()) == 1


def test_the_statement_lists_what_the_biller_was_paid(cli, engine, tmp_path):
    add_kplc(cli)
    world = World(engine)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.sms(ALICE, "PAY KPLC 12345678 1500 1234")  # 2025-12-01 15:00 in Nairobi
    world.advance(86_400)
    world.sms(ALICE, "PAY KPLC 11112222 250.50 1234")
    world.advance(86_400)
    world.sms(ALICE, "PAY KPLC 12345678 99 1234")  # 2025-12-03: after the period
    refs = [move.ref for move in rows(engine, moves)]
    out = tmp_path / "kplc.csv"
    result = cli(
        "statement", "KPLC", "--from", "2025-12-01", "--to", "2025-12-02", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"biller KPLC: 2 payments, KES 1,750.50, {out}\n"
    assert list(csv.reader(io.StringIO(out.read_text()))) == [
        ["date_time", "ref", "payer", "account", "amount"],
        ["2025-12-01 15:00:00", refs[0], ALICE, "12345678", "1500.00"],
        ["2025-12-02 15:00:00", refs[1], ALICE, "11112222", "250.50"],
        ["total", "", "", "2 payments", "1750.50"],
    ]
    printed = cli("statement", "KPLC", "--from", "2025-12-03", "--to", "2025-12-03")
    assert printed.output.splitlines()[1:] == [
        f"2025-12-03 15:00:00,{refs[2]},{ALICE},12345678,99.00", "total,,,1 payments,99.00",
    ]  # fmt: skip
    world.check()


def test_a_statement_period_backwards_is_refused(cli):
    add_kplc(cli)
    result = cli("statement", "KPLC", "--from", "2025-12-02", "--to", "2025-12-01")
    assert result.exit_code == 2 and "--to 2025-12-01 is before --from 2025-12-02" in result.output
