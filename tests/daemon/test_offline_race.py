"""Two deliveries of one offline transfer at the same moment, on PostgreSQL: it posts once and both
are answered with its result (daemon.security.offline_inbox)."""

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from daemon.commands.context import CommandContext
from daemon.device.offline import delivery_text
from daemon.schema import inbox
from daemon.security.offline_inbox import accept_offline_txn
from daemon.subscribers import get_subscriber_txn
from daemon.tranproc import process_batch_txn
from tests.daemon.app_world import app_world, enrol
from tests.daemon.money_world import HASHER, SHORT_CODE
from tests.daemon.offline_world import KES, move_count, offline_rows, signed
from tests.daemon.pg_locks import wait_until_blocked

ALICE, BOB = "254712000001", "254712000002"
BOUND_S = 30


def _world(pg_engine, tmp_path):
    world = app_world(pg_engine, tmp_path)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    return world


def test_two_tranprocs_delivering_it_at_once_post_it_once(pg_engine, tmp_path) -> None:
    world = _world(pg_engine, tmp_path)
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100)
    rows = [world.mo(ALICE, delivery_text(device, transfer)) for _ in range(2)]
    start = threading.Barrier(2)

    def tranproc() -> None:
        start.wait(BOUND_S)
        with pg_engine.begin() as conn:
            process_batch_txn(conn, world.env, world.now_ns, 1)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(tranproc) for _ in range(2)]:
            future.result(BOUND_S)
    with pg_engine.begin() as conn:
        statuses = [
            conn.execute(select(inbox.c.status).where(inbox.c.id == i)).scalar() for i in rows
        ]
    assert statuses == ["done", "done"]
    answers = [device.open_reply(m.text).text for i in rows for m in world.outbox(inbox_id=i)
               if m.to == ALICE]  # fmt: skip
    assert sorted("#O1:1:posted" in a for a in answers) == [True, True]
    assert sum("already" in a for a in answers) == 1
    world.receipts()
    assert world.balance(BOB) == 100 * KES and move_count(world) == 1
    world.check()


def _ctx(world, conn, inbox_id: int) -> CommandContext:
    payer = get_subscriber_txn(conn, ALICE)  # not locked: only the unique row orders the two
    assert payer is not None
    return CommandContext(
        conn=conn, now_ns=world.now_ns, config=world.config, registry=world.env.registry,
        sender=ALICE, subscriber=payer, role=payer.role, language="en", inbox_id=inbox_id,
        short_code=SHORT_CODE, bind_name="smsc1", hasher=HASHER,
    )  # fmt: skip


def test_the_loser_of_the_claim_rolls_back_and_answers_with_the_winner_s_result(
    pg_engine, tmp_path
) -> None:
    world = _world(pg_engine, tmp_path)
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100)
    first, second = (world.mo(ALICE, delivery_text(device, transfer)) for _ in range(2))
    text = base64.b64encode(transfer.encode()).decode()

    def loser() -> str:
        with pg_engine.begin() as conn:
            return accept_offline_txn(_ctx(world, conn, second), text).text

    with pg_engine.connect() as conn, ThreadPoolExecutor(1) as pool:
        winner = accept_offline_txn(_ctx(world, conn, first), text).text
        later = pool.submit(loser)
        wait_until_blocked(pg_engine)  # on the winner's uncommitted claim
        conn.commit()
        lost = later.result(BOUND_S)
    assert "#O1:1:posted" in winner and "already" not in winner
    assert "#O1:1:posted" in lost and "already" in lost
    [row] = offline_rows(world)
    assert row.reply in lost
    assert move_count(world) == 1
