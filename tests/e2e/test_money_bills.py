"""Bill payment end to end: billers added and bills imported with `smscore admin biller`, PAY texted
through the simulator to the real daemon, the biller's statement read back. This module's daemon
holds PAY until its confirmation is delivered (money.post_on_delivery), as SEND: so a paid bill is
posted by the delivery receipt, and one whose confirmation cannot be delivered is voided. Every test
ends with `smscore ledger check` (the ledger and the trust reconciliation)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.admin.cli import admin
from daemon.schema import billers, bills
from ledger import get_balance
from tests.e2e import money as e2e_money
from tests.e2e.money import KES, PIN, START, UNREACHABLE, MoneyService, kes, ref_in

ACCOUNT_RULE = "digits:8,luhn"
JANE_ACCOUNT = "12345674"  # 1234567 and its Luhn check digit
OTHER_ACCOUNT = "23456787"
WRONG_CHECK_DIGIT = "12345675"
BILL_DUE = 2_000 * KES


@pytest.fixture(scope="module")
def money_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    workdir = tmp_path_factory.mktemp("bills")
    sections = e2e_money.money_settings()
    sections["money"]["post_on_delivery"] = ["SEND", "WITHDRAW", "PAY"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(e2e_money, "money_settings", lambda: sections)
        service = MoneyService.start(workdir, f"sqlite:///{workdir / 'money.db'}")
    try:
        _staff(service, "add", "KPLC", "--name", "Kenya Power", "--account-rule", ACCOUNT_RULE)
        _staff(service, "add", "WATER", "--name", "City Water", "--account-rule", "digits:6-10",
               "--bills-only")  # fmt: skip
        csv_file = workdir / "water.csv"
        csv_file.write_text(f"account,amount,name\n{JANE_ACCOUNT},2000,Jane Wanjiku\n")
        _staff(service, "bills", "import", "WATER", str(csv_file))
        yield service
    finally:
        assert service.stop() == 0, service.daemon.log()


def _staff(service: MoneyService, *args: str, audited: bool = True) -> str:
    where = ["--db", service.config.database_url]
    actor = ["--actor", "e2e"] if audited else []
    result = CliRunner().invoke(admin, ["biller", *args, *where, *actor])
    assert result.exit_code == 0, result.output
    return result.output


def _biller_held(money: MoneyService, code: str) -> int:
    with money.engine.connect() as conn:
        [account_id] = _account_ids(conn, code)
        balance = get_balance(conn, account_id)
    return balance.credits_posted - balance.debits_posted


def _account_ids(conn, code: str) -> list[int]:
    return list(conn.execute(select(billers.c.account_id).where(billers.c.code == code)).scalars())


def _water_bill(money: MoneyService):
    with money.engine.connect() as conn:
        query = select(bills).where(bills.c.biller_code == "WATER", bills.c.account == JANE_ACCOUNT)
        return conn.execute(query).one()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"PAY NOPE {JANE_ACCOUNT} 500 {PIN}", "There is no biller NOPE."),
        (
            f"PAY KPLC {WRONG_CHECK_DIGIT} 500 {PIN}",
            "is not a KENYA POWER account: a digit is wrong or two are swapped",
        ),
        (f"PAY KPLC 1234 500 {PIN}", "1234 is not a KENYA POWER account: they are 8 digits"),
        (
            f"PAY WATER {OTHER_ACCOUNT} 500 {PIN}",
            f"CITY WATER has no bill for account {OTHER_ACCOUNT}",
        ),
        (f"PAY WATER {JANE_ACCOUNT} 2000.01 {PIN}", f"has {kes(BILL_DUE)} due: you can pay up to"),
    ],
    ids=["unknown biller", "wrong check digit", "bad account", "bill not found", "over the bill"],
)
def test_a_refused_payment_moves_nothing(money, text, expected) -> None:
    alice = money.customer(START, name="Alice Atieno")
    reply = alice.send(text)
    assert expected in reply
    money.quiet()
    assert money.moves_of(alice.msisdn) == []
    assert money.posted(alice.msisdn) == START


def test_a_bill_paid_in_part_is_posted_by_its_delivery_receipt(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    amount = 1_200 * KES
    fee = money.tariff.fee_minor("PAY", amount, biller="WATER")
    held_before = _biller_held(money, "WATER")
    reply = alice.send(f"PAY water {JANE_ACCOUNT} 1200 {PIN}")
    assert f"Confirmed. {kes(amount)} paid to CITY WATER {JANE_ACCOUNT}." in reply
    assert f"Bal {kes(START - amount - fee)}. Due {kes(BILL_DUE - amount)}." in reply
    move = money.wait_move_state(alice.msisdn, "posted")
    assert (move.ref, move.detail) == (ref_in(reply), f"WATER {JANE_ACCOUNT}")
    money.quiet()
    assert _water_bill(money).paid_minor == amount
    assert _biller_held(money, "WATER") == held_before + amount
    assert money.posted(alice.msisdn) == START - amount - fee
    over = alice.send(f"PAY WATER {JANE_ACCOUNT} 900 {PIN}")
    assert f"has {kes(BILL_DUE - amount)} due" in over


def test_a_bill_paid_shows_on_the_billers_statement(money, tmp_path: Path) -> None:
    alice = money.customer(START, name="Alice Atieno")
    reply = alice.send(f"PAY KPLC {JANE_ACCOUNT} 750 {PIN}")
    assert f"{kes(750 * KES)} paid to KENYA POWER {JANE_ACCOUNT} on " in reply
    money.wait_move_state(alice.msisdn, "posted")
    money.quiet()
    verified = alice.send(f"VERIFY {ref_in(reply)}")
    assert f"to KPLC {JANE_ACCOUNT} on " in verified and "completed" in verified
    out = tmp_path / "kplc.csv"
    _staff(money, "statement", "KPLC", "--from", "2000-01-01", "--to", "2100-01-01", "--out",
           str(out), audited=False)  # fmt: skip
    lines = out.read_text().splitlines()
    assert f",{ref_in(reply)},{alice.msisdn},{JANE_ACCOUNT},750.00" in "\n".join(lines)
    assert lines[-1].startswith("total,")


def test_a_payment_whose_confirmation_is_undelivered_is_voided(money) -> None:
    alice = money.customer(START, prefix=UNREACHABLE)
    held_before = _biller_held(money, "KPLC")
    money.simulator.send_mo(alice.msisdn, f"PAY KPLC {JANE_ACCOUNT} 500 {PIN}")
    voided = money.wait_outbox_text(alice.msisdn, "did not go through")
    assert f"your {kes(500 * KES)} to KENYA POWER acc {JANE_ACCOUNT}" in voided.text
    assert f"Nothing was taken. Balance {kes(START)}." in voided.text
    money.quiet()
    [move] = money.moves_of(alice.msisdn)
    assert move.state == "voided"
    assert money.posted(alice.msisdn) == START and _biller_held(money, "KPLC") == held_before
    assert money.usage_today(alice.msisdn) == (0, 0)
