"""DEPOSIT, WITHDRAW and COLLECT at an agent store and its assistant, through the TranProc: float,
commission and fees in one chain, the rollback of a withdrawal, every refusal, vouchers paid out as
cash (wrong codes locked like PINs) and returned when they expire. Every test ends with the ledger
checked and the trust account reconciled."""

import re

import pytest
from sqlalchemy import insert, select, update

from daemon.commands import Role
from daemon.money.common import money_env
from daemon.money.limits import DailyUsage, service_day, usage_txn
from daemon.money.tariff import RecipientKind
from daemon.outbox import OutboxStatus
from daemon.schema import daily_usage, inbox, moves, subscribers, vouchers
from tests.daemon.money_world import SHORT_CODE, World

ALICE, BOB, CAROL = "254712000001", "254712000002", "254712000003"
STORE, ASSISTANT, OTHER_STORE = "254722000100", "254722000101", "254722000200"
KES = 100  # minor units per shilling
FLOAT = 50_000 * KES
WALLET = 10_000 * KES


def people(world: World) -> World:
    world.add(STORE, Role.AGENT, balance_minor=FLOAT, name="Mama Mboga Shop", agent_number="123456")
    world.add(ASSISTANT, Role.ASSISTANT, pin="5678", name="Peter Otieno", store_msisdn=STORE)
    world.add(OTHER_STORE, Role.AGENT, pin="2468", name="Duka Kuu", agent_number="654321")
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    return world


@pytest.fixture
def world(engine):
    world = people(World(engine))
    yield world
    world.check()


def tariff(world):
    return money_env(world.config).tariff


def commission(world, command, amount_minor):
    return tariff(world).commission_minor(command, amount_minor)


def fee(world, command, amount_minor):
    return tariff(world).fee_minor(command, amount_minor)


def money(amount_minor):
    return f"KES {amount_minor / KES:,.2f}"


def set_state(world, msisdn, state):
    with world.engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.msisdn == msisdn).values(state=state))


def last_move(world):
    with world.engine.begin() as conn:
        return conn.execute(select(moves).order_by(moves.c.id.desc())).first()


def voucher_state(world):
    with world.engine.begin() as conn:
        return conn.execute(select(vouchers.c.state)).scalar_one()


# --- DEPOSIT


def test_a_deposit_moves_float_to_the_wallet_with_commission(world):
    amount = 1_000 * KES
    earned = commission(world, "DEPOSIT", amount)
    reply = world.sms(STORE, "DEPOSIT 0712 000 001 1,000 1234")
    assert "Confirmed. KES 1,000.00 deposited to ALICE A. 0712 000001" in reply
    assert f"Comm. {money(earned)}. Float {money(FLOAT - amount + earned)}." in reply
    assert world.balance(ALICE) == WALLET + amount
    assert world.balance(STORE) == FLOAT - amount + earned
    [told] = world.texts_to(ALICE)
    assert "You deposited KES 1,000.00 at 123456 MAMA MBOGA SHOP" in told
    assert f"New balance {money(WALLET + amount)}." in told
    assert "Fee" not in told and money(FLOAT - amount + earned) not in told
    assert last_move(world).commission_minor == earned > 0


def test_an_assistant_deposits_from_its_stores_float(world):
    amount = 500 * KES
    earned = commission(world, "DEPOSIT", amount)
    reply = world.sms(ASSISTANT, "DEPOSIT 0712000002 500 5678")
    assert f"Float {money(FLOAT - amount + earned)}." in reply
    assert world.balance(STORE) == FLOAT - amount + earned
    assert world.balance(ASSISTANT) == 0
    assert world.balance(BOB) == amount
    move = last_move(world)
    assert (move.payer_msisdn, move.actor_msisdn) == (STORE, ASSISTANT)


