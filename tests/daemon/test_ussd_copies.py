"""The SMSC's copies of USSD PDUs (daemon.ussd.copies; RELIABILITY.md "What the runs found" 3): a
deliver_sm sent again because its deliver_sm_resp was lost never advances a dialogue, never ends an
open session and never makes or posts a move; a person's redial and a person's answer equal to the
one before still count."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from daemon.outbox import OutboxStatus
from daemon.schema import moves, outbox
from daemon.schema_ussd import ussd_sessions
from smscore.ussd import UssdOp
from tests.daemon.ussd_world import A_PERSON_S, CODE, UssdWorld

ALICE, BOB = "254712000001", "254712000002"
BOB_NATIONAL = "0712000002"
KES = 100
PIN = "1234"
DIAL, ANSWER = UssdOp.PSSR_INDICATION, UssdOp.USSR_CONFIRM
SOON_S = 0.3  # the SMSC's retry after a lost deliver_sm_resp: within copy_window_s


@pytest.fixture
def world(engine):
    world = UssdWorld(engine)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.check()


def copy(world, dialogue, text: str, op: UssdOp = ANSWER) -> int:
    """The SMSC's copy of an MO of the dialogue, taken by the TranProc; its inbox row."""
    row_id = world.ussd_mo(dialogue.msisdn, text, dialogue.key, op)
    world.run_tranproc()
    return row_id


def moves_of(world, payer: str) -> list:
    with world.engine.begin() as conn:
        query = select(moves).where(moves.c.payer_msisdn == payer).order_by(moves.c.id)
        return conn.execute(query).all()


def sessions_of(world, key: str) -> list:
    with world.engine.begin() as conn:
        query = select(ussd_sessions).where(ussd_sessions.c.session_key == key)
        return conn.execute(query.order_by(ussd_sessions.c.id)).all()


def person(world, dialogue, text: str):
    """A person's answer: the screen shown, read, and answered a person's time later."""
    dialogue.shown()
    world.advance(A_PERSON_S)
    return dialogue.answer(text)


def test_finding_3_replayed_posts_only_the_send_the_subscriber_typed(world):
    """Session 469 of the long run: the dial, "1", the SMSC's copy of it at the phone screen, the
    phone, another copy of "1" at the amount screen, then the PIN and its copy. Before the fix
    the dialogue ran SEND +254713000016 1 <PIN> and posted KES 1.00 nobody typed."""
    dialogue = world.dial(ALICE)
    phone_screen = person(world, dialogue, "1")
    world.advance(SOON_S)
    first_copy = copy(world, dialogue, "1")
    assert world.screens(inbox_id=first_copy) == []  # the phone screen, not sent yet, will go
    assert world.session(dialogue.key).screen == "send_phone"
    amount_screen = person(world, dialogue, BOB_NATIONAL)
    assert amount_screen.text != phone_screen.text
    world.advance(SOON_S)
    second_copy = copy(world, dialogue, "1")
    assert world.inbox_row(second_copy).error == "ussd_copy"
    pin_screen = person(world, dialogue, "500")  # the real amount is taken, on the amount screen
    assert "500.00" in pin_screen.text and not pin_screen.final
    last = person(world, dialogue, PIN)
    assert last.final and "Confirmed" in last.text
    world.advance(SOON_S)
    pin_copy = copy(world, dialogue, PIN)
    [ended] = world.screens(inbox_id=pin_copy)
    assert ended.final and "ended" in ended.text
    assert world.inbox_row(pin_copy).text == "****"
    world.submitted(last)
    world.settle()
    [move] = moves_of(world, ALICE)
    assert (move.amount_minor, move.state) == (500 * KES, "posted")
    assert world.balance(BOB) == 500 * KES


