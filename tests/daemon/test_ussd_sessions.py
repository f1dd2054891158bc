"""USSD sessions through the TranProc (daemon.ussd.inbox, daemon.ussd.sessions): menu walks to a
balance and to a SEND with PIN, whose money waits for the last screen's submit (posted once when it
is accepted, with the SMS confirmation after it; voided and told by SMS when it fails or goes late),
a wrong PIN and a wrong input, the PIN never stored, and the same text on two screens or in two
sessions never taken for a repeat."""

import json

import pytest

from daemon.config import build_config
from daemon.money.settle import SettleEnv
from daemon.outbox import OutboxStatus
from daemon.security.signing import activate, deactivate
from smscore.ussd import UssdOp
from tests.daemon.money_world import HASHER, NS
from tests.daemon.ussd_world import A_PERSON_S, BIND, CODE, UssdWorld

ALICE, BOB = "254712000001", "254712000002"
KES = 100
PIN = "1234"
SEND_WALK = ("1", "0712000002", "500")  # Send money, to Bob, KES 500: the PIN screen next


@pytest.fixture
def world(engine, tmp_path):
    world = UssdWorld(engine, key_dir=tmp_path / "receipt-keys")
    activate(world.config, world.now_ns)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    deactivate(world.config)
    world.check()


def pin_rows_hold_no_pin(world, pin=PIN):
    with world.engine.begin() as conn:
        from sqlalchemy import select

        from daemon.schema import inbox

        rows = conn.execute(select(inbox.c.text, inbox.c.payload)).all()
    assert rows
    for text, payload in rows:
        assert pin not in text
        assert pin.encode() not in (payload or b"")
        assert pin.encode("utf-16-be") not in (payload or b"")


def test_the_first_screen_is_the_menu_for_the_dialled_code(world):
    dialogue = world.dial(ALICE)
    assert dialogue.first.text.startswith("Mobile money\n1. Send money")
    assert dialogue.first.op == UssdOp.USSR_REQUEST and not dialogue.first.end
    session = world.session(dialogue.key)
    assert (session.state, session.service_code, session.bind_name) == ("open", CODE, BIND)
    assert session.menu_version == world.menu.version
    with world.engine.begin() as conn:
        from sqlalchemy import select

        from daemon.schema import outbox

        row = conn.execute(select(outbox).where(outbox.c.id == dialogue.first.id)).one()
    assert row.bind_name == BIND  # answered in its session, on the bind it came on
    assert row.deliver_by_ns == world.now_ns + int(world.config.ussd.answer_timeout_s * NS)


def test_a_walk_to_the_balance_ends_with_the_balance_on_the_last_screen(world):
    dialogue = world.dial(ALICE)
    last = dialogue.walk("6", PIN)
    assert "10,000.00" in last.text
    assert last.final and last.op == UssdOp.PSSR_RESPONSE
    session = world.session(dialogue.key)
    assert (session.state, session.end_reason, session.steps) == ("ended", "command", 2)
    assert world.inbox_row(dialogue.last_mo).command == "BAL"
    pin_rows_hold_no_pin(world)


def test_send_with_pin_waits_for_the_last_screen_then_posts_once(world):
    dialogue = world.dial(ALICE)
    pin_screen = dialogue.walk(*SEND_WALK)
    assert "Enter PIN" in pin_screen.text and "KES 500.00" in pin_screen.text
    assert "JANE W. 0712 000002" in pin_screen.text  # the recipient named before the PIN
    last = dialogue.answer(PIN)
    assert last.final and "Confirmed" in last.text and "Sig " in last.text
    assert last.on_failure == "move"
    assert world.balance(ALICE) < 10_000 * KES - 500 * KES  # reserved: amount and fee
    assert world.balance(BOB) == 0
    world.settle()
    assert world.balance(BOB) == 0, "posted before the last screen went"
    assert world.sms_to(ALICE) == [] and world.sms_to(BOB) == []
    dialogue.shown()  # the last screen's submit_sm_resp OK
    world.settle()
    assert world.balance(BOB) == 500 * KES
    assert world.sms_to(ALICE) == [last.text]  # the confirmation as an SMS, tag and all
    [notice] = world.sms_to(BOB)
    assert "received KES 500.00" in notice
    world.settle()
    world.sweep()
    assert world.balance(BOB) == 500 * KES and len(world.sms_to(ALICE)) == 1
    pin_rows_hold_no_pin(world)