def test_a_deposit_with_too_little_float_moves_nothing(world):
    world.sms(STORE, "DEPOSIT 0712000001 20000 1234")
    world.sms(STORE, "DEPOSIT 0712000002 20000 1234")
    left = world.balance(STORE)
    reply = world.sms(ASSISTANT, "DEPOSIT 0712000002 15000 5678")
    assert reply == f"Not enough money: this needs KES 15,000.00 and your balance is {money(left)}."
    assert world.balance(STORE) == left and world.balance(BOB) == 20_000 * KES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DEPOSIT 0712000003 500 1234", "0712 000003 is not registered. Register them first"),
        ("DEPOSIT 0722000200 500 1234", "0722 000200 cannot receive this money"),
        ("DEPOSIT 0712000001 49 1234", "The smallest amount is KES 50.00."),
        ("DEPOSIT 0712000001 20001 1234", "can receive at most KES 20,000.00 in one deposit"),
        ("DEPOSIT 0712000001 500 9999", "Wrong PIN. 2 attempt(s) left"),
        ("DEPOSIT 0712000001 -5 1234", "must be more than zero"),
        ("DEPOSIT 0712000001 500", "PIN is missing"),
    ],
)
def test_deposit_refusals_move_nothing(world, text, expected):
    assert expected in world.sms(STORE, text)
    assert world.balance(STORE) == FLOAT and world.balance(ALICE) == WALLET


def test_a_deposit_over_the_customers_maximum_balance_does_not_say_their_balance(world):
    most = tariff(world).limits(1).balance_max_minor
    half = (most - WALLET) // 2
    for _ in range(2):
        world.sms(STORE, f"DEPOSIT 0712000001 {half // KES} 1234")
    assert world.balance(ALICE) == most
    reply = world.sms(STORE, "DEPOSIT 0712000001 50 1234")
    assert reply == "0712 000001 cannot receive this money. Nothing was sent."
    assert world.balance(ALICE) == most


def test_a_frozen_customer_store_or_assistant_cannot_deposit_or_be_deposited_to(world):
    set_state(world, ALICE, "frozen")
    assert "cannot receive" in world.sms(STORE, "DEPOSIT 0712000001 500 1234")
    set_state(world, STORE, "frozen")
    assert "frozen" in world.sms(STORE, "DEPOSIT 0712000002 500 1234")
    assert "frozen" in world.sms(ASSISTANT, "DEPOSIT 0712000002 500 5678")
    set_state(world, STORE, "active")
    set_state(world, ASSISTANT, "frozen")
    assert "frozen" in world.sms(ASSISTANT, "DEPOSIT 0712000002 500 5678")
    assert world.balance(STORE) == FLOAT and world.balance(BOB) == 0


def test_a_customer_cannot_deposit(world):
    reply = world.sms(ALICE, "DEPOSIT 0712000002 500 1234")
    assert reply == "DEPOSIT is not available for your account. Send HELP for your commands."


def test_a_deposit_held_for_delivery_tells_the_customer_only_once_posted(engine):
    world = people(World(engine, post_on_delivery=["SEND", "WITHDRAW", "DEPOSIT"]))
    world.sms(STORE, "DEPOSIT 0712000001 1000 1234")
    assert world.texts_to(ALICE) == [] and world.balance(ALICE) == WALLET
    world.receipts(OutboxStatus.DELIVERED)
    assert "You deposited KES 1,000.00" in world.last_to(ALICE)
    assert world.balance(ALICE) == WALLET + 1_000 * KES
    world.sms(ASSISTANT, "DEPOSIT 0712000002 700 5678")
    world.receipts(OutboxStatus.FAILED)
    assert world.last_to(ASSISTANT).endswith(
        f"did not go through. Nothing moved. Float {money(world.balance(STORE))}."
    )
    assert world.balance(BOB) == 0 and world.texts_to(BOB) == []
    world.check()


def redelivered(world, sender, text, copies=2):
    """The same MO `copies` times (as an SMSC re-delivers one whose resp it did not see)."""
    with world.engine.begin() as conn:
        for _ in range(copies):
            conn.execute(
                insert(inbox).values(
                    received_at_ns=world.now_ns, bind_name="smsc1", source_addr=sender,
                    destination_addr=SHORT_CODE, data_coding=0, payload=text.encode(), text=text,
                    dedupe_key="same-mo", status="new", attempts=0,
                )
            )  # fmt: skip
    world.run_tranproc()


