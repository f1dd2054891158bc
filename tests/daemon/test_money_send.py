"""SEND through the TranProc: fees, the M-Pesa rollback, vouchers, the double-send guard, confirm
before commit, limits and refusals; MINI, VERIFY and LANG. Every test ends with the ledger checked
and the trust account reconciled."""

import re

import pytest

from daemon.commands import Role
from daemon.money.common import money_env
from daemon.money.limits import DailyUsage, service_day, usage_txn
from daemon.money.tariff import RecipientKind
from daemon.outbox import OutboxStatus
from daemon.schema import vouchers
from tests.daemon.money_world import World

ALICE, BOB, CAROL = "254712000001", "254712000002", "254712000003"
KES = 100  # minor units per shilling


@pytest.fixture
def world(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.check()


def fee(world, amount_minor, kind=RecipientKind.REGISTERED):
    return money_env(world.config).tariff.fee_minor("SEND", amount_minor, kind)


def code_in(text):
    return re.search(r"YES (\d{4})", text).group(1)


def test_send_waits_for_the_confirmation_then_tells_the_recipient(world):
    amount = 500 * KES
    reply = world.sms(ALICE, "SEND 0712 000 002 500 1234")
    assert "Confirmed. KES 500.00 sent to JANE W. 0712 000002" in reply
    charged = amount + fee(world, amount)
    assert f"New balance KES {(10_000 * KES - charged) / KES:,.2f}" in reply
    assert world.texts_to(BOB) == []  # not a word before the money is posted
    assert world.balance(BOB) == 0
    world.receipts(OutboxStatus.DELIVERED)
    [received] = world.texts_to(BOB)
    assert "You have received KES 500.00 from ALICE A." in received
    assert "New balance KES 500.00" in received
    assert world.balance(ALICE) == 10_000 * KES - charged


def test_an_undelivered_confirmation_voids_the_send(world):
    world.sms(ALICE, "SEND 0712000002 500 1234")
    world.receipts(OutboxStatus.FAILED)
    assert "did not go through. Nothing was taken" in world.last_to(ALICE)
    assert world.balance(ALICE) == 10_000 * KES and world.balance(BOB) == 0
    assert world.texts_to(BOB) == []


def test_no_receipt_in_time_voids_the_send(world):
    world.sms(ALICE, "SEND 0712000002 500 1234")
    world.advance(world.config.money.rollback_timeout_s - 1)
    world.sweep()
    assert world.balance(ALICE) < 10_000 * KES  # still reserved: there is time
    world.advance(2)
    world.sweep()
    assert "did not go through" in world.last_to(ALICE)
    assert world.balance(ALICE) == 10_000 * KES
    world.receipts(OutboxStatus.DELIVERED)  # a late receipt changes nothing now
    assert world.balance(BOB) == 0 and world.texts_to(BOB) == []


def usage(world, msisdn):
    with world.engine.begin() as conn:
        return usage_txn(conn, msisdn, service_day(world.now_ns, world.config.money.timezone))


def test_a_voided_send_gives_back_its_use_of_the_daily_limits(world):
    world.sms(ALICE, "SEND 0712000002 300 1234")
    world.receipts()
    world.sms(ALICE, "SEND 0712000002 500 1234")
    assert usage(world, ALICE) == DailyUsage(800 * KES, 2)
    world.receipts(OutboxStatus.FAILED)
    assert usage(world, ALICE) == DailyUsage(300 * KES, 1)  # only the one that moved money


def test_posted_at_once_when_send_is_not_held_for_delivery(engine):
    world = World(engine, post_on_delivery=[])
    world.add(ALICE, balance_minor=2_000 * KES)
    world.add(BOB)
    world.sms(ALICE, "send 254712000002 1,000.00 1234")
    assert world.balance(BOB) == 1_000 * KES
    assert "You have received KES 1,000.00" in world.last_to(BOB)
    world.check()


def test_too_little_money_moves_nothing(world):
    reply = world.sms(ALICE, "SEND 0712000002 10000 1234")
    assert reply.startswith("Not enough money")
    assert world.balance(ALICE) == 10_000 * KES
    assert world.outbox(to=BOB) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SEND 0712000001 100 1234", "cannot send money to yourself"),
        ("SEND 0712000002 100 9999", "Wrong PIN"),
        ("SEND 0712000002 -100 1234", "must be more than zero"),
        ("SEND 0712000002 1.005 1234", "at most 2 decimals"),
        ("SEND 0712000002 100", "PIN is missing"),
    ],
)
def test_refusals_move_nothing(world, text, expected):
    assert expected in world.sms(ALICE, text)
    assert world.balance(ALICE) == 10_000 * KES


def test_a_frozen_sender_is_refused(world):
    with world.engine.begin() as conn:
        from sqlalchemy import update

        from daemon.schema import subscribers

        conn.execute(
            update(subscribers).where(subscribers.c.msisdn == ALICE).values(state="frozen")
        )
    assert "frozen" in world.sms(ALICE, "SEND 0712000002 100 1234")
    assert world.balance(ALICE) == 10_000 * KES


def test_to_an_unregistered_number_makes_a_voucher(world):
    amount = 300 * KES
    reply = world.sms(ALICE, "SEND 0712000003 300 1234")
    assert "not registered" in reply
    assert world.texts_to(CAROL) == []
    world.receipts(OutboxStatus.DELIVERED)
    [told] = world.texts_to(CAROL)
    assert re.search(r"with code \d{8} by", told), told
    with world.engine.begin() as conn:
        [voucher] = conn.execute(vouchers.select()).all()
    assert voucher.state == "open" and voucher.amount_minor == amount
    charged = amount + fee(world, amount, RecipientKind.UNREGISTERED)
    assert world.balance(ALICE) == 10_000 * KES - charged


