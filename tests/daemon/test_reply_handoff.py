"""The TranProc claims the replies it writes for the in-process sender, in the same transaction."""

from sqlalchemy import select

from daemon.db import run_in_transaction
from daemon.outbox import OutboxStatus
from daemon.outbox.claims import claim_outbox_txn
from daemon.schema import outbox
from daemon.tranproc import process_batch_txn
from tests.daemon.test_tranproc import NOW, add_mo, env  # noqa: F401 (env is a fixture)


def outbox_states(engine):
    with engine.begin() as conn:
        query = select(outbox.c.status, outbox.c.claimed_at_ns, outbox.c.claimed_by)
        return conn.execute(query).all()


def run(engine, env, claim_replies):  # noqa: F811
    return run_in_transaction(engine, 0, "test", process_batch_txn, env, NOW, 200, claim_replies)


def test_replies_are_claimed_in_the_batch_transaction(engine, env):  # noqa: F811
    for n in range(3):
        add_mo(engine, "PING", source=f"25471200000{n}")
    result = run(engine, env, claim_replies=2)
    assert result.done == 3
    assert [sms.text for sms in result.replies_claimed] == ["PONG", "PONG"]
    states = sorted(outbox_states(engine), key=str)
    owner = env.config.lease_owner  # the process's, as the in-process sender's own claims record
    assert states == [
        (OutboxStatus.IN_FLIGHT, NOW, owner),
        (OutboxStatus.IN_FLIGHT, NOW, owner),
        (OutboxStatus.QUEUED, None, None),
    ]
    with engine.begin() as conn:  # the sender's own claim finds only what was left
        assert [sms.text for sms in claim_outbox_txn(conn, 10, NOW, owner)] == ["PONG"]


def test_without_room_nothing_is_claimed(engine, env):  # noqa: F811
    add_mo(engine, "PING")
    result = run(engine, env, claim_replies=0)
    assert result.done == 1 and result.replies_claimed == []
    assert outbox_states(engine) == [(OutboxStatus.QUEUED, None, None)]
