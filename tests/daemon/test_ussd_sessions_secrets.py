"""A PIN typed in a USSD dialogue is never stored, whatever becomes of the MO (review 14, finding
5): the session moved on under the TranProc, an op the daemon does not handle, a release that
carries text; and a turn that raises fails its own row only (finding 6)."""

import pytest
from sqlalchemy import select, update

from daemon import replies
from daemon.schema import inbox
from daemon.schema_ussd import ussd_sessions
from daemon.ussd import inbox as ussd_inbox
from daemon.ussd.menu import MenuError
from smscore.ussd import UssdOp
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


def no_pin_stored(world) -> None:
    with world.engine.begin() as conn:
        rows = conn.execute(select(inbox.c.text, inbox.c.payload)).all()
    for text, payload in rows:
        assert PIN not in text
        assert PIN.encode() not in (payload or b"")


def swept_under_the_tranproc(monkeypatch) -> None:
    """The timeout sweep ends the session between the TranProc's read and its guarded write."""
    read = ussd_inbox.latest_session_txn

    def racing(conn, where):
        session = read(conn, where)
        if session is not None:
            conn.execute(
                update(ussd_sessions)
                .where(ussd_sessions.c.id == session.id)
                .values(state="timed_out", end_reason="session_timeout")
            )
        return session

    monkeypatch.setattr(ussd_inbox, "latest_session_txn", racing)


@pytest.mark.parametrize("path", ["session_moved", "unhandled_op", "release_with_text"])
def test_a_pin_answer_is_stored_masked_on_every_path(world, monkeypatch, path):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK)
    dialogue.shown()
    if path == "session_moved":
        swept_under_the_tranproc(monkeypatch)
        row_id = world.ussd_mo(ALICE, PIN, dialogue.key, UssdOp.USSR_CONFIRM)
    elif path == "unhandled_op":
        row_id = world.ussd_mo(ALICE, PIN, dialogue.key, 0x7F)  # a vendor's value
    else:
        row_id = world.ussd_mo(ALICE, PIN, dialogue.key, UssdOp.USSR_CONFIRM, end=True)
    world.run_tranproc()
    row = world.inbox_row(row_id)
    expected = {"session_moved": "ussd_session_moved", "unhandled_op": "ussd_op_127"}
    assert (row.status, row.error) == ("done", expected.get(path, "ussd_released"))
    no_pin_stored(world)
    assert world.balance(BOB) == 0


# --- a turn that raises (review 14, finding 6) ------------------------------------------------


def stored_menu_fails_today_s_checks(monkeypatch) -> None:
    """After an upgrade, the version a session runs on no longer passes check_menu."""

    def failing(conn, version):
        raise MenuError(f"menu {version}: screen main: ussd_bad_input no longer fits")

    monkeypatch.setattr(ussd_inbox, "menu_of_version_txn", failing)


def test_a_turn_that_raises_fails_its_row_and_ends_the_session_only(world, monkeypatch):
    dialogue = world.dial(ALICE)
    dialogue.walk(*SEND_WALK)
    dialogue.shown()
    stored_menu_fails_today_s_checks(monkeypatch)
    row_id = world.ussd_mo(ALICE, PIN, dialogue.key, UssdOp.USSR_CONFIRM)
    reply = world.sms(BOB, "HELP")  # the same batch: it still runs
    assert reply
    row = world.inbox_row(row_id)
    assert row.status == "failed" and row.error.startswith("MenuError: ")
    [screen] = world.screens(inbox_id=row_id)
    assert screen.final and screen.text == replies.render(
        "en", "try_later", service=world.config.service.name
    )
    session = world.session(dialogue.key)
    assert (session.state, session.end_reason) == ("aborted", "turn_failed")
    no_pin_stored(world)
    world.run_tranproc()  # nothing left to retry
    assert world.inbox_row(row_id).attempts == 1
