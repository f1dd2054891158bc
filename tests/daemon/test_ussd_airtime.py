"""Buy airtime from a USSD menu: no debit without the last screen (issue 14). The order waits for
the final screen's submit (daemon.money.airtime_screen): accepted, the order goes to the provider
once and the provider's answer posts or voids it; failed, late or released before it went, the
order is cancelled before any provider call, the move voided and the buyer told by one SMS. Re-runs
of the settler and the sweeper change nothing; a BUY by SMS still goes to the provider at once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon.money.airtime_orders import OrderState
from daemon.money.limits import DailyUsage, service_day, usage_txn
from daemon.money.moves import get_move_txn
from daemon.money.settle import failure_hooks
from daemon.outbox import OutboxStatus
from daemon.schema import outbox
from daemon.sweeper import SweepLimits, sweep_txn
from tests.daemon.airtime_world import FAILED, AirtimeWorld
from tests.daemon.money_world import NS, SHORT_CODE
from tests.daemon.ussd_world import UssdWorld

ALICE, BOB = "254712000001", "254712000002"
KES = 100
START = 1_000 * KES
PIN = "1234"
OWN_WALK = ("5", "1", "100", PIN)  # Buy airtime, for my number, KES 100, PIN: the last screen
OTHER_WALK = ("5", "2", "0712000002", "100", PIN)


class UssdAirtimeWorld(UssdWorld, AirtimeWorld):
    """USSD dialogues (UssdWorld) on the airtime World: the scripted provider and the worker, with
    the sweeper calling every hook the daemon registers (daemon.money.settle.failure_hooks)."""

    def sweep(self) -> None:
        limits = SweepLimits(1000, 120 * NS, 5, 3600 * NS)
        with self.engine.begin() as conn:
            sweep_txn(conn, self.now_ns, limits, failure_hooks(self.settle_env), {})


@pytest.fixture
def world(engine):
    world = UssdAirtimeWorld(engine)
    world.add(ALICE, balance_minor=START, name="Alice Atieno")
    world.add(BOB, name="Bob Otieno")
    yield world
    world.check()


def move_state(world) -> str:
    move_id = world.order().move_id
    with world.engine.begin() as conn:
        return get_move_txn(conn, move_id).state.value


def usage(world, msisdn):
    with world.engine.begin() as conn:
        return usage_txn(conn, msisdn, service_day(world.now_ns, "Africa/Nairobi"))


def sms_sources(world) -> set[str]:
    query = select(outbox.c.source_addr).where(outbox.c.ussd_op.is_(None))
    with world.engine.begin() as conn:
        return set(conn.execute(query).scalars())


def run_everything_again(world) -> None:
    """The settler, the sweeper and the worker once more, later: each must find nothing to do."""
    world.advance(world.config.money.rollback_timeout_s + 1)
    world.settle()
    world.sweep()
    assert world.work() == []


def bought_by_ussd(world, walk=OWN_WALK):
    """A walk to the last screen of a purchase, the screen not submitted yet: nothing sent."""
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*walk)
    assert last.final and last.text.startswith("Buying KES 100.00 airtime for"), last.text
    assert last.on_failure == "airtime_screen"
    assert world.balance(ALICE) == START - 100 * KES  # reserved
    assert (world.state(), move_state(world)) == (OrderState.AWAITING_SCREEN, "pending")
    world.settle()
    assert world.work() == [] and world.gateway.calls == []  # not before the screen went
    return dialogue, last


def assert_cancelled_once(world) -> None:
    assert world.gateway.calls == []
    assert (world.state(), move_state(world)) == (OrderState.CANCELLED, "voided")
    assert world.balance(ALICE) == START
    assert usage(world, ALICE) == DailyUsage(0, 0)  # money that never moved used no limit
    [told] = world.sms_to(ALICE)
    ref = world.order().ref
    assert told.startswith(f"{ref}: your KES 100.00 airtime for 0712 000001 could not be bought.")
    assert "Nothing was taken. Your balance is KES 1,000.00." in told
    assert sms_sources(world) == {SHORT_CODE}  # not the dialled code: it cannot send SMS
    run_everything_again(world)
    assert world.gateway.calls == [] and world.state() is OrderState.CANCELLED
    assert len(world.sms_to(ALICE)) == 1 and world.balance(ALICE) == START


@pytest.mark.parametrize("status", [OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE])
def test_a_failed_last_screen_cancels_the_order_before_the_provider(world, status):
    _, last = bought_by_ussd(world)
    world.submitted(last, status)
    world.settle()  # the settle step does not take a failed screen for a delivered one
    assert world.state() is OrderState.AWAITING_SCREEN
    world.sweep()
    assert_cancelled_once(world)


def test_a_last_screen_not_sent_in_time_cancels_the_order(world):
    bought_by_ussd(world)
    world.advance(world.config.ussd.answer_timeout_s + 1)
    world.sweep()
    [last] = [s for s in world.screens(to=ALICE) if s.final]
    assert last.status == OutboxStatus.UNDELIVERABLE
    assert_cancelled_once(world)


def test_a_release_before_the_last_screen_went_cancels_the_order(world):
    dialogue, last = bought_by_ussd(world)
    dialogue.release()
    assert world.session(dialogue.key).state == "aborted"
    world.sweep()
    assert_cancelled_once(world)
    dialogue.release()  # released again (a network retry): nothing more
    world.submitted(last)  # a late submit_sm_resp the sender would drop: still nothing sent
    run_everything_again(world)
    assert world.gateway.calls == [] and len(world.sms_to(ALICE)) == 1


def test_a_delivered_last_screen_sends_the_order_once_and_posts_on_success(world):
    _, last = bought_by_ussd(world)
    ref = world.order().ref
    world.submitted(last)  # the last screen's submit_sm_resp OK
    world.settle()
    assert world.state() is OrderState.NEW
    assert world.sms_to(ALICE) == [last.text]  # the screen's text as an SMS, as for other flows
    world.settle()
    world.sweep()  # neither the settle step nor the hook runs again
    assert world.state() is OrderState.NEW and len(world.sms_to(ALICE)) == 1
    assert world.work() == ["posted"]
    assert world.gateway.calls == [("topup", ref)]
    assert (world.state(), move_state(world)) == (OrderState.SUCCEEDED, "posted")
    assert world.balance(ALICE) == START - 100 * KES
    told = world.sms_to(ALICE)
    assert len(told) == 2 and told[1].startswith(f"{ref} Confirmed. KES 100.00 airtime bought")
    assert sms_sources(world) == {SHORT_CODE}
    run_everything_again(world)
    assert world.gateway.calls == [("topup", ref)] and len(world.sms_to(ALICE)) == 2


def test_a_delivered_screen_then_a_provider_failure_voids_as_by_sms(world):
    world.gateway.script(BOB, FAILED)
    _, last = bought_by_ussd(world, OTHER_WALK)
    world.submitted(last)
    world.settle()
    assert world.work() == ["voided"]
    assert (world.state(), move_state(world)) == (OrderState.FAILED, "voided")
    assert world.balance(ALICE) == START
    told = world.sms_to(ALICE)
    assert len(told) == 2 and "could not be bought. Nothing was taken." in told[1]
    assert world.sms_to(BOB) == []


def test_a_screen_delivered_after_the_hook_ran_sends_nothing(world):
    """The deadline passed while the screen was in flight (the hook cancelled it); its
    submit_sm_resp OK comes after: the order stays cancelled, the provider is never asked."""
    _, last = bought_by_ussd(world)
    world.advance(world.config.ussd.answer_timeout_s + 1)
    world.sweep()
    world.submitted(last)
    world.settle()
    assert_cancelled_once(world)


def test_a_buy_by_sms_still_goes_to_the_provider_at_once(world):
    reply = world.sms(ALICE, f"BUY 100 {PIN}")
    assert reply.startswith("Buying KES 100.00 airtime")
    [row] = world.outbox(to=ALICE)
    assert row.on_failure is None
    assert world.state() is OrderState.NEW
    assert world.work() == ["posted"]
    assert move_state(world) == "posted"
