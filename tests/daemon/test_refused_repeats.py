"""A money command refused with nothing done (not enough money, over a limit, a frozen account) is
not "done" for the dedupe window: the same text again, after a top-up, runs, where a command that
did something gets its first reply replayed."""

from sqlalchemy import insert, select

from daemon.chart import deposit_txn, new_transfer_id, wallet_account_id
from daemon.schema import inbox, moves
from tests.daemon.money_world import World

ALICE, BOB = "254712000001", "254712000002"
KES = 100


def top_up(world, msisdn, amount_minor):
    with world.engine.begin() as conn:
        deposit_txn(conn, wallet_account_id(msisdn), amount_minor, "KES", world.now_ns,
                    transfer_id=new_transfer_id(), user_data="test")  # fmt: skip


def same_mo(world, sender, text):
    """The message again with the same dedupe key (the same bytes from the same number), as the
    LIS stores a repeat; the reply to it."""
    with world.engine.begin() as conn:
        row_id = conn.execute(
            insert(inbox).values(
                received_at_ns=world.now_ns, bind_name="smsc1", source_addr=sender,
                destination_addr="12345", data_coding=0, payload=text.encode(), text=text,
                dedupe_key=f"{sender}:{text}", status="new", attempts=0,
            )
        ).inserted_primary_key[0]  # fmt: skip
    world.run_tranproc()
    [reply] = [sms.text for sms in world.outbox(inbox_id=row_id) if sms.to == sender]
    return reply


def test_the_same_send_after_a_top_up_runs(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=100 * KES)
    world.add(BOB)
    assert "Not enough money" in same_mo(world, ALICE, "SEND 0712000002 500 1234")
    top_up(world, ALICE, 1_000 * KES)
    world.advance(10)  # well inside the dedupe window
    reply = same_mo(world, ALICE, "SEND 0712000002 500 1234")
    assert "Confirmed" in reply and "already" not in reply
    world.receipts()
    world.settle()
    assert world.balance(BOB) == 500 * KES
    with engine.begin() as conn:
        errors = [row.error for row in conn.execute(select(inbox.c.error).order_by(inbox.c.id))]
        assert len(conn.execute(select(moves.c.id)).all()) == 1
    assert errors == ["refused", None]
    world.check()


def test_a_send_that_moved_money_is_replayed_not_run_again(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    assert "Confirmed" in same_mo(world, ALICE, "SEND 0712000002 100 1234")
    world.advance(10)
    assert "already" in same_mo(world, ALICE, "SEND 0712000002 100 1234")
    world.receipts()
    world.settle()
    assert world.balance(BOB) == 100 * KES
    world.check()
