"""One flooding bind cannot starve the others in the inbox writer: each bind has its share of
inbox.max_waiting, and a group commit takes the waiting MOs round-robin across binds (found by the
hostile SMSC's deliver_sm flood, tests/e2e/test_hostile_smsc.py)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from twisted.internet.task import Clock

from daemon.config import InboxConfig
from daemon.inbox_queue import WaitingQueue
from daemon.lis import InboxWriter
from daemon.schema import inbox
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus as S


def mo(number: int) -> DeliverSm:
    return DeliverSm(
        source_addr=f"2547120{number:05d}", destination_addr="12345", short_message=b"PING"
    )


class HeldDatabase:
    """A database whose writes wait until the test lets them through (a slow disk)."""

    def __init__(self, db) -> None:
        self.db = db
        self.held: list = []

    def run_interaction(self, desc, fn, *args):
        from twisted.internet.defer import Deferred

        done: Deferred = Deferred()
        self.held.append((done, fn, args))
        return done

    def release_one(self) -> list:
        done, fn, args = self.held.pop(0)
        with self.db.engine.begin() as conn:
            result = fn(conn, *args)
        done.callback(result)
        return args[0]  # the MOs of that write


def test_a_flooding_bind_is_refused_at_its_share_and_the_other_still_gets_in(db):
    clock = Clock()
    writer = InboxWriter(clock, HeldDatabase(db), InboxConfig(), max_waiting=10)
    writer.accept("quiet", mo(0))  # seen: two binds share the bound, five each
    answers = [writer.accept("flood", mo(n)) for n in range(1, 12)]
    refused = [d.result for d in answers if d.called]
    assert refused == [S.ESME_RTHROTTLED] * 6  # 5 of 11 taken
    assert not writer.accept("quiet", mo(20)).called  # room left for the quiet bind
    assert writer.counters["refused_queue_full"] == 6


def test_a_commit_takes_the_waiting_round_robin_across_binds(db):
    clock = Clock()
    held = HeldDatabase(db)
    writer = InboxWriter(
        clock, held, InboxConfig(group_commit_max_batch=4, group_commit_max_wait_ms=1000)
    )
    for n in range(4):
        writer.accept("flood", mo(n))  # a full batch: its write starts (and is held)
    for n in range(4, 12):
        writer.accept("flood", mo(n))
    quiet = writer.accept("quiet", mo(99))
    held.release_one()  # the first write ends; the next batch is taken now
    second = held.release_one()
    assert "quiet" in [m.bind_name for m in second]  # not behind the eight waiting floods
    assert quiet.result == S.ESME_ROK
    with db.engine.begin() as conn:
        binds = conn.execute(select(inbox.c.bind_name).order_by(inbox.c.id)).scalars().all()
    assert binds[:4] == ["flood"] * 4 and "quiet" in binds[4:8]


@given(
    arrivals=st.lists(st.sampled_from("abc"), max_size=60),
    limit=st.integers(1, 10),
)
def test_take_keeps_each_binds_order_and_loses_nothing(arrivals, limit):
    queue: WaitingQueue[tuple[str, int]] = WaitingQueue(1000)
    for index, bind in enumerate(arrivals):
        queue.append(bind, (bind, index))
    taken: list[tuple[str, int]] = []
    while len(queue):
        batch = queue.take(limit)
        assert 0 < len(batch) <= limit
        taken += batch
    assert sorted(taken, key=lambda item: item[1]) == [(b, i) for i, b in enumerate(arrivals)]
    for bind in "abc":
        mine = [index for name, index in taken if name == bind]
        assert mine == sorted(mine)


def test_a_batch_has_one_of_each_bind_before_a_second_of_any():
    queue: WaitingQueue[str] = WaitingQueue(100)
    for item in ["a1", "a2", "a3", "b1", "c1", "c2"]:
        queue.append(item[0], item)
    assert queue.take(4) == ["a1", "b1", "c1", "a2"]
    assert queue.take(4) == ["a3", "c2"]  # what is left, each bind in its order


def test_one_bind_alone_has_the_whole_bound():
    queue: WaitingQueue[int] = WaitingQueue(3)
    for n in range(3):
        assert not queue.full_for("only")
        queue.append("only", n)
    assert queue.full_for("only")


def test_max_waiting_must_be_positive():
    with pytest.raises(ValueError, match="max_waiting must be at least 1"):
        WaitingQueue(0)
