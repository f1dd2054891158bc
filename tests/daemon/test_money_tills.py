"""TILL <till> <amount> <PIN> through the TranProc: the merchant's and the customer's fees, the
merchant's SMS once posted, pending until delivered or voided, every refusal, VERIFY and MINI. Every
test ends with the ledger checked and the trust account reconciled."""

import re
from importlib import resources

import pytest
from sqlalchemy import insert, select, update

from daemon.chart import SystemAccount
from daemon.commands import Role
from daemon.money.common import money_env
from daemon.money.tills import TillState
from daemon.outbox import OutboxStatus
from daemon.schema import moves, subscribers, tills
from ledger import get_balance
from tests.daemon.money_world import World
from tests.daemon.test_money_agents import redelivered

ALICE, MERCHANT = "254712000001", "254712000050"
TILL = "123456"
KES = 100


def add_till(world, msisdn=MERCHANT, number=TILL, name="Mama Mboga", state=TillState.ACTIVE):
    if world.subscriber(msisdn) is None:
        world.add(msisdn, Role.BILLER, name=name)
    values = {"till_number": number, "msisdn": msisdn, "name": name, "state": state.value,
              "created_at_ns": world.now_ns, "created_by": "test"}  # fmt: skip
    with world.engine.begin() as conn:
        conn.execute(insert(tills).values(values))


def world_with(engine, **money):
    world = World(engine, **money)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    add_till(world)
    return world


@pytest.fixture
def world(engine):  # TILL posts at once (the default: only SEND and WITHDRAW wait for delivery)
    world = world_with(engine)
    yield world
    world.check()


@pytest.fixture
def waiting(engine):  # TILL waits for the payer's confirmation to be delivered
    world = world_with(engine, post_on_delivery=["SEND", "TILL"])
    yield world
    world.check()


def fees(world, amount_minor):
    tariff = money_env(world.config).tariff
    return tariff.fee_minor("TILL", amount_minor), tariff.merchant_fee_minor("TILL", amount_minor)


def fee_income(world):
    with world.engine.begin() as conn:
        found = get_balance(conn, int(SystemAccount.FEE_INCOME))
    return found.available if found is not None else 0


def ref_in(text):
    return re.match(r"([A-Z0-9]{10}) ", text).group(1)


def test_a_till_payment_posts_and_tells_the_merchant(world):
    amount = 500 * KES
    fee, merchant_fee = fees(world, amount)
    assert fee == 0 and merchant_fee > 0  # the built-in tariff: free to the customer
    reply = world.sms(ALICE, "TILL 123456 500 1234")
    assert "KES 500.00 paid to MAMA MBOGA till 123456" in reply
    assert f"Balance KES {(10_000 * KES - amount) / KES:,.2f}" in reply
    [told] = world.texts_to(MERCHANT)
    assert ref_in(told) == ref_in(reply)
    assert "KES 500.00 received from ALICE A. 0712 000001" in told
    assert f"Fee KES {merchant_fee / KES:,.2f}" in told
    assert world.balance(MERCHANT) == amount - merchant_fee
    assert world.balance(ALICE) == 10_000 * KES - amount
    assert fee_income(world) == merchant_fee


def test_the_legs_take_the_merchant_fee_from_the_merchant(world):
    reply = world.sms(ALICE, "TILL 123456 500 1234")
    with world.engine.begin() as conn:
        move = conn.execute(select(moves).where(moves.c.ref == ref_in(reply))).one()
    _, merchant_fee = fees(world, 500 * KES)
    assert (move.kind, move.state, move.legs) == ("till", "posted", 2)
    assert (move.fee_minor, move.commission_minor) == (0, merchant_fee)
    assert move.detail == "till 123456 Mama Mboga" and move.payee_msisdn == MERCHANT


def test_a_customer_fee_in_the_tariff_is_charged(engine, tmp_path):
    source = resources.files("daemon.money").joinpath("default_tariff.toml").read_text("utf-8")
    custom = tmp_path / "tariff.toml"
    custom.write_text(
        source.replace("[fees]\n", "[fees]\ntill = [{ min = 1, max = 250_000, fee = 7 }]\n")
    )
    world = world_with(engine, tariff_file=str(custom))
    assert fees(world, 500 * KES)[0] == 7 * KES
    reply = world.sms(ALICE, "TILL 123456 500 1234")
    assert "Fee KES 7.00" in reply
    _, merchant_fee = fees(world, 500 * KES)
    assert world.balance(ALICE) == 10_000 * KES - 507 * KES
    assert world.balance(MERCHANT) == 500 * KES - merchant_fee
    assert fee_income(world) == 7 * KES + merchant_fee
    world.check()


