"""How USSD sessions end and go on (daemon.ussd.inbox, sessions, sweep): a release mid-menu or after
the PIN (the last screen stopped, the money voided once, the SMS saying so), the timeout sweep, an
answer for no open session, a network retry of the dial, an unknown code, a restart and a new menu
version in the middle, and the guarded UPDATE that keeps two TranProcs from both moving a
session on."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from daemon.outbox import OutboxStatus
from daemon.tranproc import process_batch_txn
from daemon.ussd.menu_file import SHIPPED_MENU, parse_menu
from daemon.ussd.sessions import SessionMoved, Step, latest_session_txn, save_step_txn
from daemon.ussd.sessions import Where as SessionWhere
from smscore.ussd import UssdOp
from tests.daemon.pg_locks import wait_until_blocked
from tests.daemon.ussd_world import BIND, CODE, UssdWorld

ALICE, BOB = "254712000001", "254712000002"
KES = 100
PIN = "1234"
SEND_WALK = ("1", "0712000002", "500")


def new_world(engine):
    world = UssdWorld(engine)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    return world


@pytest.fixture
def world(engine):
    world = new_world(engine)
    yield world
    world.check()


def test_a_release_mid_menu_ends_the_session_and_sends_nothing(world):
    dialogue = world.dial(ALICE)
    screen = dialogue.answer("1")  # released before the screen it gets went
    row_id = dialogue.release()
    session = world.session(dialogue.key)
    assert (session.state, session.end_reason) == ("aborted", "released")
    assert world.inbox_row(row_id).error == "ussd_released"
    [stopped] = [s for s in world.screens(to=ALICE) if s.id == screen.id]
    assert stopped.status == OutboxStatus.FAILED  # never sent into a dialogue that is gone
    assert world.sms_to(ALICE) == []
    late = dialogue.answer("0712000002")
    assert late.final and "ended" in late.text


def test_a_release_after_the_pin_before_the_last_screen_went_voids_once(world):
    dialogue = world.dial(ALICE)
    last = dialogue.walk(*SEND_WALK, PIN)
    dialogue.release()
    assert world.session(dialogue.key).state == "aborted"
    world.sweep()
    assert world.balance(ALICE) == 10_000 * KES and world.balance(BOB) == 0
    [told] = world.sms_to(ALICE)
    assert "KES 500.00" in told and "Sig " not in told
    dialogue.release()  # released again (a network retry): nothing more
    world.submitted(last)  # a late submit_sm_resp the sender would drop: still nothing posts
    world.settle()
    world.sweep()
    assert world.balance(BOB) == 0 and len(world.sms_to(ALICE)) == 1


def test_a_release_after_the_last_screen_went_changes_nothing(world):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK, PIN)
    dialogue.shown()
    dialogue.release()
    assert world.session(dialogue.key).state == "ended"
    world.settle()
    assert world.balance(BOB) == 500 * KES


def test_the_sweep_times_out_sessions_past_the_network_s_time(world):
    dialogue = world.dial(ALICE)
    dialogue.answer("1")
    world.advance(world.config.ussd.session_timeout_s - 1)
    assert world.settle()["ussd_timed_out"] == 0
    world.advance(2)
    assert world.settle()["ussd_timed_out"] == 1
    session = world.session(dialogue.key)
    assert (session.state, session.end_reason) == ("timed_out", "session_timeout")
    assert world.settle()["ussd_timed_out"] == 0
    late = dialogue.answer("0712000002")
    assert late.final and CODE in late.text


def test_an_answer_after_the_timeout_before_the_sweep_ends_the_session(world):
    dialogue = world.dial(ALICE)
    dialogue.answer("1")
    world.advance(world.config.ussd.session_timeout_s + 1)
    late = dialogue.answer("0712000002")
    assert late.final and "ended" in late.text
    assert world.session(dialogue.key).state == "timed_out"


def test_an_answer_for_no_session_at_all_says_the_session_ended(world):
    row_id = world.ussd_mo(ALICE, "1", "no-such-session", UssdOp.USSR_CONFIRM)
    world.run_tranproc()
    [screen] = world.screens(inbox_id=row_id)
    assert screen.final and CODE in screen.text
    assert world.inbox_row(row_id).error == "ussd_session_ended"


def test_the_ended_screen_speaks_the_subscriber_s_language(engine):
    world = new_world(engine)
    world.add("254712000009", language="sw")
    row_id = world.ussd_mo("254712000009", "1", "gone", UssdOp.USSR_CONFIRM)
    world.run_tranproc()
    [screen] = world.screens(inbox_id=row_id)
    assert screen.text.startswith("Kipindi hiki kimekwisha")


def test_a_repeated_dial_leaves_the_queued_screen_to_answer_it(world):
    dialogue = world.dial(ALICE)
    world.advance(world.config.ussd.answer_timeout_s - 1)
    row_id = world.ussd_mo(ALICE, CODE, dialogue.key, UssdOp.PSSR_INDICATION)  # the network's retry
    world.run_tranproc()
    assert world.screens(inbox_id=row_id) == []  # the menu still queued goes: one screen, not two
    assert world.inbox_row(row_id).error == "ussd_redial"
    session = world.session(dialogue.key)
    assert (session.state, session.screen, session.steps) == ("open", "main", 0)
    assert session.last_outbox_id == dialogue.first.id
    assert dialogue.answer("1").text.startswith("Send money")


def test_a_repeated_dial_whose_screen_was_refused_gets_it_again(world):
    dialogue = world.dial(ALICE)
    world.submitted(dialogue.first, OutboxStatus.FAILED)  # never reached the phone
    again = dialogue.turn(CODE, UssdOp.PSSR_INDICATION)  # the network's retry
    assert again.text == dialogue.first.text and not again.final
    session = world.session(dialogue.key)
    assert (session.screen, session.steps, session.last_outbox_id) == ("main", 0, again.id)
    assert dialogue.answer("1").text.startswith("Send money")


def test_an_unknown_code_gets_a_final_screen_saying_so(world):
    dialogue = world.dial(ALICE, code="*999#")
    assert dialogue.first.final and "*999#" in dialogue.first.text and CODE in dialogue.first.text
    assert world.inbox_row(dialogue.last_mo).error == "ussd_unknown_code"


def test_a_restart_in_the_middle_continues_the_session(world):
    dialogue = world.dial(ALICE)
    dialogue.walk("1", "0712000002")
    world.env = world.tranproc_env()  # a new TranProc process over the same database
    last = dialogue.walk("500", PIN)
    assert last.final and "KES 500.00" in last.text
    dialogue.shown()
    world.settle()
    assert world.balance(BOB) == 500 * KES


def test_a_new_menu_version_applies_to_new_sessions_only(world):
    old = world.dial(ALICE)
    shipped = SHIPPED_MENU.read_text()
    newer = shipped.replace('version = "2026.12.1"', 'version = "2026.12.2"').replace(
        '"Mobile money"', '"Mobile money 2"'
    )
    world.advance(1)
    world.load_menu(parse_menu(newer, "new.toml"))
    new = world.dial(BOB)
    assert new.first.text.startswith("Mobile money 2\n")
    assert world.session(new.key).menu_version == "2026.12.2"
    assert world.session(old.key).menu_version == "2026.12.1"
    again = old.answer("8")  # not a choice: the old version's menu again, the error first
    assert "Mobile money\n1. Send money" in again.text and "Mobile money 2" not in again.text


def test_a_guarded_update_refuses_a_session_that_moved_on(world):
    dialogue = world.dial(ALICE)
    where = SessionWhere(BIND, ALICE, dialogue.key)
    with world.engine.begin() as conn:
        stale = latest_session_txn(conn, where)
    dialogue.answer("1")
    with world.engine.begin() as conn, pytest.raises(SessionMoved):
        save_step_txn(conn, stale, Step("send_amount", 0, {}, True), world.now_ns)


def test_two_tranprocs_on_the_same_session_run_the_pin_answer_once(pg_engine):
    world = new_world(pg_engine)
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK)
    dialogue.shown()
    first = world.ussd_mo(ALICE, PIN, dialogue.key, UssdOp.USSR_CONFIRM)
    second = world.ussd_mo(ALICE, PIN, dialogue.key, UssdOp.USSR_CONFIRM)  # delivered twice
    with ThreadPoolExecutor(1) as pool:
        with pg_engine.begin() as conn:
            process_batch_txn(conn, world.env, world.now_ns, 1)  # claims the first copy
            # The second TranProc skips the first row (locked) and waits on the session's row.
            future = pool.submit(_batch, pg_engine, world.tranproc_env(), world.now_ns)
            wait_until_blocked(pg_engine)
        future.result(timeout=20)
    [ran] = world.screens(inbox_id=first)
    [ended] = world.screens(inbox_id=second)
    assert "Confirmed" in ran.text and "ended" in ended.text
    dialogue.shown()
    world.settle()
    assert world.balance(BOB) == 500 * KES
    world.check()


def test_two_tranprocs_racing_a_release_and_the_pin_void_the_move(pg_engine):
    world = new_world(pg_engine)
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK)
    dialogue.shown()
    world.ussd_mo(ALICE, PIN, dialogue.key, UssdOp.USSR_CONFIRM)
    world.ussd_mo(ALICE, "", dialogue.key, UssdOp.USSR_CONFIRM, end=True)
    other_env = world.tranproc_env()

    with ThreadPoolExecutor(1) as pool:
        with pg_engine.begin() as conn:
            process_batch_txn(conn, world.env, world.now_ns, 1)
            future = pool.submit(_batch, pg_engine, other_env, world.now_ns)
            wait_until_blocked(pg_engine)
        future.result(timeout=20)
    assert world.session(dialogue.key).state == "aborted"
    world.sweep()
    assert world.balance(ALICE) == 10_000 * KES and world.balance(BOB) == 0
    assert len(world.sms_to(ALICE)) == 1
    world.check()


def _batch(engine, env, now_ns) -> None:
    with engine.begin() as conn:
        process_batch_txn(conn, env, now_ns, 1)
