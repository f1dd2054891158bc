"""Hot-path behaviour found by benchmarks/e2e.py: batching that adapts to load."""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from daemon.config import InboxConfig
from daemon.lis import InboxWriter
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus as S


class HeldDatabase:
    """run_interaction answers only when the test says so: a write in progress on the DB thread."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def run_interaction(self, desc: str, fn, *args) -> Deferred:  # type: ignore[no-untyped-def]
        answer: Deferred = Deferred()
        self.calls.append((desc, args, answer))
        return answer


def mo(index: int) -> DeliverSm:
    return DeliverSm(
        source_addr=f"2547120{index:05d}", destination_addr="12345", short_message=b"PING"
    )


def test_inbox_writes_one_batch_at_a_time_and_the_next_carries_what_came_meanwhile():
    clock, db = Clock(), HeldDatabase()
    writer = InboxWriter(
        clock, db, InboxConfig(group_commit_max_wait_ms=5), dedupe_secret=b"k" * 32
    )
    first = [writer.accept("sim", mo(i)) for i in range(3)]
    clock.advance(0.005)
    assert len(db.calls) == 1
    later = [writer.accept("sim", mo(i)) for i in range(3, 8)]
    clock.advance(1.0)
    assert len(db.calls) == 1, "a second commit must not queue behind the one in progress"
    answered = []
    for d in first + later:
        d.addCallback(answered.append)
    db.calls[0][2].callback(3)
    assert answered == [S.ESME_ROK] * 3
    assert len(db.calls) == 2 and len(db.calls[1][1][0]) == 5  # the five MOs, written at once
    db.calls[1][2].callback(5)
    assert answered == [S.ESME_ROK] * 8


def test_inbox_flush_fires_when_everything_accepted_is_committed():
    clock, db = Clock(), HeldDatabase()
    writer = InboxWriter(clock, db, InboxConfig(), dedupe_secret=b"k" * 32)
    writer.accept("sim", mo(1))
    writer.flush()
    writer.accept("sim", mo(2))
    idle = writer.flush()
    fired = []
    idle.addCallback(fired.append)
    db.calls[0][2].callback(1)
    assert fired == [] and len(db.calls) == 2
    db.calls[1][2].callback(1)
    assert fired == [None]
    assert writer.flush() is None


class OneBindPool:
    class Bind:
        name = "sim"

    def transmitters(self) -> list:
        return [self.Bind()]


def test_sender_claims_again_at_once_when_woken_during_a_claim():
    from daemon.config import SenderConfig
    from daemon.sender import Sender

    clock, db = Clock(), HeldDatabase()
    sender = Sender(clock, db, OneBindPool(), {}, SenderConfig(poll_interval_s=0.2))
    sender.start()
    clock.advance(0)
    assert [call[0] for call in db.calls] == ["sender.claim"]
    sender.wake()  # the TranProc committed replies while the claim's SELECT was running
    clock.advance(0)  # a reactor turn passes before the claim's answer comes back
    db.calls[0][2].callback([])
    clock.advance(0)
    assert [call[0] for call in db.calls] == ["sender.claim", "sender.claim"]


def test_sender_without_a_wake_waits_for_its_poll_interval():
    from daemon.config import SenderConfig
    from daemon.sender import Sender

    clock, db = Clock(), HeldDatabase()
    sender = Sender(clock, db, OneBindPool(), {}, SenderConfig(poll_interval_s=0.2))
    sender.start()
    clock.advance(0)
    db.calls[0][2].callback([])
    clock.advance(0.1)
    assert len(db.calls) == 1
    clock.advance(0.1)
    assert len(db.calls) == 2
