"""An SMSC that keeps re-delivering one MO (its deliver_sm_resp lost again and again, as `smscore
chaos` made it: redeliveries, dropped links and SIGKILLs) must not get the command run twice once
the first copy has left the dedupe window: a copy answered as a repeat stands for the copy that ran.
Found by `smscore chaos --seed 18 --duration 900 --rate 6 --kills 40 --customers 40`: a SEND
delivered 8 times over 133 s ran twice (the 8th copy came 133 s after the first, 32 s after the
7th)."""

from sqlalchemy import select

from daemon.schema import inbox, moves
from tests.daemon.money_world import World
from tests.daemon.test_refused_repeats import same_mo

ALICE, BOB = "254712000001", "254712000002"
KES = 100
SEND = "SEND 0712000002 100 1234"


def test_a_copy_after_the_first_left_the_window_replays_through_the_repeats(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    window_s = world.config.inbox.dedupe_window_s
    first = same_mo(world, ALICE, SEND)
    assert "Confirmed" in first
    world.advance(window_s * 0.75)
    assert same_mo(world, ALICE, SEND).startswith("You sent this message already")
    world.advance(window_s * 0.75)  # the first copy is out of the window, the repeat is in it
    again = same_mo(world, ALICE, SEND)
    assert again.startswith("You sent this message already") and first in again
    assert again.count("You sent this message already") == 1
    with engine.begin() as conn:
        assert len(conn.execute(select(moves.c.id)).all()) == 1  # run once
        errors = [row.error for row in conn.execute(select(inbox.c.error).order_by(inbox.c.id))]
    assert errors == [None, "repeat", "repeat"]
    world.receipts()
    assert world.balance(BOB) == 100 * KES
    world.check()


def test_a_wrong_pin_redelivered_past_the_window_is_not_another_failure(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    window_s = world.config.inbox.dedupe_window_s
    wrong = "SEND 0712000002 100 9999"
    refusal = same_mo(world, ALICE, wrong)
    for _ in range(4):  # more copies than pin_max_failures, each inside the previous one's window
        world.advance(window_s * 0.75)
        assert refusal in same_mo(world, ALICE, wrong)
    assert "Confirmed" in same_mo(world, ALICE, SEND)  # one typo did not lock the account
    world.check()