@pytest.mark.parametrize(
    ("sender", "text"),
    [(STORE, "DEPOSIT 0712000001 500 1234"), (ALICE, "WITHDRAW 123456 500 1234")],
)
def test_a_repeated_money_message_moves_money_once(world, sender, text):
    redelivered(world, sender, text)
    first, again = world.texts_to(sender)
    assert "Confirmed" in first and again.startswith("You sent this message already")
    world.receipts()
    assert world.balance(ALICE) != WALLET
    with world.engine.begin() as conn:
        assert len(conn.execute(select(moves)).all()) == 1


# --- WITHDRAW


@pytest.mark.parametrize("agent", ["123456", "0722 000 100", "+254722000100"])
def test_a_withdrawal_by_agent_number_or_phone_waits_for_its_confirmation(world, agent):
    amount = 500 * KES
    charged = amount + fee(world, "WITHDRAW", amount)
    earned = commission(world, "WITHDRAW", amount)
    reply = world.sms(ALICE, f"WITHDRAW {agent} 500 1234")
    assert "Confirmed. KES 500.00 withdrawn at 123456 MAMA MBOGA SHOP" in reply
    assert f"Fee {money(charged - amount)}. New balance {money(WALLET - charged)}." in reply
    assert world.texts_to(STORE) == []  # no cash before the money is posted
    world.receipts(OutboxStatus.DELIVERED)
    [told] = world.texts_to(STORE)
    assert "Confirmed. Give KES 500.00 cash to ALICE A. 0712 000001" in told
    assert f"Comm. {money(earned)}. Float {money(FLOAT + amount + earned)}." in told
    assert money(WALLET - charged) not in told  # never the customer's balance
    assert world.balance(ALICE) == WALLET - charged
    assert world.balance(STORE) == FLOAT + amount + earned


def test_an_undelivered_withdrawal_confirmation_voids_it(world):
    world.sms(ALICE, "WITHDRAW 123456 500 1234")
    world.receipts(OutboxStatus.FAILED)
    assert "your withdrawal of KES 500.00 at agent 123456" in world.last_to(ALICE)
    assert "did not go through. Nothing was taken" in world.last_to(ALICE)
    assert world.balance(ALICE) == WALLET and world.balance(STORE) == FLOAT
    assert world.texts_to(STORE) == []
    with world.engine.begin() as conn:  # nothing moved: no use of the daily limits either
        day = service_day(world.now_ns, world.config.money.timezone)
        assert usage_txn(conn, ALICE, day) == DailyUsage(0, 0)


def test_withdrawals_posted_at_once_when_not_held(engine):
    world = people(World(engine, post_on_delivery=["SEND"]))
    world.sms(ALICE, "WITHDRAW 123456 1000 1234")
    assert "Give KES 1,000.00 cash" in world.last_to(STORE)
    world.check()


def usage(world, msisdn, value_minor, count):
    day = service_day(world.now_ns, world.config.money.timezone)
    with world.engine.begin() as conn:
        conn.execute(
            insert(daily_usage).values(msisdn=msisdn, day=day, value_minor=value_minor, count=count)
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WITHDRAW 999999 500 1234", "There is no smscore agent 999999."),
        ("WITHDRAW 0712000002 500 1234", "There is no smscore agent 0712 000002."),
        ("WITHDRAW 0722000101 500 1234", "There is no smscore agent 0722 000101."),
        ("WITHDRAW 123456 10000 1234", "Not enough money: this needs KES 10,"),
        ("WITHDRAW 123456 49 1234", "The smallest amount is KES 50.00."),
        ("WITHDRAW 123456 20001 1234", "The most you can move at once is KES 20,000.00."),
        ("WITHDRAW 123456 500 4321", "Wrong PIN. 2 attempt(s) left"),
        ("WITHDRAW 12 500 1234", 'Sorry, "12" is not a valid AGENT'),
        ("WITHDRAW 123456 1.005 1234", "at most 2 decimals"),
    ],
)
def test_withdrawal_refusals_move_nothing(world, text, expected):
    assert expected in world.sms(ALICE, text)
    assert world.balance(ALICE) == WALLET and world.balance(STORE) == FLOAT
    assert world.texts_to(STORE) == []


