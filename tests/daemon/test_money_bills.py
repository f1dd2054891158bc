"""PAY <biller> <account> <amount> <PIN> through the TranProc: each refusal, a bill paid in full or
in part, a payment held until its confirmation is delivered (then posted, or voided), a repeated MO.
Every test ends with the ledger checked and the trust account reconciled."""

from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from daemon.money.account_rules import parse_rule
from daemon.money.billers import (
    BillerState,
    BillRow,
    BillState,
    add_biller_txn,
    get_bill_txn,
    get_biller_txn,
    import_bills_txn,
    set_biller_state_txn,
)
from daemon.money.common import money_env
from daemon.money.limits import service_day, usage_txn
from daemon.outbox import OutboxStatus
from daemon.schema import inbox, moves, subscribers
from ledger import get_balance
from tests.daemon.money_world import SHORT_CODE, World

ALICE = "254712000001"
KES = 100
WALLET = 10_000 * KES


def money(minor):
    return f"KES {minor / KES:,.2f}"


def add_biller(world, code="KPLC", rule="digits:8", bills_only=False, bills=(), name="Kenya Power"):
    with world.engine.begin() as conn:
        biller = add_biller_txn(
            conn, code, name, parse_rule(rule), bills_only=bills_only, currency="KES",
            actor="test", now_ns=world.now_ns,
        )  # fmt: skip
        if bills:
            rows = [BillRow(account, amount) for account, amount in bills]
            import_bills_txn(conn, biller, rows, "test", world.now_ns)
    return biller


def biller_balance(world, code="KPLC"):
    with world.engine.begin() as conn:
        biller = get_biller_txn(conn, code)
        found = get_balance(conn, biller.account_id)
    return found.credits_posted - found.debits_posted  # pending credits are not the biller's yet


def bill(world, account, code="KPLC"):
    with world.engine.begin() as conn:
        return get_bill_txn(conn, code, account)


def all_moves(world):
    with world.engine.begin() as conn:
        return conn.execute(select(moves)).all()


def fee(world, amount_minor, code="KPLC"):
    return money_env(world.config).tariff.fee_minor("PAY", amount_minor, biller=code)


@pytest.fixture
def world(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    yield world
    world.check()


@pytest.fixture
def pending_world(engine):
    world = World(engine, post_on_delivery=["SEND", "PAY"])
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    yield world
    world.check()


def test_a_bill_is_paid_to_the_billers_own_account(world):
    biller = add_biller(world)
    amount = 1_500 * KES
    reply = world.sms(ALICE, "PAY kplc 12345678 1500 1234")
    charged = amount + fee(world, amount)
    assert "Confirmed. KES 1,500.00 paid to KENYA POWER 12345678 on " in reply
    assert f"Fee {money(charged - amount)}. Bal {money(WALLET - charged)}." in reply
    assert world.balance(ALICE) == WALLET - charged
    assert biller.account_id == 10**6 + 1
    assert biller_balance(world) == amount
    [move] = all_moves(world)
    assert (move.kind, move.state, move.detail) == ("bill", "posted", "KPLC 12345678")
    assert move.payee_msisdn is None and move.fee_minor == charged - amount


def test_verify_and_mini_show_the_bill_payment(world):
    add_biller(world)
    world.sms(ALICE, "PAY KPLC 12345678 1500 1234")
    [move] = all_moves(world)
    verified = world.sms(ALICE, f"VERIFY {move.ref}")
    assert (
        f"{move.ref} is genuine: KES 1,500.00 from ALICE A. 0712 000001 to KPLC 12345678"
        in verified
    )
    assert move.ref in world.sms(ALICE, "MINI 1234")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PAY NOPE 12345678 1500 1234", "There is no biller NOPE."),
        ("PAY KPLC 1234567 1500 1234", "1234567 is not a KENYA POWER account: they are 8 digits."),
        ("PAY KPLC 1234567A 1500 1234", "they are 8 digits. Check the number on your bill."),
    ],
)
def test_unknown_billers_and_bad_accounts_are_refused(world, text, expected):
    add_biller(world)
    reply = world.sms(ALICE, text)
    assert expected in reply
    assert world.balance(ALICE) == WALLET and all_moves(world) == []


