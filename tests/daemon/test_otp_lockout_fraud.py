"""An OTP lockout with the fraud rules on: while the lock lasts, a SEND that needs a code is told
"locked, try in N min" (the lock answers, as a PIN lock does); a SEND small enough to need no code
is held for review (someone who knows the PIN is guessing codes); once the lock is over the lockout
still counts as a fraud signal (pin_failures rule) and a large SEND is held for review."""

import re

import pytest

from daemon.config import build_config
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.tranproc import TranProcEnv
from tests.daemon.fraud_world import actions, holds
from tests.daemon.money_world import HASHER, SHORT_CODE, World

ALICE, BOB = "254712000001", "254712000002"
KES = 100
SEND_BIG = "SEND 0712000002 5000 1234"  # above the OTP threshold (3,000)
SEND_SMALL = "SEND 0712000002 500 1234"


@pytest.fixture
def world(engine):
    world = World(engine)
    world.config = build_config(
        {
            "security": {"otp_amount_above_minor": 3_000 * KES},
            "sender": {"source_addr": SHORT_CODE},
        }
    )
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.settle_env = SettleEnv(world.config, HASHER)
    world.add(ALICE, balance_minor=10_000 * KES)
    world.add(BOB)
    yield world
    world.check()


def _lock_otp(world) -> None:
    code = re.search(r"YES (\d{6})\b", world.sms(ALICE, SEND_BIG)).group(1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(world.config.security.otp_max_attempts):
        told = world.sms(ALICE, f"YES {wrong}")
    assert "too many wrong codes" in told
    assert len(actions(world, "otp.lockout")) == 1


def test_a_large_send_during_the_lock_is_told_locked_not_held(world) -> None:
    _lock_otp(world)
    world.advance(5 * 60)
    told = world.sms(ALICE, SEND_BIG)
    assert told.startswith("Too many wrong codes. Nothing was sent.") and "in 10 min" in told
    assert holds(world) == []


def test_a_small_send_during_the_lock_is_held_for_review(world) -> None:
    _lock_otp(world)
    assert "held for a security check" in world.sms(ALICE, SEND_SMALL)
    [hold] = holds(world)
    assert hold.rule == "pin_failures"


def test_after_the_lock_a_large_send_is_held_for_review(world) -> None:
    _lock_otp(world)
    world.advance(world.config.security.otp_lockout_s + 60)
    assert "held for a security check" in world.sms(ALICE, SEND_BIG)
    [hold] = holds(world)
    assert hold.rule == "pin_failures"