def test_daily_limits_of_withdrawals(world):
    limits = tariff(world).limits(1)
    usage(world, ALICE, limits.daily_value_max_minor - 1_000 * KES, 1)
    assert "You can move KES 1,000.00 more today." in world.sms(ALICE, "WITHDRAW 123456 1001 1234")
    world.sms(ALICE, "WITHDRAW 123456 1000 1234")
    world.receipts()
    assert "You can move KES 0.00 more today." in world.sms(ALICE, "WITHDRAW 123456 50 1234")
    assert world.balance(ALICE) == WALLET - 1_000 * KES - fee(world, "WITHDRAW", 1_000 * KES)


def test_the_daily_count_of_withdrawals(world):
    limits = tariff(world).limits(1)
    usage(world, ALICE, 0, limits.daily_count_max)
    reply = world.sms(ALICE, "WITHDRAW 123456 500 1234")
    assert f"Over your daily limit of {limits.daily_count_max} transactions" in reply
    world.advance(86_400)  # a new day
    assert "Confirmed" in world.sms(ALICE, "WITHDRAW 123456 500 1234")
    world.receipts()


def test_a_frozen_customer_or_agent_cannot_withdraw(world):
    set_state(world, STORE, "frozen")
    assert "Agent 123456 MAMA MBOGA SHOP cannot serve" in world.sms(
        ALICE, "WITHDRAW 123456 500 1234"
    )
    set_state(world, ALICE, "frozen")
    assert "frozen" in world.sms(ALICE, "WITHDRAW 654321 500 1234")
    assert world.balance(ALICE) == WALLET


def test_a_locked_pin_refuses_withdrawals(world):
    for _ in range(world.config.security.pin_max_failures):
        world.sms(ALICE, "WITHDRAW 123456 500 0000")
    assert "Your PIN is locked" in world.sms(ALICE, "WITHDRAW 123456 500 1234")
    assert world.balance(ALICE) == WALLET


@pytest.mark.parametrize("sender", [ASSISTANT, STORE])
def test_agents_and_assistants_cannot_move_float_out(world, sender):
    pin = "5678" if sender == ASSISTANT else "1234"
    assert "WITHDRAW is not available" in world.sms(sender, f"WITHDRAW 654321 500 {pin}")
    assert "SEND is not available" in world.sms(sender, f"SEND 0712000001 500 {pin}")
    assert world.balance(STORE) == FLOAT


# --- COLLECT and voucher expiry


def send_voucher(world, amount_text="300"):
    world.sms(ALICE, f"SEND 0712000003 {amount_text} 1234")
    world.receipts(OutboxStatus.DELIVERED)
    return re.search(r"code (\d{8})", world.last_to(CAROL)).group(1)


def test_an_agent_pays_out_a_voucher_as_cash(world):
    code = send_voucher(world)
    amount = 300 * KES
    earned = commission(world, "COLLECT", amount)
    reply = world.sms(STORE, f"COLLECT {code} 0712000003 1234")
    assert "Confirmed. Give KES 300.00 cash for KES 300.00 to 0712 000003" in reply
    assert f"Comm. {money(earned)}. Float {money(FLOAT + amount + earned)}." in reply
    assert world.balance(STORE) == FLOAT + amount + earned
    assert voucher_state(world) == "collected"
    told = world.last_to(CAROL)
    assert "Collected KES 300.00 from ALICE A. 0712 000001 at 123456" in told
    assert "was collected at agent 123456 MAMA MBOGA SHOP" in world.last_to(ALICE)
    again = world.sms(STORE, f"COLLECT {code} 0712000003 1234")
    assert again.startswith("No money for 0712 000003 has that code. Nothing was paid.")
    assert world.balance(STORE) == FLOAT + amount + earned


