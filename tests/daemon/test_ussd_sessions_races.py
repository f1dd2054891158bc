"""USSD races found in review (issue 14, findings 2, 3, 9): a release or the answer deadline
while the last screen's submit is in flight (the SMSC's answer decides), the step deadline counted
from the MO's arrival, and a redial on a session key still open."""

import pytest
from sqlalchemy import func, select, update

from daemon.outbox import OutboxStatus
from daemon.schema import moves, outbox, subscribers
from daemon.schema_ussd import ussd_sessions
from smscore.ussd import UssdOp
from tests.daemon.money_world import NS
from tests.daemon.ussd_world import A_PERSON_S, CODE, UssdWorld

ALICE, BOB = "254712000001", "254712000002"
KES = 100
PIN = "1234"
DAY_S = 24 * 3600
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
    screen = dialogue.answer("1")
    in_flight(world, screen)
    world.advance(world.config.ussd.session_timeout_s + 1)
    assert world.settle()["ussd_timed_out"] == 1
    assert status_of(world, screen) == OutboxStatus.IN_FLIGHT
    assert world.session(dialogue.key).state == "timed_out"


def late_turn(world, dialogue, text: str, late_s: float) -> int:
    """An MO the TranProc gets to `late_s` after the LIS stored it (a backlog)."""
    row_id = world.ussd_mo(ALICE, text, dialogue.key, UssdOp.USSR_CONFIRM)
    world.advance(late_s)
    world.run_tranproc()
    return row_id


def test_the_step_deadline_counts_from_the_mo_s_arrival(world):
    dialogue = world.dial(ALICE)
    dialogue.shown()
    received_ns = world.now_ns
    row_id = late_turn(world, dialogue, "1", 2)
    [screen] = world.screens(inbox_id=row_id)
    with world.engine.begin() as conn:
        deliver_by_ns = conn.execute(
            select(outbox.c.deliver_by_ns).where(outbox.c.id == screen.id)
        ).scalar_one()
    assert deliver_by_ns == received_ns + world.config.ussd.answer_timeout_s * NS


def test_a_command_reached_after_its_deadline_does_not_run(world):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK)
    dialogue.shown()
    row_id = late_turn(world, dialogue, PIN, world.config.ussd.answer_timeout_s + 1)
    assert world.screens(inbox_id=row_id) == []  # the network has dropped the dialogue
    session = world.session(dialogue.key)
    assert session.state == "timed_out"
    assert world.inbox_row(row_id).text == "****"
    with world.engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(moves)).scalar_one() == 0
    world.sweep()
    assert world.balance(ALICE) == 10_000 * KES and world.sms_to(ALICE) == []


def test_a_session_keeps_its_language_for_its_whole_life(world):
    dialogue = world.dial(ALICE)
    phone_screen = dialogue.answer("1")
    with world.engine.begin() as conn:  # LANG SW by SMS in the middle of the dialogue
        conn.execute(update(subscribers).where(subscribers.c.msisdn == ALICE).values(language="sw"))
    again = dialogue.answer("lots")  # not a phone number: the same screen, the error first
    assert again.text.endswith(phone_screen.text)
    assert world.session(dialogue.key).language == "en"


def test_the_sweep_prunes_sessions_ended_over_a_day_ago(world):
    old = world.dial(ALICE)
    old.walk("6", PIN)  # a balance: ended
    world.advance(DAY_S - 10)
    recent = world.dial(ALICE)
    recent.walk("6", PIN)
    still_open = world.dial(BOB)
    world.advance(11)
    assert world.settle()["ussd_pruned"] == 1
    with world.engine.begin() as conn:
        keys = set(conn.execute(select(ussd_sessions.c.session_key)).scalars())
    assert keys == {recent.key, still_open.key}
    assert world.settle()["ussd_pruned"] == 0


def test_the_timeout_sweep_has_an_index_on_state_and_start():
    indexed = {tuple(c.name for c in index.columns) for index in ussd_sessions.indexes}
    assert ("state", "started_at_ns") in indexed


def sessions_of(world, key):
    with world.engine.begin() as conn:
        query = select(ussd_sessions).where(ussd_sessions.c.session_key == key)
        return conn.execute(query.order_by(ussd_sessions.c.id)).all()


@pytest.mark.parametrize("why", ["answered", "other_code", "late"])
def test_a_redial_that_is_no_network_retry_starts_a_new_session(world, why):
    dialogue = world.dial(ALICE)
    code = CODE
    if why == "answered":  # and then nothing for longer than the network would retry the dial
        dialogue.answer("1")
        world.advance(world.config.ussd.answer_timeout_s + 1)
    elif why == "other_code":
        code = "*334*5#"
    else:
        world.advance(world.config.ussd.answer_timeout_s + 1)
    row_id = world.ussd_mo(ALICE, code, dialogue.key, UssdOp.PSSR_INDICATION)
    world.run_tranproc()
    old, *new = sessions_of(world, dialogue.key)
    assert (old.state, old.end_reason) == ("aborted", "redialled")
    [screen] = world.screens(inbox_id=row_id)
    if why == "other_code":  # the shipped menu has no *334*5#: a new dialogue saying so
        assert new == [] and screen.final and world.inbox_row(row_id).error == "ussd_unknown_code"
        return
    [new] = new
    assert (new.state, new.service_code, new.steps) == ("open", code, 0)
    assert new.last_outbox_id == screen.id and not screen.final


def test_a_redial_stops_and_voids_the_old_session_s_unsent_money_screen(world):
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, PIN)  # its last screen still queued
    world.advance(A_PERSON_S)  # a person dialling again (sooner: the SMSC's copy of the dial)
    world.ussd_mo(ALICE, CODE, dialogue.key, UssdOp.PSSR_INDICATION)
    world.run_tranproc()
    assert status_of(world, last) == OutboxStatus.FAILED
    old, new = sessions_of(world, dialogue.key)
    assert (old.state, old.end_reason) == ("aborted", "redialled")
    assert new.state == "open"
    world.sweep()
    assert world.balance(ALICE) == 10_000 * KES and world.balance(BOB) == 0
    assert len(world.sms_to(ALICE)) == 1