def test_the_same_send_again_asks_for_yes(world):
    world.sms(ALICE, "SEND 0712000002 200 1234")
    world.receipts()
    world.advance(200)  # past the repeat window: a new message, not a re-delivery
    again = world.sms(ALICE, "SEND 0712 000 002 200 1234")
    assert "To send it again reply YES" in again
    assert world.balance(BOB) == 200 * KES  # only the first
    confirmed = world.sms(ALICE, f"YES {code_in(again)}")
    assert "Confirmed. KES 200.00 sent" in confirmed
    world.receipts()
    assert world.balance(BOB) == 400 * KES


def test_an_unconfirmed_repeat_expires(world):
    world.sms(ALICE, "SEND 0712000002 200 1234")
    world.receipts()
    world.advance(200)
    again = world.sms(ALICE, "SEND 0712000002 200 1234")
    world.advance(world.config.money.confirm_timeout_s + 1)
    world.settle()
    assert "matches nothing" in world.sms(ALICE, f"YES {code_in(again)}")
    assert world.balance(BOB) == 200 * KES
    assert usage(world, ALICE) == DailyUsage(200 * KES, 1)  # the held repeat never counted


def test_a_wrong_code_does_nothing(world):
    assert "matches nothing" in world.sms(ALICE, "YES 0000")
    assert "matches nothing" in world.sms(ALICE, "NO 0000")


@pytest.fixture
def careful(engine):
    world = World(engine, confirm_above_minor=1_000 * KES)
    world.add(ALICE, balance_minor=10_000 * KES)
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.check()


def test_above_the_threshold_the_send_is_confirmed_first(careful):
    ask = careful.sms(ALICE, "SEND 0712000002 5000 1234")
    assert ask.startswith("Send KES 5,000.00 to JANE W. 0712 000002?")
    assert careful.balance(ALICE) < 5_000 * KES  # held meanwhile
    assert "Confirmed" in careful.sms(ALICE, f"YES {code_in(ask)}")
    careful.receipts()
    assert careful.balance(BOB) == 5_000 * KES


def test_no_releases_a_held_send(careful):
    ask = careful.sms(ALICE, "SEND 0712000002 5000 1234")
    assert "cancelled" in careful.sms(ALICE, f"NO {code_in(ask)}")
    assert careful.balance(ALICE) == 10_000 * KES
    assert "matches nothing" in careful.sms(ALICE, f"YES {code_in(ask)}")


def test_silence_releases_a_held_send_and_says_so(careful):
    careful.sms(ALICE, "SEND 0712000002 5000 1234")
    careful.advance(careful.config.money.confirm_timeout_s + 1)
    careful.settle()
    assert "did not confirm" in careful.last_to(ALICE)
    assert careful.balance(ALICE) == 10_000 * KES
    assert usage(careful, ALICE) == DailyUsage(0, 0)


def test_a_declined_send_gives_back_its_use_of_the_daily_limits(careful):
    ask = careful.sms(ALICE, "SEND 0712000002 5000 1234")
    assert usage(careful, ALICE) == DailyUsage(5_000 * KES, 1)  # reserved: it counts meanwhile
    careful.sms(ALICE, f"NO {code_in(ask)}")
    assert usage(careful, ALICE) == DailyUsage(0, 0)


def test_below_the_minimum_and_above_the_tier_limit(world):
    tariff = money_env(world.config).tariff
    minimum = tariff.minimum_minor("SEND")
    if minimum > 1:
        assert "smallest amount" in world.sms(
            ALICE, f"SEND 0712000002 {(minimum - 1) / KES:.2f} 1234"
        )
    most = tariff.limits(1).per_transaction_max_minor
    reply = world.sms(ALICE, f"SEND 0712000002 {most // KES + 1} 1234")
    assert "limit" in reply
    assert world.balance(ALICE) == 10_000 * KES


def test_mini_verify_and_lang(world):
    sent = world.sms(ALICE, "SEND 0712000002 250 1234")
    ref = sent.split()[0]
    world.receipts()
    mini = world.sms(ALICE, "MINI 1234")
    charged = 250 * KES + fee(world, 250 * KES)
    assert mini.startswith("Last 1:") and ref in mini and f"-{charged // KES:,}" in mini
    assert f"{ref} is genuine: KES 250.00 from ALICE A." in world.sms(BOB, f"VERIFY {ref}")
    assert "no such transaction" in world.sms(CAROL, f"VERIFY {ref}")  # not a party
    assert "no such transaction" in world.sms(BOB, "VERIFY ABCDEFGHJK")
    assert "Kiswahili" in world.sms(BOB, "LANG SW")
    assert world.sms(BOB, "MINI 1234").startswith("Mwisho 1:")
    assert "LANG" in world.sms(BOB, "LANG XX")


def test_help_for_a_command_the_sender_may_not_use_says_so(world):
    assert "Visit an agent" in world.sms(CAROL, "HELP SEND")  # CAROL is not registered
    assert world.sms(BOB, "HELP REG").startswith("REG is not available to you. Your commands:")
    assert "There is no command" in world.sms(CAROL, "HELP FLY")


def test_lang_usage_names_a_language(world):
    assert world.sms(BOB, "HELP LANG").startswith("LANG LANGUAGE - ")
    assert world.sms(BOB, "LANG") == "LANGUAGE is missing. Use: LANG LANGUAGE"


def test_send_to_an_agent_points_to_withdraw(world):
    world.add("254712000100", Role.AGENT, name="Duka", agent_number="123456")
    reply = world.sms(ALICE, "SEND 0712000100 100 1234")
    assert reply.startswith("0712 000100 is an agent: for cash there send WITHDRAW")
    assert world.balance(ALICE) == 10_000 * KES
