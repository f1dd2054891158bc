"""`smscore admin …` through click's runner on a real database (SQLite and PostgreSQL): each command's
effect, its one audit entry, the money it issues from the trust account, and one-line refusals."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from daemon.admin.cli import admin
from daemon.admin_cli import subscriber as subscriber_cli
from daemon.chart import SystemAccount, TransferCode, wallet_account_id
from daemon.cli import main
from daemon.commands.registry import Role
from daemon.schema import audit_log, moves, subscribers
from daemon.subscribers import PinHasher, get_subscriber_txn, read_pepper
from ledger import AccountCode, check_ledger, get_accounts, get_balance, get_transfers

NS = 1_000_000_000
STORE = "254712000100"
HELPER = "254712000101"
ALICE = "254712000200"


class AdminRunner:
    """Runs `smscore admin ARGS --db … --config …` (or another group's command, with `group=`)."""

    def __init__(self, where: list[str]) -> None:
        self.where = where

    def __call__(self, *args: str, input: str | None = None, group=admin):
        return CliRunner().invoke(group, [*args, *self.where], input=input)


@pytest.fixture
def cli(engine, tmp_path) -> AdminRunner:
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    return AdminRunner(
        ["--db", engine.url.render_as_string(hide_password=False), "--config", str(config)]
    )


def audit_rows(engine) -> list[dict]:
    with engine.begin() as conn:
        query = select(audit_log).order_by(audit_log.c.id)
        return [row._asdict() for row in conn.execute(query)]


def move_rows(engine) -> list[dict]:
    with engine.begin() as conn:
        return [row._asdict() for row in conn.execute(select(moves).order_by(moves.c.id))]


def balance(engine, msisdn: str) -> int:
    with engine.begin() as conn:
        return get_balance(conn, wallet_account_id(msisdn)).available


def ledger_ok(engine) -> bool:
    with engine.begin() as conn:
        return check_ledger(conn).ok


def subscriber(engine, msisdn: str):
    with engine.begin() as conn:
        return get_subscriber_txn(conn, msisdn)


def one_line_refusal(result, problem: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ")
    assert result.output.count("\n") == 1, result.output
    assert problem in result.output
    assert "Traceback" not in result.output


def add_store(cli, *extra: str):
    result = cli(
        "agent", "add", "0712 000 100", "--name", "Mama Mboga", "--pin", "9731", "--actor", "ops",
        *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def test_agent_add_opens_a_float_issues_e_float_and_records_one_audit_entry(cli, engine, tmp_path):
    result = add_store(cli, "--float", "5,000")
    store = subscriber(engine, STORE)
    assert store.role is Role.AGENT
    assert store.registered_by == "staff:ops"
    number = store.agent_number
    assert len(number) == 6 and number.isdigit() and not number.startswith("0")
    [move] = move_rows(engine)
    assert result.output == (
        f"agent store {STORE} (Mama Mboga): agent number {number}, float KES 5,000.00, "
        f"ref {move['ref']}\n"
    )
    with engine.begin() as conn:
        float_account = get_accounts(conn, [store.account_id])[store.account_id]
        [transfer] = get_transfers(conn, [move["transfer_id_base"]]).values()
    assert float_account.code == AccountCode.AGENT_FLOAT
    assert transfer.debit_account_id == SystemAccount.TRUST
    assert transfer.credit_account_id == store.account_id
    assert transfer.code == TransferCode.DEPOSIT
    [entry] = audit_rows(engine)
    assert (entry["actor"], entry["action"], entry["target"]) == ("ops", "agent.add", STORE)
    assert entry["detail"] == f"name 'Mama Mboga', agent number {number}, float KES 5,000.00"
    assert (move["kind"], move["state"], move["audit_id"]) == ("float", "posted", entry["id"])
    assert (move["payer_msisdn"], move["payee_msisdn"]) == (None, STORE)
    assert balance(engine, STORE) == 500_000
    assert ledger_ok(engine)
    assert PinHasher(read_pepper(tmp_path / "pepper")).matches(STORE, "9731", store.pin_hmac)


def test_agent_add_without_float_moves_no_money(cli, engine):
    result = add_store(cli)
    assert result.output.endswith("float KES 0.00\n")
    assert move_rows(engine) == []
    assert [row["action"] for row in audit_rows(engine)] == ["agent.add"]


def test_the_actor_is_the_operating_system_user_unless_given(cli, engine):
    result = CliRunner(env={"LOGNAME": "wanjiru"}).invoke(
        admin, ["agent", "add", "0712000100", "--name", "S", "--pin", "9731", *cli.where]
    )
    assert result.exit_code == 0, result.output
    assert [row["actor"] for row in audit_rows(engine)] == ["wanjiru"]
    assert subscriber(engine, STORE).registered_by == "staff:wanjiru"


@pytest.mark.parametrize("actor", ["", "x" * 49, "two\nlines"])
def test_a_bad_actor_is_refused_before_anything_changes(cli, engine, actor):
    result = cli("agent", "add", "0712000100", "--name", "S", "--pin", "9731", "--actor", actor)
    one_line_refusal(result, "--actor")
    assert subscriber(engine, STORE) is None


def test_the_pin_is_asked_for_hidden_and_twice_when_not_given(cli, engine, tmp_path):
    result = cli("agent", "add", "0712000100", "--name", "S", input="12\n4455\n4455\n")
    assert result.exit_code == 0, result.output
    assert "4455" not in result.output
    assert "a PIN is 4 to 6 digits" in result.output  # "12" was refused and the PIN asked again
    stored = subscriber(engine, STORE)
    assert PinHasher(read_pepper(tmp_path / "pepper")).matches(STORE, "4455", stored.pin_hmac)
    mismatch = cli("assistant", "add", STORE, HELPER, "--name", "J", input="1111\n2222\n")
    assert mismatch.exit_code != 0
    assert subscriber(engine, HELPER) is None


def test_assistant_add_links_the_assistant_to_its_store(cli, engine):
    add_store(cli)
    result = cli("assistant", "add", "+254712000100", "0712000101", "--name", "Juma", "--pin",
                 "5511", "--actor", "ops")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == f"assistant {HELPER} (Juma) at agent store {STORE}\n"
    helper = subscriber(engine, HELPER)
    assert (helper.role, helper.store_msisdn, helper.float_owner) == (Role.ASSISTANT, STORE, STORE)
    entry = audit_rows(engine)[-1]
    assert (entry["action"], entry["target"]) == ("assistant.add", HELPER)
    assert entry["detail"] == f"name 'Juma', store {STORE}"


def test_an_assistant_needs_an_agent_store(cli, engine):
    unknown = cli("assistant", "add", "0712000100", "0712000101", "--name", "J", "--pin", "5511")
    one_line_refusal(unknown, f"{STORE} is not registered")
    cli("add", "0712000200", "--pin", "3917", group=subscriber_cli)
    customer = cli("assistant", "add", "0712000200", "0712000101", "--name", "J", "--pin", "5511")
    one_line_refusal(customer, f"{ALICE} is a customer, not an agent store")
    assert subscriber(engine, HELPER) is None


def test_float_moves_money_from_the_trust_account_into_the_store(cli, engine):
    add_store(cli, "--float", "100")
    result = cli("float", "0712000100", "1,000.50", "--actor", "treasury")
    assert result.exit_code == 0, result.output
    move = move_rows(engine)[-1]
    assert result.output == (
        f"issued KES 1,000.50 e-float to {STORE}, ref {move['ref']}; float now KES 1,100.50\n"
    )
    assert balance(engine, STORE) == 110_050
    entry = audit_rows(engine)[-1]
    assert (entry["actor"], entry["action"], entry["detail"]) == (
        "treasury",
        "float",
        "float KES 1,000.50",
    )
    assert (move["kind"], move["amount_minor"], move["audit_id"]) == ("float", 100_050, entry["id"])
    with engine.begin() as conn:
        trust = get_balance(conn, int(SystemAccount.TRUST))
    assert trust.debits_posted == 110_050  # e-money issued equals the store's float
    assert ledger_ok(engine)


def test_float_goes_only_to_an_active_agent_store(cli, engine):
    add_store(cli)
    cli("assistant", "add", STORE, HELPER, "--name", "J", "--pin", "5511")
    cli("add", "0712000200", "--pin", "3917", group=subscriber_cli)
    one_line_refusal(cli("float", "0712000999", "10"), "254712000999 is not registered")
    one_line_refusal(cli("float", ALICE, "10"), "is a customer, not an agent store")
    one_line_refusal(cli("float", HELPER, "10"), f"is an assistant at store {STORE}")
    cli("subscriber", "freeze", STORE)
    one_line_refusal(cli("float", STORE, "10"), "is frozen")
    assert move_rows(engine) == []
    assert [row["action"] for row in audit_rows(engine)][-1] == "subscriber.freeze"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["float", STORE, "1.234"], "AMOUNT '1.234': not an amount (too_many_decimals)"),
        (["float", STORE, "0"], "not an amount (zero)"),
        (["float", "12", "5"], "MSISDN '12': not a phone number of region KE"),
        (["agent", "add", STORE, "--name", "S", "--float", "abc"], "--float 'abc': not an amount"),
        (["agent", "add", STORE, "--name", "S", "--pin", "12"], "a PIN is 4 to 6 digits"),
        (["subscriber", "tier", STORE, "4"], "TIER '4': a KYC tier is 1 to 3"),
        (["subscriber", "tier", STORE, "x"], "a KYC tier is 1 to 3"),
        (["subscriber", "freeze", "0712000999"], "254712000999 is not registered"),
        (["subscriber", "show", "0712000999"], "254712000999 is not registered"),
    ],
)
def test_wrong_input_gets_one_line_and_exit_2(cli, engine, args, problem):
    add_store(cli)
    before = (audit_rows(engine), move_rows(engine))
    one_line_refusal(cli(*args), problem)
    assert (audit_rows(engine), move_rows(engine)) == before