def test_a_luhn_account_with_a_wrong_check_digit_is_refused(world):
    add_biller(world, "NAIWAT", "digits:11,luhn", name="Nairobi Water")
    reply = world.sms(ALICE, "PAY NAIWAT 79927398710 500 1234")
    assert (
        "79927398710 is not a NAIROBI WATER account: a digit is wrong or two are swapped." in reply
    )
    reply = world.sms(ALICE, "PAY NAIWAT 7992739871 500 1234")  # a digit short: the shape is said
    assert "7992739871 is not a NAIROBI WATER account: they are 11 digits." in reply
    assert "Confirmed" in world.sms(ALICE, "PAY NAIWAT 79927398713 500 1234")


def test_a_suspended_biller_is_refused(world):
    add_biller(world)
    with world.engine.begin() as conn:
        set_biller_state_txn(conn, "KPLC", BillerState.SUSPENDED, "test", world.now_ns)
    reply = world.sms(ALICE, "PAY KPLC 12345678 1500 1234")
    assert "Payments to KENYA POWER are stopped for now. Nothing was paid." in reply
    assert world.balance(ALICE) == WALLET


def test_a_bills_only_biller_refuses_an_account_with_no_bill(world):
    add_biller(world, bills_only=True, bills=[("11112222", 800 * KES)])
    reply = world.sms(ALICE, "PAY KPLC 12345678 500 1234")
    assert "KENYA POWER has no bill for account 12345678." in reply
    assert "Confirmed" in world.sms(ALICE, "PAY KPLC 11112222 500 1234")


def test_no_more_than_the_amount_due_is_taken(world):
    add_biller(world, bills=[("12345678", 1_000 * KES)])
    reply = world.sms(ALICE, "PAY KPLC 12345678 1000.01 1234")
    assert "KENYA POWER account 12345678 has KES 1,000.00 due: you can pay up to that." in reply
    assert world.balance(ALICE) == WALLET and all_moves(world) == []


def test_a_bill_paid_in_part_says_what_is_still_due_then_is_paid(world):
    add_biller(world, bills=[("12345678", 1_000 * KES)])
    reply = world.sms(ALICE, "PAY KPLC 12345678 600 1234")
    assert "KES 600.00 paid to KENYA POWER 12345678." in reply
    assert reply.endswith("Due KES 400.00.")
    assert (bill(world, "12345678").paid_minor, bill(world, "12345678").state) == (
        600 * KES,
        BillState.OPEN,
    )
    assert "has KES 400.00 due" in world.sms(ALICE, "PAY KPLC 12345678 401 1234")
    assert "Due" not in world.sms(ALICE, "PAY KPLC 12345678 400 1234")
    assert bill(world, "12345678").state is BillState.PAID
    assert "has nothing due" in world.sms(ALICE, "PAY KPLC 12345678 1 1234")
    assert biller_balance(world) == 1_000 * KES


def test_an_unlisted_account_of_an_open_biller_takes_any_amount(world):
    add_biller(world, bills=[("11112222", 100 * KES)])
    assert "Confirmed" in world.sms(ALICE, "PAY KPLC 12345678 5000 1234")


def test_limits_and_funds_refuse_a_payment(world):
    add_biller(world)
    poor = "254712000009"
    world.add(poor, balance_minor=100 * KES, name="Poor Pete")
    reply = world.sms(poor, "PAY KPLC 12345678 500 1234")
    assert reply.startswith("Not enough money: this needs KES 5")
    assert "Over your limit per transaction" in world.sms(ALICE, "PAY KPLC 12345678 300000 1234")
    assert world.balance(ALICE) == WALLET and world.balance(poor) == 100 * KES