def test_pending_until_the_confirmation_is_delivered(waiting):
    reply = waiting.sms(ALICE, "TILL 123456 500 1234")
    assert "paid to MAMA MBOGA" in reply
    assert waiting.texts_to(MERCHANT) == [] and waiting.balance(MERCHANT) == 0
    waiting.check()
    waiting.receipts(OutboxStatus.DELIVERED)
    [told] = waiting.texts_to(MERCHANT)
    assert ref_in(told) == ref_in(reply)
    _, merchant_fee = fees(waiting, 500 * KES)
    assert waiting.balance(MERCHANT) == 500 * KES - merchant_fee
    assert fee_income(waiting) == merchant_fee


def test_pending_then_voided_tells_the_payer(waiting):
    waiting.sms(ALICE, "TILL 123456 500 1234")
    waiting.receipts(OutboxStatus.FAILED)
    voided = waiting.last_to(ALICE)
    assert "to MAMA MBOGA till 123456 did not go through. Nothing was taken" in voided
    assert waiting.balance(ALICE) == 10_000 * KES and waiting.balance(MERCHANT) == 0
    assert waiting.texts_to(MERCHANT) == [] and fee_income(waiting) == 0


def test_a_repeated_mo_pays_once(world):
    redelivered(world, ALICE, "TILL 123456 500 1234")
    first, again = world.texts_to(ALICE)
    assert "paid to MAMA MBOGA" in first and again.startswith("You sent this message already")
    _, merchant_fee = fees(world, 500 * KES)
    assert world.balance(MERCHANT) == 500 * KES - merchant_fee
    assert len(world.texts_to(MERCHANT)) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TILL 999999 500 1234", "There is no till 999999"),
        ("TILL 12 500 1234", "a till number is 5 to 10 digits"),
        ("TILL 123456 0.50 1234", "The smallest amount is"),
        ("TILL 123456 900,000 1234", "KES"),
        ("TILL 123456 20,000 1234", "Not enough money"),
    ],
)
def test_refusals_move_nothing(world, text, expected):
    assert expected in world.sms(ALICE, text)
    assert world.balance(ALICE) == 10_000 * KES and world.balance(MERCHANT) == 0
    assert world.texts_to(MERCHANT) == []


def test_over_the_tier_limit(world):
    limit = money_env(world.config).tariff.limits(1).per_transaction_max_minor
    reply = world.sms(ALICE, f"TILL 123456 {(limit + KES) // KES} 1234")
    assert f"KES {limit / KES:,.2f}" in reply and world.balance(MERCHANT) == 0


def test_a_suspended_till_is_refused(world):
    with world.engine.begin() as conn:
        conn.execute(update(tills).values(state=TillState.SUSPENDED.value))
    assert "Till 123456 (MAMA MBOGA) cannot take payments now" in world.sms(
        ALICE, "TILL 123456 500 1234"
    )
    assert world.balance(ALICE) == 10_000 * KES


def test_a_frozen_merchant_is_refused(world):
    with world.engine.begin() as conn:
        conn.execute(
            update(subscribers).where(subscribers.c.msisdn == MERCHANT).values(state="frozen")
        )
    assert "cannot take payments now" in world.sms(ALICE, "TILL 123456 500 1234")


def test_a_frozen_payer_is_refused(world):
    with world.engine.begin() as conn:
        conn.execute(
            update(subscribers).where(subscribers.c.msisdn == ALICE).values(state="frozen")
        )
    assert "frozen" in world.sms(ALICE, "TILL 123456 500 1234")
    assert world.balance(MERCHANT) == 0


def test_paying_your_own_till_is_refused(world):
    add_till(world, msisdn=ALICE, number="555555", name="Alice Shop")  # corrupt data, defended
    assert "You cannot pay your own till" in world.sms(ALICE, "TILL 555555 500 1234")
    assert world.balance(ALICE) == 10_000 * KES


def test_a_merchant_cannot_pay_a_till(world):
    reply = world.sms(MERCHANT, "TILL 123456 500 1234")
    assert "paid to" not in reply and world.balance(MERCHANT) == 0


def test_verify_names_the_till_and_mini_shows_the_payment(world):
    reply = world.sms(ALICE, "TILL 123456 500 1234")
    ref = ref_in(reply)
    verified = world.sms(ALICE, f"VERIFY {ref}")
    assert "MAMA MBOGA 123456" in verified
    assert "MAMA MBOGA 123456" in world.sms(MERCHANT, f"VERIFY {ref}")
    assert ref in world.sms(ALICE, "MINI 1234")
