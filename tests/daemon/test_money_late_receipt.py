"""A confirmation's receipt that comes after its rollback deadline voids the move, whichever runs
first after the deadline, the sweeper or the settler (found by `smscore chaos`: a daemon killed
before a SEND's deadline and restarted after it took the queued DELIVRD receipt before its first
sweep, and posted a move whose deadline had passed). The README's rule: no receipt within
money.rollback_timeout_s, the move is voided and the sender told."""

import pytest

from daemon.outbox import OutboxStatus
from tests.daemon.money_world import World

ALICE, BOB = "254712000001", "254712000002"
KES = 100
OPENING = 10_000 * KES


@pytest.fixture
def world(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=OPENING, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.check()


def test_a_receipt_stored_after_the_deadline_voids_even_before_any_sweep(world):
    world.sms(ALICE, "SEND 0712000002 500 1234")
    world.advance(world.config.money.rollback_timeout_s + 1)  # down at the deadline: no sweep ran
    world.receipts(OutboxStatus.DELIVERED)  # the SMSC's queued receipt, taken after the restart
    assert "did not go through. Nothing was taken" in world.last_to(ALICE)
    assert world.balance(ALICE) == OPENING and world.balance(BOB) == 0
    assert world.texts_to(BOB) == []  # never told of money that did not move
    world.sweep()  # the sweeper, after: nothing more happens
    assert world.balance(ALICE) == OPENING and world.texts_to(BOB) == []
    assert sum("did not go through" in text for text in world.texts_to(ALICE)) == 1


def test_a_receipt_stored_at_the_deadline_still_posts(world):
    world.sms(ALICE, "SEND 0712000002 500 1234")
    world.advance(world.config.money.rollback_timeout_s)
    world.receipts(OutboxStatus.DELIVERED)
    assert world.balance(BOB) == 500 * KES
    [received] = world.texts_to(BOB)
    assert "You have received KES 500.00" in received