def test_the_sms_after_a_ussd_screen_come_from_the_short_code(world):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK, PIN)
    dialogue.shown()
    world.settle()
    with world.engine.begin() as conn:
        from sqlalchemy import select

        from daemon.schema import outbox

        sources = set(
            conn.execute(select(outbox.c.source_addr).where(outbox.c.ussd_op.is_(None))).scalars()
        )
    assert sources == {world.config.sender.source_addr}


@pytest.mark.parametrize("status", [OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE])
def test_a_last_screen_that_failed_voids_the_send_and_says_so_by_sms(world, status):
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, PIN)
    world.submitted(last, status)
    world.sweep()
    assert world.balance(ALICE) == 10_000 * KES
    assert world.balance(BOB) == 0
    [told] = world.sms_to(ALICE)
    assert "Sig " not in told and "KES 500.00" in told
    world.settle()
    world.sweep()
    assert len(world.sms_to(ALICE)) == 1 and world.sms_to(BOB) == []


def test_a_last_screen_not_sent_in_time_voids_the_send(world):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK, PIN)
    world.advance(world.config.ussd.answer_timeout_s + 1)
    world.sweep()
    assert world.balance(ALICE) == 10_000 * KES
    assert len(world.sms_to(ALICE)) == 1
    [last] = [s for s in world.screens(to=ALICE) if s.final]
    assert last.status == OutboxStatus.UNDELIVERABLE


def test_a_wrong_pin_is_the_last_screen_and_counts_as_for_sms(world):
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, "9999")
    assert last.final and "PIN" in last.text and last.on_failure is None
    assert world.inbox_row(dialogue.last_mo).error == "pin_wrong"
    assert world.subscriber(ALICE).pin_failures == 1
    for _ in range(world.config.security.pin_max_failures - 1):
        world.dial(ALICE).walk(*SEND_WALK, "9999")
    dialogue = world.dial(ALICE)
    locked = dialogue.walk(*SEND_WALK, PIN)  # the right PIN, too late
    assert locked.final and world.inbox_row(dialogue.last_mo).error == "pin_locked"
    assert world.balance(ALICE) == 10_000 * KES and world.balance(BOB) == 0
    pin_rows_hold_no_pin(world, "9999")
    pin_rows_hold_no_pin(world)


def test_a_wrong_input_shows_the_same_screen_with_the_error(world):
    dialogue = world.dial(ALICE)
    amount_screen = dialogue.walk("1", "0712000002")
    again = dialogue.answer("lots")
    assert not again.final
    assert again.text.endswith(amount_screen.text) and again.text != amount_screen.text
    assert world.session(dialogue.key).screen == "send_amount"
    assert dialogue.answer("500").text.startswith("Send KES 500.00")


def test_a_bad_pin_typed_on_the_pin_screen_is_stored_masked(world):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK)
    again = dialogue.answer("12")  # too short for a PIN: the PIN screen again
    assert not again.final
    row = world.inbox_row(dialogue.last_mo)
    assert row.text == "****" and b"12" not in row.payload
    assert json.loads(world.session(dialogue.key).inputs).keys() == {"phone", "amount"}


def test_the_same_answer_in_two_sessions_is_not_a_repeat(world):
    # The LIS's key of both PIN answers is the same (same bind, sender, code, text): the second
    # SEND is its own, not "a repeat of an earlier message".
    for amount in ("500", "600"):  # not the same SEND twice: that one asks YES (double_send)
        dialogue = world.dial(ALICE)
        dialogue.walk("1", "0712000002", amount)
        dialogue.shown()
        world.ussd_mo(ALICE, PIN, dialogue.key, UssdOp.USSR_CONFIRM, dedupe_key="same")
        world.run_tranproc()
        dialogue.shown()
        world.settle()
    assert world.balance(BOB) == 1100 * KES
    assert all("repeat" not in text.lower() for text in world.sms_to(ALICE))