def test_an_assistant_collects_into_its_stores_float(world):
    code = send_voucher(world, "1000")
    world.sms(ASSISTANT, f"COLLECT {code} 0712000003 5678")
    assert world.balance(STORE) == FLOAT + 1_000 * KES + commission(world, "COLLECT", 1_000 * KES)
    assert world.balance(ASSISTANT) == 0
    assert last_move(world).actor_msisdn == ASSISTANT


def test_wrong_voucher_codes_lock_collection_for_that_number(world):
    code = send_voucher(world)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    tries = world.config.security.pin_max_failures
    for left in range(tries - 1, 0, -1):
        reply = world.sms(STORE, f"COLLECT {wrong} 0712000003 1234")
        assert f"{left} attempt(s) left" in reply
    assert "collecting is locked" in world.sms(OTHER_STORE, f"COLLECT {wrong} 0712000003 2468")
    # Locked for everyone, even with the right code: guessing at many counters gains nothing.
    assert "collecting is locked" in world.sms(STORE, f"COLLECT {code} 0712000003 1234")
    assert voucher_state(world) == "open" and world.balance(STORE) == FLOAT
    world.advance(world.config.security.pin_lockout_s + 1)
    assert "Give KES 300.00 cash" in world.sms(STORE, f"COLLECT {code} 0712000003 1234")


def test_collect_refusals(world):
    code = send_voucher(world)
    assert "No money for 0712 000002" in world.sms(STORE, f"COLLECT {code} 0712000002 1234")
    assert "Wrong PIN" in world.sms(STORE, f"COLLECT {code} 0712000003 9999")
    assert "not valid" in world.sms(STORE, "COLLECT 1234 0712000003 1234")
    assert "COLLECT is not available" in world.sms(ALICE, f"COLLECT {code} 0712000003 1234")
    set_state(world, STORE, "frozen")
    assert "frozen" in world.sms(ASSISTANT, f"COLLECT {code} 0712000003 5678")
    assert voucher_state(world) == "open" and world.balance(STORE) == FLOAT


def test_a_voided_collection_reopens_the_voucher(engine):
    world = people(World(engine, post_on_delivery=["SEND", "COLLECT"]))
    code = send_voucher(world)
    world.sms(STORE, f"COLLECT {code} 0712000003 1234")
    assert voucher_state(world) == "collected" and world.balance(STORE) == FLOAT
    world.receipts(OutboxStatus.FAILED)
    assert "Do not give the cash" in world.last_to(STORE)
    assert voucher_state(world) == "open" and world.balance(STORE) == FLOAT
    world.sms(STORE, f"COLLECT {code} 0712000003 1234")
    world.receipts(OutboxStatus.DELIVERED)
    assert "Collected KES 300.00" in world.last_to(CAROL)
    assert world.balance(STORE) == FLOAT + 300 * KES + commission(world, "COLLECT", 300 * KES)
    world.check()


def test_an_expired_voucher_returns_to_its_sender(world):
    code = send_voucher(world)
    charged = 300 * KES + tariff(world).fee_minor("SEND", 300 * KES, RecipientKind.UNREGISTERED)
    world.advance(world.config.money.voucher_expiry_days * 86_400 - 10)
    assert world.settle()["vouchers_returned"] == 0
    world.advance(11)
    assert world.settle()["vouchers_returned"] == 1
    assert voucher_state(world) == "returned"
    told = world.last_to(ALICE)
    assert "the KES 300.00 you sent to 0712 000003" in told and "was not collected" in told
    assert f"New balance {money(WALLET - charged + 300 * KES)}." in told
    assert world.balance(ALICE) == WALLET - charged + 300 * KES
    assert "No money for" in world.sms(STORE, f"COLLECT {code} 0712000003 1234")
    assert world.settle()["vouchers_returned"] == 0
