"""BUY and the airtime worker with a scripted gateway and a task.Clock: success, failure, a timeout
then success on query, unknown then failure, a late success after a void, a crash between the
top-up and its answer, a repeated MO; the settler never touches an airtime move. Each test ends
with the ledger checked and the trust account reconciled."""

import pytest
from sqlalchemy import select

from daemon.money.airtime_orders import Action, OrderState, claim_due_txn
from daemon.money.limits import DailyUsage, service_day, usage_txn
from daemon.money.moves import get_move_txn
from daemon.schema import daily_usage
from tests.daemon.airtime_world import FAILED, NOT_FOUND, SUCCEEDED, UNKNOWN, AirtimeWorld

ALICE, BOB, CAROL = "254712000001", "254712000002", "254733000003"
KES = 100
START = 1_000 * KES


@pytest.fixture
def world(engine):
    world = AirtimeWorld(engine)
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


def test_buy_for_oneself_reserves_then_posts_on_success(world):
    reply = world.sms(ALICE, "BUY 100 1234")
    ref = world.order().ref
    assert (
        reply
        == f"Buying KES 100.00 airtime for 0712 000001, ref {ref}. You will get an SMS when it is done."
    )
    assert world.balance(ALICE) == START - 100 * KES  # reserved
    assert (world.state(), move_state(world)) == (OrderState.NEW, "pending")
    assert world.work() == ["posted"]
    assert world.gateway.calls == [("topup", ref)]
    assert (world.state(), move_state(world)) == (OrderState.SUCCEEDED, "posted")
    told = world.last_to(ALICE)
    assert told.startswith(f"{ref} Confirmed. KES 100.00 airtime bought for 0712 000001")
    assert "New balance KES 900.00" in told
    assert world.order().provider_ref == "PRV-1"
    assert world.work() == []  # nothing more to do
    assert usage(world, ALICE) == DailyUsage(100 * KES, 1)


def test_buy_for_another_number_tells_the_recipient_too(world):
    world.sms(ALICE, "BUY 50 0733 000003 1234")  # not registered: any valid number
    assert world.work() == ["posted"]
    assert world.order().recipient_msisdn == CAROL
    assert "bought for 0733 000003" in world.last_to(ALICE)
    assert world.texts_to(CAROL) == [
        f"{world.order().ref}: ALICE A. 0712 000001 bought you KES 50.00 airtime."
    ]


def test_a_failure_voids_and_says_nothing_was_taken(world):
    world.gateway.script(ALICE, FAILED)
    world.sms(ALICE, "BUY 100 1234")
    assert world.work() == ["voided"]
    assert (world.state(), move_state(world)) == (OrderState.FAILED, "voided")
    assert "could not be bought. Nothing was taken. Your balance is KES 1,000.00" in world.last_to(
        ALICE
    )
    assert world.balance(ALICE) == START
    assert usage(world, ALICE).value_minor == 0  # money that never moved uses no limit


def test_a_timeout_is_queried_and_a_success_then_posts(world):
    world.gateway.script(ALICE, UNKNOWN, SUCCEEDED)
    world.sms(ALICE, "BUY 100 1234")
    assert world.work() == ["retry"]
    assert (world.state(), move_state(world)) == (OrderState.UNKNOWN, "pending")
    assert world.texts_to(ALICE)[-1].startswith("Buying")  # nothing said yet
    world.advance(29)
    assert world.work() == []  # not due before query_after_s
    world.advance(1)
    assert world.work() == ["posted"]
    assert [action for action, _ in world.gateway.calls] == ["topup", "query"]
    assert move_state(world) == "posted"


def test_unknown_answers_back_off_then_a_failure_voids(world):
    world.gateway.script(ALICE, UNKNOWN, UNKNOWN, FAILED)
    world.sms(ALICE, "BUY 100 1234")
    assert world.work() == ["retry"]
    world.advance(30)
    assert world.work() == ["retry"]
    world.advance(59)  # the second query waits twice as long
    assert world.work() == []
    world.advance(1)
    assert world.work() == ["voided"]
    assert [action for action, _ in world.gateway.calls] == ["topup", "query", "query"]
    assert move_state(world) == "voided" and world.balance(ALICE) == START
    assert "Nothing was taken" in world.last_to(ALICE)


def test_still_unknown_after_max_queries_voids_and_a_late_success_is_reported(world):
    world.gateway.script(ALICE, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, SUCCEEDED)
    world.sms(ALICE, "BUY 100 1234")
    steps = []
    for _ in range(6):
        steps += world.work()
        world.advance(1000)
    assert steps == ["retry", "retry", "retry", "voided", "late_success"]
    order = world.order()
    assert (order.state, move_state(world)) == (OrderState.LATE_SUCCESS, "voided")
    assert order.next_attempt_at_ns is None and order.provider_ref == "PRV-1"
    assert "the provider did not confirm your KES 100.00 airtime" in world.last_to(ALICE)
    assert world.worker.counters["late_success"] == 1
    assert world.balance(ALICE) == START  # nothing taken until staff decide


def test_a_failure_then_success_on_the_late_check_is_a_late_success(world):
    world.gateway.script(ALICE, FAILED, SUCCEEDED)
    world.sms(ALICE, "BUY 100 1234")
    assert world.work() == ["voided"]
    world.advance(30)
    assert world.work() == ["late_success"]