def test_a_held_payment_counts_towards_the_bill_only_once_posted(pending_world):
    world = pending_world
    add_biller(world, bills=[("12345678", 1_000 * KES)])
    reply = world.sms(ALICE, "PAY KPLC 12345678 700 1234")
    assert "Due KES 300.00." in reply
    assert bill(world, "12345678").paid_minor == 0 and biller_balance(world) == 0
    # what waits for its receipt already counts against the amount due
    assert "has KES 300.00 due" in world.sms(ALICE, "PAY KPLC 12345678 301 1234")
    world.receipts(OutboxStatus.DELIVERED)
    assert bill(world, "12345678").paid_minor == 700 * KES
    assert biller_balance(world) == 700 * KES
    [move] = all_moves(world)
    assert move.state == "posted"
    assert len(world.texts_to(ALICE)) == 2  # nobody is told more: the biller reads a statement


def test_an_undelivered_confirmation_voids_the_payment(pending_world):
    world = pending_world
    add_biller(world, bills=[("12345678", 1_000 * KES)])
    world.sms(ALICE, "PAY KPLC 12345678 700 1234")
    world.receipts(OutboxStatus.FAILED)
    told = world.last_to(ALICE)
    assert "your KES 700.00 to KENYA POWER acc 12345678 did not go through." in told
    assert told.endswith(f"Nothing was taken. Balance {money(WALLET)}.")
    assert world.balance(ALICE) == WALLET and biller_balance(world) == 0
    assert bill(world, "12345678").paid_minor == 0
    with world.engine.begin() as conn:
        day = service_day(world.now_ns, world.config.money.timezone)
        assert usage_txn(conn, ALICE, day).count == 0  # nothing moved: no use of the limits
    assert "Confirmed" in world.sms(ALICE, "PAY KPLC 12345678 1000 1234")  # all due again


def test_a_repeated_message_pays_once(pending_world):
    world = pending_world
    add_biller(world, bills=[("12345678", 1_000 * KES)])
    text = "PAY KPLC 12345678 600 1234"
    with world.engine.begin() as conn:
        for _ in range(2):
            conn.execute(
                insert(inbox).values(
                    received_at_ns=world.now_ns, bind_name="smsc1", source_addr=ALICE,
                    destination_addr=SHORT_CODE, data_coding=0, payload=text.encode(), text=text,
                    dedupe_key="same-mo", status="new", attempts=0,
                )
            )  # fmt: skip
    world.run_tranproc()
    first, again = world.texts_to(ALICE)
    assert "Confirmed" in first and again.startswith("You sent this message already")
    world.receipts()
    assert len(all_moves(world)) == 1
    assert bill(world, "12345678").paid_minor == 600 * KES
    assert biller_balance(world) == 600 * KES


def test_a_frozen_payer_is_refused(world):
    add_biller(world)
    with world.engine.begin() as conn:
        conn.execute(
            update(subscribers).where(subscribers.c.msisdn == ALICE).values(state="frozen")
        )
    assert "frozen" in world.sms(ALICE, "PAY KPLC 12345678 500 1234")
    assert world.balance(ALICE) == WALLET and all_moves(world) == []


def test_a_biller_with_its_own_fee_bands_is_charged_by_them(engine, tmp_path):
    tariff = tmp_path / "tariff.toml"
    shipped = (Path(__file__).parents[2] / "etc" / "tariff.toml").read_text()
    tariff.write_text(
        shipped + "\n[fees.pay_by_biller]\nKPLC = [ { min = 1, max = 250_000, fee = 7 } ]\n"
    )
    world = World(engine, tariff_file=str(tariff))
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    add_biller(world)
    add_biller(world, "WATER", name="City Water")
    assert "Fee KES 7.00." in world.sms(ALICE, "PAY KPLC 12345678 50 1234")
    assert "Fee KES 0.00." in world.sms(ALICE, "PAY WATER 12345678 50 1234")  # the common bands
    assert world.balance(ALICE) == WALLET - 100 * KES - 7 * KES
    world.check()
