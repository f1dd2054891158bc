"""Helpers of the live channel tests (streams, long polls, push): a reactor that is the World's own
clock (so the hub's timers run when the World's time is advanced), events written as the daemon
writes them (`notices`) or straight into the tables (`add_events`: opaque, for the push tests),
and the SSE frames a stream wrote."""

from __future__ import annotations

import json
import os

from sqlalchemy import insert, select, update
from twisted.internet.task import Clock
from twisted.web.server import Request

from daemon.channels.events import get_channel_txn, write_event_txn
from daemon.channels.hub import SERVICE_KEY, StreamHub
from daemon.schema_api import channel_events, channel_positions, channels
from tests.api.world import ApiWorld, written
from tests.daemon.money_world import NS


class WorldReactor(Clock):
    """A task.Clock whose time is the World's: `advance` moves both and runs what is due."""

    def __init__(self, world: ApiWorld) -> None:
        super().__init__()
        self.world = world

    def seconds(self) -> float:
        return self.world.now_ns / NS

    def advance(self, amount: float) -> None:
        self.world.advance(amount)
        super().advance(0)


def live_world(world: ApiWorld) -> tuple[WorldReactor, StreamHub]:
    """The world's API on a reactor of its own time, and its hub (made now, as the daemon does)."""
    reactor = WorldReactor(world)
    world.api.reactor = reactor
    hub = world.api.services[SERVICE_KEY] = StreamHub(world.api)
    hub.start()
    return reactor, hub


def add_channel(world: ApiWorld, msisdn: str, reference: str) -> int:
    with world.engine.begin() as conn:
        return conn.execute(
            insert(channels)
            .values(msisdn=msisdn, reference=reference, next_seq=1, key_epoch=1,
                    created_at_ns=world.now_ns)
            .returning(channels.c.id)
        ).scalar_one()  # fmt: skip


def add_position(world: ApiWorld, channel_id: int, device_id: str, acked_seq: int = 0) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            insert(channel_positions).values(
                device_id=device_id, channel_id=channel_id, acked_seq=acked_seq,
                last_seen_at_ns=world.now_ns,
            )
        )  # fmt: skip


def position(world: ApiWorld, device_id: str):
    with world.engine.connect() as conn:
        query = select(channel_positions).where(channel_positions.c.device_id == device_id)
        return conn.execute(query).one()


def add_events(world: ApiWorld, channel_id: int, count: int = 1) -> list[int]:
    """`count` events committed on the channel (opaque ciphertext), numbered as the writer does."""
    seqs = []
    with world.engine.begin() as conn:
        for _ in range(count):
            seq = conn.execute(
                update(channels).where(channels.c.id == channel_id)
                .values(next_seq=channels.c.next_seq + 1).returning(channels.c.next_seq)
            ).scalar_one() - 1  # fmt: skip
            conn.execute(
                insert(channel_events).values(
                    channel_id=channel_id, seq=seq, key_epoch=1, ciphertext=os.urandom(40),
                    created_at_ns=world.now_ns,
                )
            )  # fmt: skip
            seqs.append(seq)
    return seqs


def sse_frames(request: Request) -> list[dict[str, str]]:
    """Each SSE frame written so far: {"id", "data"} of an event, {"comment"} of a comment."""
    frames = []
    for block in written(request).decode().split("\n\n"):
        if not block:
            continue
        frame: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            frame[name or "comment"] = value.strip()
        frames.append(frame)
    return frames


def event_seqs(request: Request) -> list[int]:
    seqs = []
    for frame in sse_frames(request):
        if "data" in frame:
            assert int(frame["id"]) == json.loads(frame["data"])["seq"]
            seqs.append(int(frame["id"]))
    return seqs


def notices(world: ApiWorld, msisdn: str, count: int = 1) -> list[int]:
    """`count` global notices on the number's channel, each committed on its own; their seqs."""
    seqs = []
    for index in range(count):
        with world.engine.begin() as conn:
            event = {"type": "notice", "topic": "global", "text": f"notice {index}"}
            seq = write_event_txn(conn, msisdn, event, world.now_ns)
        assert seq is not None
        seqs.append(seq)
    return seqs


def channel_of(world: ApiWorld, msisdn: str):
    with world.engine.connect() as conn:
        found = get_channel_txn(conn, msisdn)
    assert found is not None
    return found