def test_late_checks_that_confirm_the_failure_end_the_order(world):
    world.gateway.script(ALICE, FAILED)
    world.sms(ALICE, "BUY 100 1234")
    world.work()
    world.advance(30)
    assert world.work() == ["checked"]
    assert world.order().next_attempt_at_ns is None
    world.advance(10_000)
    assert world.work() == []


def test_a_crash_after_the_claim_is_queried_never_re_sent(world):
    world.sms(ALICE, "BUY 100 1234")
    with world.engine.begin() as conn:  # the claim committed, then the process died
        [claim] = claim_due_txn(conn, world.now_ns, 10, world.worker.lease_ns)
    assert claim.action is Action.TOPUP and world.state() is OrderState.SENT
    assert world.work() == []  # leased: no other worker takes it meanwhile
    world.advance(16)  # past the lease (timeout 10 s + margin)
    assert world.work() == ["posted"]
    assert world.gateway.calls == [("query", world.order().ref)]


def test_an_answer_for_an_older_attempt_is_dropped(world):
    from daemon.money.airtime_settle import record_outcome_txn

    world.sms(ALICE, "BUY 100 1234")
    with world.engine.begin() as conn:
        [old] = claim_due_txn(conn, world.now_ns, 10, world.worker.lease_ns)
    world.advance(16)
    world.gateway.script(ALICE, UNKNOWN)
    assert world.work() == ["retry"]  # a newer attempt was answered
    with world.engine.begin() as conn:
        assert record_outcome_txn(conn, world.config, old, SUCCEEDED, world.now_ns) == "stale"
    assert move_state(world) == "pending"
    world.gateway.script(ALICE, SUCCEEDED)
    world.advance(60)  # the second unknown answer: twice query_after_s
    assert world.work() == ["posted"]


def test_a_query_the_provider_never_got_sends_the_top_up_again(world):
    world.gateway.script(ALICE, UNKNOWN, NOT_FOUND, SUCCEEDED)
    world.sms(ALICE, "BUY 100 1234")
    world.work()
    world.advance(30)
    assert world.work() == ["resend"]
    assert world.work() == ["posted"]
    ref = world.order().ref
    assert world.gateway.calls == [("topup", ref), ("query", ref), ("topup", ref)]


def test_top_ups_the_provider_never_gets_end_in_a_void(world):
    # An outage that drops every top-up (or answers it 5xx) while queries say "no such order":
    # each resend must count towards max_queries, or the money is held and the buyer silent for ever.
    world.gateway.script(ALICE, *[UNKNOWN, NOT_FOUND] * 20)
    world.sms(ALICE, "BUY 100 1234")
    steps = []
    for _ in range(20):
        steps += world.work()
        world.advance(1000)
    assert steps[:6] == ["retry", "resend", "retry", "resend", "retry", "voided"]
    assert move_state(world) == "voided" and world.balance(ALICE) == START
    assert "Nothing was taken" in world.last_to(ALICE)
    assert [action for action, _ in world.gateway.calls].count("topup") == 3  # max_queries


def test_a_repeated_mo_buys_once(world):
    first, second = world.mo_twice(ALICE, "BUY 100 1234")
    assert first.startswith("Buying") and second.startswith("You sent this message already")
    assert len(world.orders()) == 1
    assert world.work() == ["posted"]
    assert world.balance(ALICE) == START - 100 * KES


def test_the_settler_and_sweeper_never_touch_an_airtime_move(world):
    world.gateway.script(ALICE, UNKNOWN)
    world.sms(ALICE, "BUY 100 1234")
    world.work()
    world.receipts()  # every confirmation delivered, the settler and sweeper run
    world.advance(3600)  # far past money.rollback_timeout_s
    world.settle()
    world.sweep()
    assert move_state(world) == "pending"
    assert world.texts_to(ALICE)[-1].startswith("Buying")


def test_refusals(world):
    world.add(CAROL, balance_minor=5 * KES)
    assert "balance" in world.sms(CAROL, "BUY 100 1234").lower()
    assert world.orders() == []
    reply = world.sms(ALICE, "BUY 100 0712 1234")
    assert "BUY AMOUNT" in reply or "number" in reply.lower()
    assert world.orders() == []
    with world.engine.begin() as conn:
        assert conn.execute(select(daily_usage)).all() == []


def test_airtime_switched_off_takes_nothing(engine):
    world = AirtimeWorld(engine, enabled=False)
    world.add(ALICE, balance_minor=START)
    assert world.sms(ALICE, "BUY 100 1234").startswith("Airtime cannot be bought right now")
    assert world.orders() == [] and world.balance(ALICE) == START


def test_the_recipient_of_airtime_may_verify_it(world):
    world.gateway.script(BOB, SUCCEEDED)
    ref = world.sms(ALICE, "BUY 100 0712000002 1234").split("ref ")[1].split(".")[0]
    assert world.work() == ["posted"]
    reply = world.sms(BOB, f"VERIFY {ref}")
    assert reply.startswith(f"{ref} is genuine"), reply
    assert "is genuine" not in world.sms("254712000099", f"VERIFY {ref}")
