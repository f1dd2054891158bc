"""A fraud rule's hit holds PAY (a bill, a request), TILL, BUY and WITHDRAW for review like a SEND
(daemon.security.fraud_holds): nothing moved; staff release commits it once through its kind's
re-commit (daemon.money.held), funds checked again; reject declines it; a hold nobody decides within
[fraud] hold_expiry_hours is expired by the settler with an SMS. A held WITHDRAW's agent is told not
to give cash; a DEPOSIT is refused at the counter. Every test ends with World.check()."""

from __future__ import annotations

import pytest

from daemon.security.review import HoldDecided, ReviewError
from tests.daemon.fraud_world import actions, reject, release, swap_sim
from tests.daemon.held_world import (
    ALICE,
    AMOUNT,
    FLOWS,
    STORE,
    WALLET,
    charged,
    finish,
    held_world,
    holds,
    payer_moves,
    requests,
)

HELD = "is held for a security check"


@pytest.fixture
def world(engine):
    world = held_world(engine)
    swap_sim(world, ALICE, hours_ago=1)
    yield world
    world.check()


def hold(world, flow) -> int:
    reply = world.sms(ALICE, flow.command(world))
    assert HELD in reply and "Never share" not in reply, reply  # held for staff: no OTP
    [move] = payer_moves(world)
    assert move.state == "held" and move.ref in reply and move.expires_at_ns is None
    assert world.balance(ALICE) == WALLET
    [found] = holds(world)
    assert (found.rule, found.state, found.move_id) == ("sim_swap", "held", move.id)
    return found.id


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_release_commits_once(world, flow):
    before = flow.payee(world)
    hold_id = hold(world, flow)
    release(world, hold_id)
    assert flow.done in world.last_to(ALICE)
    finish(world)
    with pytest.raises(HoldDecided, match="released already"):
        release(world, hold_id)
    finish(world)
    [move] = payer_moves(world)
    assert move.state == "posted" and world.balance(ALICE) == WALLET - charged(world)
    assert charged(world) >= AMOUNT and flow.payee(world) > before
    assert holds(world)[0].state == "released" and len(actions(world, "fraud.release")) == 1


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_reject_declines_and_tells_the_payer(world, flow):
    hold_id = hold(world, flow)
    reject(world, hold_id)
    assert "was refused after a security check. Nothing was taken" in world.last_to(ALICE)
    assert [m.state for m in payer_moves(world)] == ["declined"]
    with pytest.raises(HoldDecided):
        release(world, hold_id)
    finish(world)
    assert world.balance(ALICE) == WALLET


@pytest.mark.parametrize("flow", FLOWS, ids=repr)
def test_an_undecided_hold_expires_with_an_sms(world, flow):
    hold_id = hold(world, flow)
    world.advance(71 * 3600)
    world.settle()
    assert holds(world)[0].state == "held"
    world.advance(3600 + 1)  # [fraud] hold_expiry_hours = 72 by default
    world.settle()
    assert holds(world)[0].state == "expired" and holds(world)[0].decided_by == "system"
    assert [m.state for m in payer_moves(world)] == ["expired"]
    told = world.last_to(ALICE)
    assert "to" in told and "was not approved in time, so it is cancelled" in told
    [audited] = actions(world, "fraud.reject")
    assert f"hold {hold_id}" in audited.detail and "expired" in audited.detail
    world.settle()  # once
    assert len(actions(world, "fraud.reject")) == 1
    with pytest.raises(HoldDecided, match="expired already"):
        release(world, hold_id)
    finish(world)
    assert world.balance(ALICE) == WALLET


def test_release_checks_funds_again_and_keeps_the_hold(world):
    hold_id = hold(world, FLOWS[1])  # TILL 5000
    world.advance(49 * 3600)  # the cooldown is over: most of the money goes elsewhere
    for _ in range(6):
        assert "Confirmed" in world.sms(ALICE, "TILL 654321 2900 1234")
    with pytest.raises(ReviewError, match="cannot be released now: Not enough money"):
        release(world, hold_id)
    assert holds(world)[0].state == "held" and payer_moves(world)[0].state == "held"


def test_a_released_request_payment_is_linked(world):
    hold_id = hold(world, FLOWS[-1])
    assert requests(world)[0].state == "open"
    release(world, hold_id)
    finish(world)
    [request] = requests(world)
    assert request.state == "paid" and request.move_id == payer_moves(world)[0].id


def test_a_held_withdrawal_tells_the_agent_not_to_give_cash(world):
    hold_id = hold(world, FLOWS[3])
    ref = payer_moves(world)[0].ref
    [told] = world.texts_to(STORE)
    assert told.startswith(f"{ref}: the withdrawal of KES 5,000.00 by 0712 000001 is held")
    assert "Do NOT give cash" in told
    release(world, hold_id)
    finish(world)
    assert world.last_to(STORE).startswith(f"{ref} Confirmed. Give KES 5,000.00 cash")


def test_a_rejected_withdrawal_tells_the_agent_again(world):
    hold_id = hold(world, FLOWS[3])
    reject(world, hold_id)
    told = world.last_to(STORE)
    assert "was refused" in told and "Do NOT give cash" in told
    assert len(world.texts_to(STORE)) == 2


def test_a_deposit_hit_is_refused_and_the_agent_told_to_give_the_cash_back(engine):
    world = held_world(engine, fraud={"deposit_splitting": {"enabled": True, "max_count": 2}})
    for _ in range(1):
        assert "deposited" in world.sms(STORE, "DEPOSIT 0712000001 500 1234").lower()
    world.advance(130)
    reply = world.sms(STORE, "DEPOSIT 0712000001 500 1234")
    assert "deposit of KES 500.00 to 0712 000001 was refused" in reply
    assert "give the cash back" in reply and holds(world) == []
    assert "deposit of KES 500.00 refused at once" in actions(world, "fraud.reject")[0].detail
    world.check()


def test_review_and_audit_details_show_amounts_as_an_sms_does(world):
    hold(world, FLOWS[0])
    [found] = holds(world)
    assert "amount over KES 1,000.00" in found.detail and "100000" not in found.detail
    [audited] = actions(world, "fraud.hold")
    assert "amount over KES 1,000.00" in audited.detail


def test_a_fee_changed_since_the_hold_is_refused_and_kept(world, monkeypatch):
    from daemon.money.tariff import Tariff

    hold_id = hold(world, FLOWS[1])  # TILL 5000
    real = Tariff.fee_minor
    monkeypatch.setattr(Tariff, "fee_minor", lambda self, *a, **k: real(self, *a, **k) + 1)
    with pytest.raises(ReviewError, match=r"the fee for KES 5,000\.00 changed"):
        release(world, hold_id)
    assert holds(world)[0].state == "held" and world.balance(ALICE) == WALLET