def test_an_agent_cannot_be_registered_twice(cli, engine):
    add_store(cli)
    again = cli("agent", "add", "+254 712 000 100", "--name", "Other", "--pin", "5193")
    one_line_refusal(again, f"{STORE} is already registered")
    assert len(audit_rows(engine)) == 1


def test_freeze_unfreeze_tier_change_once_and_are_audited(cli, engine):
    cli("add", "0712000200", "--pin", "3917", group=subscriber_cli)
    steps = [
        (["subscriber", "freeze", "0712 000 200"], f"{ALICE} frozen: no money moves from or to it"),
        (["subscriber", "freeze", ALICE], f"{ALICE} was already frozen"),
        (["subscriber", "unfreeze", ALICE], f"{ALICE} active again"),
        (["subscriber", "tier", ALICE, "3"], f"{ALICE} is now tier 3"),
        (["subscriber", "tier", ALICE, "3"], f"{ALICE} was already tier 3"),
    ]
    for args, said in steps:
        result = cli(*args, "--actor", "kyc")
        assert (result.exit_code, result.output) == (0, said + "\n")
    entries = [(r["action"], r["detail"], r["actor"]) for r in audit_rows(engine)[1:]]
    assert entries == [
        ("subscriber.freeze", "state active -> frozen", "kyc"),
        ("subscriber.unfreeze", "state frozen -> active", "kyc"),
        ("subscriber.tier", "tier 1 -> 3", "kyc"),
    ]
    found = subscriber(engine, ALICE)
    assert (found.state, found.kyc_tier) == ("active", 3)


