"""The settler posts every delivered confirmation's move in one ledger batch, and a move that cannot
be posted does not hold up the others: it is recorded on its confirmation and stays pending."""

import pytest
from sqlalchemy import select

import daemon.money.moves as moves_module
from daemon.chart import new_transfer_id
from daemon.money.moves import MoveState
from daemon.outbox import OutboxStatus
from daemon.schema import moves, outbox
from ledger import Transfer, TransferFlags, create_transfers
from tests.daemon.money_world import World

KES = 100
SENDERS = [f"25471200{n:04d}" for n in range(1, 6)]
RECIPIENTS = [f"25471300{n:04d}" for n in range(1, 6)]


@pytest.fixture
def world(engine):
    world = World(engine)
    for sender, recipient in zip(SENDERS, RECIPIENTS, strict=True):
        world.add(sender, balance_minor=5_000 * KES, name="Alice Atieno")
        world.add(recipient, name="Jane Wanjiku")
    yield world
    world.check()


def send_all(world):
    for n, (sender, recipient) in enumerate(zip(SENDERS, RECIPIENTS, strict=True)):
        world.mo(sender, f"SEND {recipient} {100 + n * 50} 1234")
    world.run_tranproc()


def move_states(world):
    with world.engine.begin() as conn:
        return [row.state for row in conn.execute(select(moves.c.state).order_by(moves.c.id))]


def ledger_batches(monkeypatch):
    calls = []
    real = moves_module.create_transfers

    def counting(conn, transfers, now_ns):
        calls.append(len(transfers))
        return real(conn, transfers, now_ns)

    monkeypatch.setattr(moves_module, "create_transfers", counting)
    return calls


def test_every_delivered_move_posts_in_one_ledger_batch_and_each_recipient_is_told_once(
    world, monkeypatch
):
    send_all(world)
    calls = ledger_batches(monkeypatch)
    world.receipts(OutboxStatus.DELIVERED)
    assert move_states(world) == [MoveState.POSTED] * len(SENDERS)
    assert len(calls) == 1, calls  # one batch for the five moves' post transfers
    for n, recipient in enumerate(RECIPIENTS):
        [received] = world.texts_to(recipient)
        assert f"You have received KES {100 + n * 50}.00" in received
    assert world.settle()["posted"] == 0  # nothing is posted twice


def test_a_move_the_ledger_refuses_is_recorded_and_the_others_still_post(world):
    send_all(world)
    with world.engine.begin() as conn:  # the third move's reservation voided behind our back
        base = conn.execute(select(moves.c.transfer_id_base).order_by(moves.c.id)).all()[2][0]
        void = Transfer(id=new_transfer_id(), pending_id=base, currency="KES",
                        flags=TransferFlags.VOID_PENDING, user_data="test")  # fmt: skip
        create_transfers(conn, [void], world.now_ns)
    world.receipts(OutboxStatus.DELIVERED)
    states = move_states(world)
    assert states[:2] + states[3:] == [MoveState.POSTED] * 4
    assert states[2] == MoveState.PENDING  # not posted, and not retried: it would fail again
    with world.engine.begin() as conn:
        notes = conn.execute(
            select(outbox.c.last_error).where(outbox.c.on_failure_done_at_ns.is_not(None))
        ).scalars()
        [failed] = [note for note in notes if note]
    assert failed.startswith("settle failed: move ") and "pending_transfer_already_voided" in failed
    assert [len(world.texts_to(recipient)) for recipient in RECIPIENTS] == [1, 1, 0, 1, 1]
