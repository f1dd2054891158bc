"""USSD races found in review (issue 14, findings 2, 3, 9): a release or the answer deadline
while the last screen's submit is in flight (the SMSC's answer decides), the step deadline counted
from the MO's arrival, and a redial on a session key still open."""

import pytest
from sqlalchemy import update

from daemon.outbox import OutboxStatus
from daemon.schema import outbox
from tests.daemon.ussd_world import UssdWorld

ALICE, BOB = "254712000001", "254712000002"
KES = 100
PIN = "1234"
SEND_WALK = ("1", "0712000002", "500")


@pytest.fixture
def world(engine):
    world = UssdWorld(engine)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.check()


def in_flight(world, screen) -> None:
    """The sender claimed the screen and submitted it: its submit_sm_resp is awaited."""
    with world.engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == screen.id)
            .values(status=OutboxStatus.IN_FLIGHT, claimed_at_ns=world.now_ns)
        )


def status_of(world, screen) -> str:
    [row] = [s for s in world.screens() if s.id == screen.id]
    return row.status


def test_a_release_while_the_last_screen_is_in_flight_lets_the_smsc_decide(world):
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, PIN)
    in_flight(world, last)
    dialogue.release()  # the subscriber pressed Cancel after reading "Confirmed"
    assert status_of(world, last) == OutboxStatus.IN_FLIGHT
    world.sweep()
    assert world.sms_to(ALICE) == []  # no "did not go through"
    world.submitted(last)  # the submit_sm_resp OK
    world.settle()
    world.sweep()
    world.settle()
    assert world.balance(BOB) == 500 * KES
    assert world.sms_to(ALICE) == [last.text]  # the SMS copy, once


def test_a_release_while_in_flight_then_an_error_voids_and_says_so(world):
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, PIN)
    in_flight(world, last)
    dialogue.release()
    world.submitted(last, OutboxStatus.FAILED)  # the gateway refused it: the dialogue was gone
    world.sweep()
    world.settle()
    assert world.balance(BOB) == 0 and world.balance(ALICE) == 10_000 * KES
    [told] = world.sms_to(ALICE)
    assert "KES 500.00" in told and "Confirmed" not in told


def test_a_submit_sm_resp_after_the_step_deadline_still_posts(world):
    assert world.config.ussd.answer_timeout_s == 5
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, PIN)
    in_flight(world, last)
    world.advance(6)  # past deliver_by_ns; response_timeout_s (10) not yet
    world.sweep()
    assert world.sms_to(ALICE) == [] and status_of(world, last) == OutboxStatus.IN_FLIGHT
    world.submitted(last)
    world.settle()
    world.sweep()
    assert world.balance(BOB) == 500 * KES
    assert world.sms_to(ALICE) == [last.text]


def test_a_queued_last_screen_past_its_deadline_is_still_given_up(world):
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, PIN)
    world.advance(6)
    world.sweep()
    assert status_of(world, last) == OutboxStatus.UNDELIVERABLE
    assert world.balance(BOB) == 0 and len(world.sms_to(ALICE)) == 1


def test_a_timed_out_session_leaves_an_in_flight_screen_to_the_smsc(world):
    dialogue = world.dial(ALICE)
    screen = dialogue.answer("1", delivered=False)
    in_flight(world, screen)
    world.advance(world.config.ussd.session_timeout_s + 1)
    assert world.settle()["ussd_timed_out"] == 1
    assert status_of(world, screen) == OutboxStatus.IN_FLIGHT
    assert world.session(dialogue.key).state == "timed_out"