def test_unlock_clears_the_wrong_pin_count_and_the_lock(cli, engine):
    cli("add", "0712000200", "--pin", "3917", group=subscriber_cli)
    assert cli("subscriber", "unlock", ALICE).output == f"{ALICE} was not locked\n"
    locked_until_ns = time.time_ns() + 3600 * NS
    with engine.begin() as conn:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.msisdn == ALICE)
            .values(pin_failures=2, locked_until_ns=locked_until_ns)
        )
    assert "PIN             locked until" in cli("subscriber", "show", ALICE).output
    result = cli("subscriber", "unlock", ALICE, "--actor", "desk")
    assert (result.exit_code, result.output) == (0, f"{ALICE} unlocked\n")
    found = subscriber(engine, ALICE)
    assert (found.pin_failures, found.locked_until_ns) == (0, 0)
    entry = audit_rows(engine)[-1]
    assert (entry["action"], entry["detail"], entry["actor"]) == (
        "subscriber.unlock",
        "was locked",
        "desk",
    )


def test_show_gives_the_profile_without_secrets(cli, engine):
    add_store(cli, "--float", "10")
    for amount in range(1, 7):
        cli("float", STORE, str(amount))
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.msisdn == STORE).values(
            id_number="A1234567", kyc_tier=2))  # fmt: skip
    store = subscriber(engine, STORE)
    shown = cli("subscriber", "show", "0712000100")
    assert shown.exit_code == 0, shown.output
    lines = {" ".join(line.split()) for line in shown.output.splitlines()}
    for expected in [
        "name Mama Mboga", "role agent", "KYC tier 2", "state active", "PIN ok",
        "balance KES 31.00", "id number *****567", f"agent number {store.agent_number}",
        "registered by staff:ops",
    ]:  # fmt: skip
        assert expected in lines, shown.output
    refs = [row["ref"] for row in move_rows(engine)]
    assert [ref for ref in refs if ref in shown.output] == refs[-5:]  # the last 5 moves
    assert "A1234567" not in shown.output and "1234567" not in shown.output
    assert store.pin_hmac.hex() not in shown.output
    assert audit_rows(engine)[-1]["action"] == "float"  # showing records nothing


def test_show_of_a_customer_without_a_pin_says_so(cli, engine):
    add_store(cli)
    cli("assistant", "add", STORE, HELPER, "--name", "Juma", "--pin", "5511")
    with engine.begin() as conn:
        conn.execute(
            update(subscribers).where(subscribers.c.msisdn == HELPER).values(pin_hmac=None)
        )
    shown = cli("subscriber", "show", HELPER).output
    lines = {" ".join(line.split()) for line in shown.splitlines()}
    assert {"role assistant", "PIN not set", f"store {STORE}", "no moves yet"} <= lines


