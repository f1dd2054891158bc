"""Push over SMS (daemon.channels.push): a device away past push_after_s with news gets ONE app
message sealed to it saying "pull <head>"; a device online, up to date, revoked or pushed lately
gets none."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from daemon.api.components import api_components
from daemon.channels.push import PUSH_BATCH, _claim_txn, parse_pull, pull_body, push_txn
from daemon.device.state import DeviceState
from daemon.schema import devices
from daemon.schema_api import channel_positions
from daemon.security import channel
from daemon.security.app_key import server_key
from daemon.security.channel import WrongKey
from daemon.security.devices import DeviceState as Stored
from daemon.security.devices import create_device_txn
from tests.api.channels_live import add_channel, add_events, add_position, position
from tests.api.world import ApiWorld

ALICE, BOB = "254712000001", "254712000002"
AFTER_S, MIN_INTERVAL_S = 60.0, 600.0


@pytest.fixture
def world(engine, tmp_path):
    world = ApiWorld(
        engine,
        app={"key_file": str(tmp_path / "app_key")},
        channels={"push_after_s": AFTER_S, "push_min_interval_s": MIN_INTERVAL_S},
    )
    world.alice = add_channel(world, ALICE, "R-ALICE")
    world.bob = add_channel(world, BOB, "R-BOB")
    return world


def device(world: ApiWorld, msisdn: str, channel_id: int, acked_seq: int = 0) -> DeviceState:
    """An enrolled device with its position in the channel (just seen)."""
    phone = DeviceState.new(msisdn)
    with world.engine.begin() as conn:
        stored = create_device_txn(
            conn, msisdn, phone.channel_key.public_key().public_bytes_raw(), None, Stored.ACTIVE,
            world.now_ns,
        )  # fmt: skip
    phone.device_id, phone.server_public = stored.device_id, server_key(world.config).public_bytes
    add_position(world, channel_id, stored.device_id, acked_seq)
    return phone


def push(world: ApiWorld) -> list[str]:
    """One run of the job; the texts it queued, in order."""
    before = len(world.outbox())
    with world.engine.begin() as conn:
        push_txn(conn, world.config, world.now_ns)
    return [sms.text for sms in world.outbox()[before:]]


def test_a_device_away_with_news_is_pushed_once_and_only_it_can_read_it(world) -> None:
    away = device(world, ALICE, world.alice)
    other = device(world, ALICE, world.alice)
    with world.engine.begin() as conn:  # the other one pulled just now
        conn.execute(update(channel_positions).where(
            channel_positions.c.device_id == other.device_id).values(
            last_seen_at_ns=world.now_ns + int(AFTER_S * 1e9)))  # fmt: skip
    add_events(world, world.alice, 3)
    world.advance(AFTER_S)
    [sms] = push(world)
    assert channel.is_text_frame(sms) and len(sms) <= 160
    opened = away.open_reply(sms)
    assert opened.kind is channel.Kind.TEXT and parse_pull(opened.text) == 3
    with pytest.raises(WrongKey):
        other.open_reply(sms)
    assert [sms.to for sms in world.outbox()] == [ALICE]
    assert position(world, away.device_id).pushed_at_ns == world.now_ns
    assert push(world) == []  # once
    world.advance(MIN_INTERVAL_S)
    [later] = push(world)  # the other device is away too now; no second SMS to the first one
    assert parse_pull(other.open_reply(later).text) == 3
    with pytest.raises(WrongKey):
        away.open_reply(later)
    world.advance(MIN_INTERVAL_S)
    assert push(world) == []  # no news since the pushes: no second SMS for the same events


def test_a_device_seen_within_push_after_s_is_not_pushed(world) -> None:
    device(world, ALICE, world.alice)
    add_events(world, world.alice, 1)
    world.advance(AFTER_S - 1)
    assert push(world) == []
    world.advance(1)
    assert len(push(world)) == 1


def test_a_device_up_to_date_or_revoked_is_not_pushed(world) -> None:
    add_events(world, world.alice, 2)
    device(world, ALICE, world.alice, acked_seq=2)
    revoked = device(world, BOB, world.bob)
    add_events(world, world.bob, 1)
    with world.engine.begin() as conn:
        conn.execute(update(devices).where(devices.c.device_id == revoked.device_id)
                     .values(state=Stored.REVOKED))  # fmt: skip
    world.advance(AFTER_S * 10)
    assert push(world) == []


def test_news_after_a_push_waits_for_push_min_interval_s(world) -> None:
    phone = device(world, ALICE, world.alice)
    add_events(world, world.alice, 1)
    world.advance(AFTER_S)
    [first] = push(world)
    world.advance(1)
    add_events(world, world.alice, 1)
    world.advance(MIN_INTERVAL_S - 2)
    assert push(world) == []
    world.advance(1)
    [second] = push(world)
    assert [parse_pull(phone.open_reply(text).text) for text in (first, second)] == [1, 2]


def test_a_push_is_claimed_once_even_by_two_processes(world) -> None:
    phone = device(world, ALICE, world.alice)
    with world.engine.begin() as conn:
        assert _claim_txn(conn, world.config, phone.device_id, world.now_ns)
        assert not _claim_txn(conn, world.config, phone.device_id, world.now_ns)


def test_a_run_is_bounded_and_says_when_more_wait(world) -> None:
    add_events(world, world.alice, 1)
    with world.engine.begin() as conn:
        for index in range(PUSH_BATCH + 1):
            add_position_rows(conn, world, index)
    world.advance(AFTER_S)
    with world.engine.begin() as conn:
        counts, full = push_txn(conn, world.config, world.now_ns)
    assert counts == {"pushed": PUSH_BATCH} and full
    with world.engine.begin() as conn:
        counts, full = push_txn(conn, world.config, world.now_ns)
    assert counts == {"pushed": 1} and not full


def add_position_rows(conn, world: ApiWorld, index: int) -> None:
    key = DeviceState.new(ALICE).channel_key.public_key().public_bytes_raw()
    stored = create_device_txn(conn, ALICE, key, None, Stored.ACTIVE, world.now_ns)
    conn.execute(channel_positions.insert().values(
        device_id=stored.device_id, channel_id=world.alice, acked_seq=0,
        last_seen_at_ns=world.now_ns))  # fmt: skip


def test_the_pull_text_is_read_back_and_nothing_else_is_a_pull() -> None:
    assert parse_pull(pull_body(42).decode()) == 42
    assert parse_pull("pull") is None and parse_pull("Confirmed. pull 3") is None


def test_the_push_job_runs_where_the_tranproc_does_and_the_hub_where_the_api_listens(
    world,
) -> None:
    names = {role: {c.name for c in api_components(world.api, role)} for role in
             ("all", "tranproc", "lis")}  # fmt: skip
    assert {"channel_push", "channel_streams"} <= names["all"]
    assert "channel_push" in names["tranproc"] and "channel_streams" not in names["tranproc"]
    assert "channel_streams" in names["lis"] and "channel_push" not in names["lis"]