def test_a_late_copy_of_the_dial_mid_dialogue_keeps_the_session(world):
    dialogue = world.dial(ALICE)
    person(world, dialogue, "1")
    person(world, dialogue, BOB_NATIONAL)
    dialogue.shown()
    world.advance(SOON_S)
    row_id = copy(world, dialogue, CODE, DIAL)  # before: a new dial, the session "redialled"
    assert world.screens(inbox_id=row_id) == [] and world.inbox_row(row_id).error == "ussd_redial"
    [session] = sessions_of(world, dialogue.key)
    assert (session.state, session.screen, session.steps) == ("open", "send_amount", 2)
    person(world, dialogue, "500")
    last = person(world, dialogue, PIN)
    world.submitted(last)
    world.settle()
    assert [m.amount_minor for m in moves_of(world, ALICE)] == [500 * KES]


def test_a_copy_of_the_dial_just_after_the_end_starts_nothing(world):
    dialogue = world.dial(ALICE)
    person(world, dialogue, "6")
    person(world, dialogue, PIN)  # the balance: ended
    world.advance(SOON_S)
    row_id = copy(world, dialogue, CODE, DIAL)
    [screen] = world.screens(inbox_id=row_id)
    assert screen.final and "ended" in screen.text
    assert len(sessions_of(world, dialogue.key)) == 1


@pytest.mark.parametrize("how", ["ended", "released", "timed_out"])
def test_a_real_redial_after_the_session_ended_starts_a_new_one(world, how):
    dialogue = world.dial(ALICE)
    if how == "ended":
        person(world, dialogue, "6")
        person(world, dialogue, PIN)
    elif how == "released":
        person(world, dialogue, "1")
        dialogue.release()
    else:
        world.advance(world.config.ussd.session_timeout_s + 1)
        world.settle()
    world.advance(A_PERSON_S)
    again = dialogue.turn(CODE, DIAL)
    assert again.text == dialogue.first.text and not again.final
    old, new = sessions_of(world, dialogue.key)
    assert old.state != "open" and (new.state, new.steps) == ("open", 0)


@pytest.mark.parametrize(("after_s", "taken"), [(SOON_S, False), (A_PERSON_S, True)])
def test_an_answer_equal_to_the_one_before_is_a_copy_only_within_the_window(world, after_s, taken):
    dialogue = world.dial(ALICE)
    phone_screen = person(world, dialogue, "1")
    dialogue.shown()
    world.advance(after_s)
    row_id = copy(world, dialogue, "1")  # at the phone screen: "1" is no phone number
    screens = world.screens(inbox_id=row_id)
    if taken:  # a person's "1": the phone screen again, its error first
        [again] = screens
        assert again.text.endswith(phone_screen.text) and again.text != phone_screen.text
        assert world.session(dialogue.key).steps == 2
    else:  # a copy moves nothing, but its screen goes once more: a fast person is not left silent
        [same] = screens
        assert (same.text, same.end, same.on_failure) == (phone_screen.text, False, None)
        session = world.session(dialogue.key)
        assert (session.steps, session.screen) == (1, "send_phone")
        assert session.last_outbox_id != same.id  # the session's screen is still the first


def test_a_fast_person_repeating_an_answer_sees_the_screen_again_and_goes_on(world):
    # New-user trial: "1" on the menu, then "1" 1.2 s after the phone screen showed (a person who
    # typed fast, inside copy_window_s): taken for a copy, the dialogue died in silence.
    dialogue = world.dial(ALICE)
    phone_screen = person(world, dialogue, "1")
    dialogue.shown()
    world.advance(1.2)
    row_id = copy(world, dialogue, "1")
    [again] = world.screens(inbox_id=row_id)
    assert again.text == phone_screen.text and not again.end
    assert world.inbox_row(row_id).error == "ussd_copy"
    amount_screen = person(world, dialogue, BOB_NATIONAL)  # then the phone, and on to the amount
    assert "amount" in amount_screen.text.lower()
    person(world, dialogue, "500")
    last = person(world, dialogue, PIN)
    world.submitted(last)
    world.settle()
    assert [m.amount_minor for m in moves_of(world, ALICE)] == [500 * KES]