def test_the_pin_answer_delivered_again_after_the_end_runs_nothing(world):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK, PIN)
    again = dialogue.answer(PIN)
    assert again.final and "ended" in again.text and CODE in again.text
    assert world.inbox_row(dialogue.last_mo).error == "ussd_session_ended"
    dialogue.shown()
    world.settle()
    assert world.balance(BOB) == 500 * KES
    pin_rows_hold_no_pin(world)


def test_the_same_text_on_two_screens_is_two_answers(world):
    # "1" for Send money on the menu, then "1" again: a bad phone number there (re-prompted),
    # not a repeat of the first "1".
    dialogue = world.dial(ALICE)
    phone_screen = dialogue.answer("1")
    world.advance(A_PERSON_S)  # read the screen, typed "1" (sooner: the SMSC's copy of the first)
    again = dialogue.answer("1")
    assert again.text.endswith(phone_screen.text) and again.text != phone_screen.text


def test_the_pin_screen_is_the_confirmation_no_yes_by_sms_after_it(engine, tmp_path):
    """Above money.confirm_above_minor an SMS SEND asks YES <code>; on USSD the screen naming the
    recipient, amount and fee, answered with the PIN, is that confirmation: it commits at once."""
    world = UssdWorld(engine, key_dir=tmp_path / "keys", confirm_above_minor=100 * KES)
    activate(world.config, world.now_ns)
    try:
        world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
        world.add(BOB, name="Jane Wanjiku")
        last = world.dial(ALICE).walk(*SEND_WALK, PIN)
        assert last.final and "Confirmed" in last.text and "YES" not in last.text
        world.submitted(last)
        world.settle()
        assert world.balance(BOB) == 500 * KES
    finally:
        deactivate(world.config)
    world.check()


def test_without_a_sender_address_the_sms_after_a_dialogue_come_from_the_binds_short_code(engine):
    """The dialled code (*334#) cannot send an SMS; with no sender.source_addr the first short code
    the bind serves does (with neither, `smscore run --check` refuses the config)."""
    world = UssdWorld(engine, key_dir=None)
    world.config = build_config({"binds": [{"name": BIND, "host": "127.0.0.1", "system_id": "s",
                                            "password": "p", "serves": ["54321"]}]})  # fmt: skip
    world.settle_env = SettleEnv(world.config, HASHER)
    world.env = world.tranproc_env()
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    world.dial(ALICE).walk(*SEND_WALK, PIN)
    [last] = [s for s in world.screens(to=ALICE) if s.final]
    world.submitted(last)
    world.settle()
    with world.engine.begin() as conn:
        from sqlalchemy import select

        from daemon.schema import outbox

        sms = conn.execute(select(outbox.c.source_addr).where(outbox.c.ussd_op.is_(None))).all()
    assert sms and {source for (source,) in sms} == {"54321"}
    world.check()


def test_a_question_with_a_yes_code_also_comes_by_sms(world):
    """A SEND repeated within the double-send window ends on "reply YES <code>": the screen goes
    once read, so the same text comes as an SMS the subscriber can answer."""
    first = world.dial(ALICE).walk(*SEND_WALK, PIN)
    world.submitted(first)
    world.settle()
    world.sms_to(ALICE)  # the first SEND's SMS copy
    again = world.dial(ALICE).walk(*SEND_WALK, PIN)
    assert again.final and "YES" in again.text
    texts = world.sms_to(ALICE)
    assert again.text in texts, texts
    assert world.balance(BOB) == 500 * KES  # the repeat waits for YES: nothing moved


def test_zero_goes_back_a_screen_across_messages_and_the_walk_still_completes(world):
    """The path back is kept in the session row between MOs (QA trial: no way back from an input
    screen)."""
    dialogue = world.dial(ALICE)
    phone_screen = dialogue.answer("1")
    amount_screen = dialogue.answer("0712000002")
    assert "0. Back" in amount_screen.text
    again = dialogue.answer("0")
    assert again.text == phone_screen.text
    session = world.session(dialogue.key)
    assert PIN not in json.dumps(session.inputs)
    world.advance(A_PERSON_S)  # the same number typed again, a person's time later
    dialogue.answer("0712000002")
    last = dialogue.walk("500", PIN)
    assert last.final and "Confirmed" in last.text
    world.submitted(last)
    world.settle()
    assert world.balance(BOB) == 500 * KES
