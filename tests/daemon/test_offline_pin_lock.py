"""An offline transfer arriving while the payer's PIN is locked (daemon.security.offline_inbox):
refused, recorded, and answered the same way however often it is delivered; a new transfer once
the lock is over posts."""

import pytest

from daemon.config import build_config
from daemon.money.commands import service_registry
from daemon.tranproc import TranProcEnv
from tests.daemon.app_world import app_world, enrol
from tests.daemon.money_world import HASHER
from tests.daemon.offline_world import KES, deliver, move_count, offline_rows, signed

ALICE, BOB = "254712000001", "254712000002"
MINUTE = 60


@pytest.fixture
def world(engine, tmp_path):
    world = app_world(engine, tmp_path)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    return world


def _lock_pin(world, msisdn: str) -> None:
    for _ in range(world.config.security.pin_max_failures):
        world.sms(msisdn, "BAL 9999")
    assert "locked" in world.sms(msisdn, "BAL 1234").lower()


def test_refused_during_a_pin_lockout_and_the_same_answer_when_delivered_again(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100, valid_for_s=86_400)
    _lock_pin(world, ALICE)
    first = deliver(world, device, transfer)
    assert first.outcome == "refused" and "PIN is locked" in first.text, first.text
    [row] = offline_rows(world)
    assert (row.state, row.reason, row.move_id) == ("refused", "pin_locked", None)
    world.advance(20 * MINUTE)  # the lock (15 min) is over: the same transfer stays refused
    again = deliver(world, device, transfer)
    assert again.outcome == "refused" and "PIN is locked" in again.text
    assert "already" in again.text
    assert move_count(world) == 0 and world.balance(BOB) == 0
    world.check()


def test_after_the_lock_a_new_transfer_is_held_for_review(world) -> None:
    # The pin_failures fraud rule (on by default) still counts the lockout once it is over.
    device = enrol(world, ALICE)
    _lock_pin(world, ALICE)
    assert deliver(world, device, signed(world, device, BOB, 100)).outcome == "refused"
    world.advance(20 * MINUTE)
    answer = deliver(world, device, signed(world, device, BOB, 100))
    assert "held for a security check" in answer.text and "PIN is locked" not in answer.text
    world.check()


def test_with_fraud_rules_off_the_lock_still_refuses_and_a_later_one_posts(engine, tmp_path):
    world = app_world(engine, tmp_path)
    world.config = world.config.model_copy(
        update={"fraud": build_config({"fraud": {"enabled": False}}).fraud}
    )
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    device = enrol(world, ALICE)
    _lock_pin(world, ALICE)
    assert deliver(world, device, signed(world, device, BOB, 100)).outcome == "refused"
    world.advance(20 * MINUTE)
    assert deliver(world, device, signed(world, device, BOB, 100)).outcome == "posted"
    world.receipts()
    assert world.balance(BOB) == 100 * KES
    world.check()
