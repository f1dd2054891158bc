"""Fraud rules through the TranProc: each rule's hit and miss, a hit held for review (SEND) or
refused (cash, bills), staff release (posted once, funds checked again) and reject (nothing moved),
a re-delivered MO making one hold. Every test ends with the ledger checked and trust reconciled."""

from __future__ import annotations

import pytest

from daemon.commands import Role
from daemon.outbox import OutboxStatus
from daemon.security.review import HoldDecided, ReviewError
from tests.daemon.fraud_world import (
    ALICE,
    BOB,
    CAROL,
    KES,
    STORE,
    WALLET,
    actions,
    enrol_device,
    fraud_world,
    holds,
    move_of,
    redeliver,
    reject,
    release,
    swap_sim,
)

HELD = "held for a security check"
REFUSED = "refused. Nothing was taken"


def people(world):
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    world.add(CAROL, name="Carol Chebet")
    return world


@pytest.fixture
def world(engine):
    world = people(fraud_world(engine))
    yield world
    world.check()


def make(engine, **fraud):
    return people(fraud_world(engine, fraud))


# --- SIM swap


def test_a_large_send_soon_after_a_sim_swap_is_held_with_nothing_moved(world):
    swap_sim(world, ALICE, hours_ago=2)
    reply = world.sms(ALICE, "SEND 0712000002 5000 1234")
    assert HELD in reply and "to JANE W. 0712 000002" in reply
    [hold] = holds(world)
    assert (hold.msisdn, hold.rule, hold.state) == (ALICE, "sim_swap", "held")
    move = move_of(world, hold.move_id)
    assert move.state == "held" and move.ref in reply and move.expires_at_ns is None
    assert world.balance(ALICE) == WALLET and world.texts_to(BOB) == []
    [audited] = actions(world, "fraud.hold")
    assert audited.target == ALICE and "sim_swap" in audited.detail


def test_a_small_send_after_a_sim_swap_goes_through(world):
    swap_sim(world, ALICE, hours_ago=1)
    assert "Confirmed. KES 1,000.00 sent" in world.sms(ALICE, "SEND 0712000002 1000 1234")
    assert holds(world) == []


def test_after_the_cooldown_a_large_send_goes_through(world):
    swap_sim(world, ALICE, hours_ago=48.01)  # cooldown_hours = 48 by default
    assert "Confirmed. KES 5,000.00 sent" in world.sms(ALICE, "SEND 0712000002 5000 1234")
    assert holds(world) == []


def test_a_withdrawal_after_a_sim_swap_is_held_and_the_agent_told(engine):
    # Held like a SEND since every flow has a re-commit (daemon.money.held); the agent must not
    # give cash meanwhile (tests/daemon/test_held_fraud.py follows it to release and reject).
    world = make(engine)
    world.add(STORE, Role.AGENT, balance_minor=WALLET, name="Mama Mboga", agent_number="123456")
    swap_sim(world, ALICE)
    reply = world.sms(ALICE, "WITHDRAW 123456 5000 1234")
    assert HELD in reply and "to 123456 MAMA MBOGA" in reply
    assert [hold.rule for hold in holds(world)] == ["sim_swap"]
    assert world.balance(ALICE) == WALLET
    assert "Do NOT give cash" in world.last_to(STORE)
    world.check()


# --- release and reject


def test_release_posts_the_held_send_once(world):
    swap_sim(world, ALICE)
    world.sms(ALICE, "SEND 0712000002 5000 1234")
    [hold] = holds(world)
    decision = release(world, hold.id)
    assert decision.move.state == "pending"  # SEND posts on delivery by default
    confirmation = world.last_to(ALICE)
    assert "Confirmed. KES 5,000.00 sent to JANE W." in confirmation
    world.receipts(OutboxStatus.DELIVERED)
    assert world.balance(BOB) == 5000 * KES
    assert "You have received KES 5,000.00" in world.last_to(BOB)
    with pytest.raises(HoldDecided, match=f"hold {hold.id} was released already, by carol"):
        release(world, hold.id)
    with pytest.raises(HoldDecided):
        reject(world, hold.id)
    assert world.balance(BOB) == 5000 * KES
    assert holds(world)[0].state == "released" and len(actions(world, "fraud.release")) == 1


def test_reject_moves_nothing_and_tells_the_payer(world):
    swap_sim(world, ALICE)
    world.sms(ALICE, "SEND 0712000002 5000 1234")
    [hold] = holds(world)
    reject(world, hold.id)
    assert "refused after a security check. Nothing was taken" in world.last_to(ALICE)
    assert move_of(world, hold.move_id).state == "declined"
    assert world.balance(ALICE) == WALLET and world.balance(BOB) == 0
    with pytest.raises(HoldDecided, match="rejected already"):
        release(world, hold.id)
    assert "not the customer" in actions(world, "fraud.reject")[0].detail