def test_audit_lists_newest_first_with_target_and_limit(cli, engine):
    add_store(cli, "--float", "10")
    cli("add", "0712000200", "--pin", "3917", "--deposit", "5", group=subscriber_cli)
    cli("subscriber", "freeze", ALICE, "--actor", "kyc")
    listed = cli("audit")
    assert listed.exit_code == 0, listed.output
    actions = ["subscriber.freeze", "subscriber.add", "agent.add"]
    positions = [listed.output.index(action) for action in actions]
    assert positions == sorted(positions)
    targeted = cli("audit", "--target", "+254712000200").output
    assert "subscriber.freeze" in targeted and "agent.add" not in targeted
    limited = cli("audit", "--limit", "1").output
    assert "subscriber.freeze" in limited and "subscriber.add" not in limited


def test_subscriber_add_is_audited_and_its_deposit_is_an_issue_move(cli, engine):
    result = cli("add", "0712000200", "--pin", "3917", "--name", "Alice", "--deposit", "1,500.50",
                 "--actor", "ops", group=subscriber_cli)  # fmt: skip
    assert result.output == f"registered {ALICE} (customer), balance KES 1,500.50\n"
    [entry] = audit_rows(engine)
    assert (entry["action"], entry["target"], entry["actor"]) == ("subscriber.add", ALICE, "ops")
    assert entry["detail"] == "role customer, name 'Alice', opening balance KES 1,500.50"
    [move] = move_rows(engine)
    assert (move["kind"], move["payee_msisdn"], move["amount_minor"], move["audit_id"]) == (
        "issue",
        ALICE,
        150_050,
        entry["id"],
    )
    assert subscriber(engine, ALICE).registered_by == "staff:ops"
    assert ledger_ok(engine)


def test_smscore_admin_is_wired_into_the_root_command(cli, engine):
    listed = CliRunner().invoke(main, ["admin", "--help"])
    assert listed.exit_code == 0
    for name in ("agent", "assistant", "float", "subscriber", "audit"):
        assert f"  {name} " in listed.output
    added = CliRunner().invoke(
        main, ["admin", "agent", "add", STORE, "--name", "S", "--pin", "9731", *cli.where]
    )
    assert added.exit_code == 0, added.output
    assert subscriber(engine, STORE).role is Role.AGENT


@pytest.mark.parametrize("role", ["agent", "assistant"])
def test_subscriber_add_sends_stores_and_assistants_to_the_admin_commands(cli, engine, role):
    result = cli("add", "0712000100", "--pin", "3917", "--role", role, group=subscriber_cli)
    one_line_refusal(result, f"use `smscore admin {role} add`")
    assert subscriber(engine, STORE) is None


@pytest.mark.parametrize("pin", ["1234", "0000", "9876"])
def test_staff_tools_refuse_the_pins_sms_refuses(cli, pin):
    result = cli("agent", "add", "0712000300", "--name", "Weak", "--pin", pin)
    one_line_refusal(result, "too easy to guess")
    assert pin not in result.output


def test_a_new_empty_database_is_said_to_be_new(tmp_path):
    # An operator who forgets --state-dir would otherwise be told "not registered" by a database
    # that is not the daemon's, with nothing to say so.
    result = CliRunner().invoke(
        main, ["admin", "subscriber", "unlock", "0712000001", "--state-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 2
    assert f"note: no database at {tmp_path / 's' / 'smscore.db'} yet: creating it" in result.stderr
    again = CliRunner().invoke(
        main, ["admin", "subscriber", "unlock", "0712000001", "--state-dir", str(tmp_path / "s")]
    )
    assert "note:" not in again.stderr


def test_an_amount_is_read_as_an_sms_shows_it():
    from daemon.admin.env import parse_amount

    assert parse_amount("KES 1,500.00", "--amount") == 150_000
    assert parse_amount("kes 400", "--amount") == 40_000
    assert parse_amount("1,500", "--amount") == 150_000


def test_a_pin_refused_at_the_prompt_names_the_prompt_not_the_option(cli, engine):
    result = cli("agent", "add", "0712000100", "--name", "S", input="1234\n4821\n4821\n")
    assert result.exit_code == 0, result.output
    assert "Error: PIN: too easy to guess" in result.output and "--pin" not in result.output
    given = cli("agent", "add", "0712000101", "--name", "T", "--pin", "1234")
    assert given.exit_code != 0 and "--pin: too easy to guess" in given.output