def test_an_answer_before_its_screen_went_is_a_copy_whatever_it_says(world):
    dialogue = world.dial(ALICE)
    person(world, dialogue, "1")  # the phone screen still queued
    world.advance(A_PERSON_S)  # the SMSC, back after a restart, sends the menu's answer again
    row_id = copy(world, dialogue, "6")
    assert world.screens(inbox_id=row_id) == []
    session = world.session(dialogue.key)
    assert (session.screen, session.steps) == ("send_phone", 1)


def test_a_copy_finding_its_screen_refused_brings_it_again(world):
    dialogue = world.dial(ALICE)
    phone_screen = person(world, dialogue, "1")
    world.submitted(phone_screen, OutboxStatus.FAILED)  # never reached the phone
    world.advance(A_PERSON_S)
    row_id = copy(world, dialogue, "1")
    [again] = world.screens(inbox_id=row_id)
    assert again.text == phone_screen.text and not again.final
    session = world.session(dialogue.key)
    assert (session.steps, session.last_outbox_id) == (1, again.id)
    amount_screen = person(world, dialogue, BOB_NATIONAL)
    assert "mount" in amount_screen.text


def test_an_answer_to_a_screen_given_up_after_a_try_is_taken(world):
    """Chaos seed 18: the phone screen was in flight when the daemon was killed (shown, its
    submit_sm_resp lost), then given up as late; the subscriber's real answer to it counts."""
    dialogue = world.dial(ALICE)
    phone_screen = person(world, dialogue, "1")
    with world.engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == phone_screen.id)
            .values(status=OutboxStatus.UNDELIVERABLE, attempts=1, final_at_ns=world.now_ns)
        )
    world.advance(A_PERSON_S)
    amount_screen = dialogue.turn(BOB_NATIONAL)
    assert "mount" in amount_screen.text and world.session(dialogue.key).steps == 2


# --- any copies of earlier PDUs, arriving as an SMSC sends them again -----------------------------

PAYERS = (f"2547130{n:05d}" for n in itertools.count(1))
# Per step, copies of earlier PDUs: (index of the PDU: 0 the dial, k the k-th answer; before the
# step's screen went out (True) or right after it was taken, within the copy window (False)).
COPIES = st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=4)


@settings(
    max_examples=12, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(
    amount=st.integers(10, 999),
    copies=st.lists(COPIES, min_size=5, max_size=5),
    dial_copies=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_copies_of_earlier_pdus_make_only_the_move_the_real_answers_describe(
    world, amount, copies, dial_copies
):
    payer = next(PAYERS)
    world.add(payer, balance_minor=10_000 * KES)
    before_bob = world.balance(BOB)
    dialogue = world.dial(payer)
    sent = [(CODE, DIAL)]
    answers = ["1", BOB_NATIONAL, str(amount), PIN]
    last = None
    for step in range(5):  # after the dial and after each answer
        for index, before_shown in copies[step]:
            if before_shown:
                text, op = sent[min(index, len(sent) - 1)]
            else:  # right after the step: the SMSC's copy of the PDU just taken
                text, op = sent[-1]
            world.advance(SOON_S / 3)
            copy(world, dialogue, text, op)
        dialogue.shown()
        if dial_copies[step]:
            world.advance(SOON_S / 3)
            copy(world, dialogue, CODE, DIAL)
        if step < len(answers):
            world.advance(A_PERSON_S)
            last = dialogue.turn(answers[step])
            sent.append((answers[step], ANSWER))
    assert last is not None and last.final and "Confirmed" in last.text, last
    world.submitted(last)
    world.settle()
    [move] = moves_of(world, payer)
    assert (move.amount_minor, move.state, move.payee_msisdn) == (amount * KES, "posted", BOB)
    assert world.balance(BOB) - before_bob == amount * KES
    assert len(sessions_of(world, dialogue.key)) == 1
