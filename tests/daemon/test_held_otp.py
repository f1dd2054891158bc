"""PAY (a bill, a request), TILL, BUY and WITHDRAW above security.otp_amount_above_minor wait HELD,
nothing reserved, for YES <one-time password> (daemon.security.amount_otp), then are committed by
their kind's re-commit (daemon.money.held): posted once, a re-delivered YES posting nothing twice;
wrong codes counted, then locked with the move released and the payer told; NO declines; expiry
releases with an SMS. DEPOSIT asks for no OTP. Every test ends with World.check()."""

from __future__ import annotations

import re

import pytest

from tests.daemon.fraud_world import redeliver
from tests.daemon.held_world import (
    ALICE,
    AMOUNT,
    BOB,
    FLOWS,
    MERCHANT,
    STORE,
    WALLET,
    all_moves,
    charged,
    finish,
    held_world,
    payer_moves,
    requests,
)

ASKED = "Never share this code"


@pytest.fixture
def world(engine):
    world = held_world(engine)
    yield world
    world.check()


def otp_in(text: str) -> str:
    return re.search(r"YES (\d{6})\b", text).group(1)


def other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def ask(world, flow) -> str:
    reply = world.sms(ALICE, flow.command(world))
    assert ASKED in reply, reply
    [move] = payer_moves(world)
    assert move.state == "held" and move.code_hmac  # nothing reserved: re-quoted at YES
    assert world.balance(ALICE) == WALLET
    return otp_in(reply)


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_the_right_otp_commits_once(world, flow):
    before = flow.payee(world)
    code = ask(world, flow)
    first = redeliver(world, ALICE, f"YES {code}", "yes-once")
    redeliver(world, ALICE, f"YES {code}", "yes-once")  # the same MO again: its reply replayed
    [reply] = [m.text for m in world.outbox(inbox_id=first) if m.to == ALICE]
    assert flow.done in reply, reply
    finish(world)
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")  # used up
    finish(world)
    [move] = payer_moves(world)
    assert move.state == "posted"
    assert world.balance(ALICE) == WALLET - charged(world)
    assert charged(world) >= AMOUNT and flow.payee(world) > before


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_wrong_otps_are_counted_then_lock_and_release(world, flow):
    code = ask(world, flow)
    assert world.sms(ALICE, f"YES {other(code)}").startswith(
        "Wrong code. Nothing was sent. Wrong codes left before the payment is cancelled: 2"
    )
    world.sms(ALICE, f"YES {other(code)}")
    told = world.sms(ALICE, f"YES {other(code)}")
    assert "too many wrong codes" in told and "was cancelled" in told
    assert [m.state for m in payer_moves(world)] == ["voided"]
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")
    finish(world)
    assert world.balance(ALICE) == WALLET


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_no_declines(world, flow):
    code = ask(world, flow)
    assert "cancelled" in world.sms(ALICE, f"NO {code}")
    assert [m.state for m in payer_moves(world)] == ["declined"]
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")
    finish(world)
    assert world.balance(ALICE) == WALLET


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_expiry_releases_and_tells_the_payer(world, flow):
    code = ask(world, flow)
    world.advance(world.config.security.otp_ttl_s + 1)
    world.settle()
    told = world.last_to(ALICE)
    assert "you did not confirm paying KES 5,000.00 to" in told and "nothing was paid" in told
    assert [m.state for m in payer_moves(world)] == ["expired"]
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")
    finish(world)
    assert world.balance(ALICE) == WALLET


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_one_waiting_otp_at_a_time(world, flow):
    code = ask(world, flow)
    assert world.sms(ALICE, "TILL 654321 4000 1234").startswith("A payment is waiting")
    assert len(payer_moves(world)) == 1
    assert flow.done in world.sms(ALICE, f"YES {code}")
    finish(world)


def test_the_question_says_what_to_whom_and_the_fee(world):
    asked = world.sms(ALICE, "PAY KPLC 12345678 5000 1234")
    assert asked.startswith("Pay KES 5,000.00 to KENYA POWER 12345678? Fee KES ")
    asked = world.sms(BOB, "TILL 654321 5000 1234")  # Bob has no money: asked all the same
    assert asked.startswith("Pay KES 5,000.00 to MAMA MBOGA 654321? Fee KES ")


def test_buy_for_another_number_asks_then_orders_for_it(world):
    code = otp_in(world.sms(ALICE, "BUY 5000 0733000003 1234"))
    assert world.orders() == []  # no order until the code: nothing to send the provider
    assert "Buying KES 5,000.00 airtime for 0733 000003" in world.sms(ALICE, f"YES {code}")
    order = world.order()
    assert (order.recipient_msisdn, order.amount_minor) == ("254733000003", AMOUNT)
    assert world.work() == ["posted"]
    assert world.texts_to("254733000003")[-1].endswith("bought you KES 5,000.00 airtime.")


def test_withdraw_tells_the_agent_to_give_cash_only_once_posted(world):
    code = otp_in(world.sms(ALICE, "WITHDRAW 123456 5000 1234"))
    assert world.texts_to(STORE) == []
    world.sms(ALICE, f"YES {code}")
    finish(world)
    assert world.last_to(STORE).startswith(
        f"{payer_moves(world)[0].ref} Confirmed. Give KES 5,000.00"
    )


def test_a_request_paid_by_otp_is_linked_and_the_requester_told(world):
    code = otp_in(world.sms(ALICE, f"PAY {FLOWS[-1].command(world).split()[1]} 1234"))
    assert requests(world)[0].state == "open"  # not paid until the code
    world.sms(ALICE, f"YES {code}")
    finish(world)
    [request] = requests(world)
    assert request.state == "paid" and request.move_id == payer_moves(world)[0].id
    assert "You have received KES 5,000.00" in world.last_to(BOB)


def test_a_request_refused_while_its_payment_waits_is_not_paid(world):
    request_code = FLOWS[-1].command(world).split()[1]
    code = otp_in(world.sms(ALICE, f"PAY {request_code} 1234"))
    assert "refused" in world.sms(ALICE, f"NO {request_code}")
    assert world.sms(ALICE, f"YES {code}").startswith(f"You refused request {request_code}")
    assert [m.state for m in payer_moves(world)] == ["declined"]  # its code is used: it ends
    finish(world)
    assert world.balance(ALICE) == WALLET and world.balance(BOB) == 0


def test_funds_gone_by_yes_end_the_move_with_the_refusal(world):
    code = otp_in(world.sms(ALICE, "TILL 654321 5000 1234"))
    for _ in range(6):  # below the threshold meanwhile: most of the money goes elsewhere
        assert "Confirmed" in world.sms(ALICE, "TILL 654321 2900 1234")
    left = world.balance(ALICE)
    assert left < AMOUNT
    reply = world.sms(ALICE, f"YES {code}")
    assert reply.startswith("Not enough money"), reply
    assert all_moves(world)[0].state == "declined"  # its code is used: it ends
    assert world.balance(ALICE) == left


def test_deposit_asks_for_no_otp(world):
    world.add("254712000009", name="Carol Chebet")
    reply = world.sms(STORE, "DEPOSIT 0712000009 5000 1234")
    assert "deposited" in reply.lower() and ASKED not in reply
    assert world.balance("254712000009") == AMOUNT


def test_below_the_threshold_no_otp(world):
    assert "Confirmed" in world.sms(ALICE, "TILL 654321 3000 1234")
    assert world.balance(MERCHANT) > 0