def test_release_checks_funds_again_and_leaves_the_hold_when_they_are_gone(world):
    swap_sim(world, ALICE)
    world.sms(ALICE, "SEND 0712000002 5000 1234")
    [hold] = holds(world)
    world.advance(49 * 3600)  # the cooldown is over: Alice spends most of her money
    world.sms(ALICE, "SEND 0712000003 9000 1234")
    with pytest.raises(ReviewError, match="cannot be released now"):
        release(world, hold.id)
    assert holds(world)[0].state == "held" and move_of(world, hold.move_id).state == "held"
    assert actions(world, "fraud.release") == []


def test_a_redelivered_mo_makes_one_hold(world):
    swap_sim(world, ALICE)
    first = redeliver(world, ALICE, "SEND 0712000002 5000 1234", "k1")
    second = redeliver(world, ALICE, "SEND 0712000002 5000 1234", "k1")
    assert len(holds(world)) == 1
    assert HELD in world.outbox(inbox_id=first)[0].text
    assert HELD in world.outbox(inbox_id=second)[0].text  # the first reply again
    assert world.balance(ALICE) == WALLET


def test_a_held_send_is_not_confirmed_by_yes_nor_expired(world):
    swap_sim(world, ALICE)
    world.sms(ALICE, "SEND 0712000002 5000 1234")
    world.advance(3600)
    world.sweep()
    assert "matches nothing" in world.sms(ALICE, "YES 0000")  # a review hold has no code
    assert move_of(world, holds(world)[0].move_id).state == "held"


# --- plain text under an enrolled device


def test_plain_text_over_the_limit_from_a_subscriber_with_a_device_is_held(world):
    enrol_device(world, ALICE)
    assert HELD in world.sms(ALICE, "SEND 0712000002 1500 1234")  # over 1,000.00
    assert holds(world)[0].rule == "plain_text"
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 1000 1234")


def test_a_revoked_device_does_not_limit_plain_text(world):
    enrol_device(world, ALICE, state="revoked")
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 1500 1234")


# --- wrong PINs


def test_a_send_after_a_pin_lockout_is_held(world):
    for _ in range(3):
        world.sms(ALICE, "SEND 0712000002 500 9999")
    world.advance(901)  # the lockout is over; the right PIN now
    assert HELD in world.sms(ALICE, "SEND 0712000002 500 1234")
    assert holds(world)[0].rule == "pin_failures"


def test_one_wrong_pin_does_not_hold(world):
    world.sms(ALICE, "SEND 0712000002 500 9999")
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 500 1234")


def test_a_lockout_older_than_the_period_is_forgotten(world):
    for _ in range(3):
        world.sms(ALICE, "SEND 0712000002 500 9999")
    world.advance(86_401)
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 500 1234")


# --- velocity, new recipient, deposit splitting, anomaly


def test_velocity_holds_the_send_over_the_count(engine):
    world = make(engine, velocity={"enabled": True, "max_count": 2, "period_s": 3600.0})
    for _ in range(2):
        assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 100 1234")
        world.advance(301)  # past the double-send window
    assert HELD in world.sms(ALICE, "SEND 0712000002 100 1234")
    world.advance(3600)
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 100 1234")
    world.check()


def test_new_recipient_with_a_high_value(engine):
    world = make(engine, new_recipient={"enabled": True, "min_amount_minor": 2000 * KES})
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 2000 1234")  # not above
    world.receipts()
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 3000 1234")  # paid Bob before
    assert HELD in world.sms(ALICE, "SEND 0712000003 3000 1234")  # never paid Carol
    assert holds(world)[0].rule == "new_recipient"
    world.check()


def test_deposit_splitting_is_refused_at_the_counter(engine):
    world = make(engine, deposit_splitting={"enabled": True, "max_count": 3})
    world.add(STORE, Role.AGENT, balance_minor=WALLET, name="Mama Mboga", agent_number="123456")
    for _ in range(2):
        assert "deposited" in world.sms(STORE, "DEPOSIT 0712000002 500 1234").lower()
        world.advance(130)  # not a re-delivery
    reply = world.sms(STORE, "DEPOSIT 0712000002 500 1234")
    assert "was refused. Nothing moved: give the cash back" in reply
    assert "deposited" in world.sms(STORE, "DEPOSIT 0712000002 5000 1234").lower()  # not small
    assert "deposited" in world.sms(STORE, "DEPOSIT 0712000003 500 1234").lower()  # another
    world.check()


def test_an_amount_far_above_the_payers_history_is_held_with_its_score(engine):
    world = make(engine, anomaly={"enabled": True})
    for _ in range(6):
        assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 100 1234")
        world.receipts()
        world.advance(86_400)
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 110 1234")
    world.receipts()
    world.advance(86_400)
    assert HELD in world.sms(ALICE, "SEND 0712000002 3000 1234")
    [hold] = holds(world)
    assert hold.rule == "anomaly" and hold.score > 4
    world.check()


def test_fraud_off_holds_nothing(engine):
    world = make(engine, enabled=False)
    swap_sim(world, ALICE)
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 5000 1234")
    world.check()
