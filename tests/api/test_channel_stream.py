"""GET /channels/me/stream (server-sent events) and GET /channels/me/events/wait (long poll), in
process: the hub driven by the World's clock, events written straight into the tables."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from tests.api.channel_tokens import bearer, channel_auth  # noqa: F401  (fixture)
from tests.api.channels_live import (
    add_channel,
    add_events,
    add_position,
    event_seqs,
    live_world,
    position,
    sse_frames,
)
from tests.api.world import ApiWorld, answer_of
from tests.daemon.money_world import NS

ALICE, BOB = "254712000001", "254712000002"
DEVICE_A, DEVICE_B, DEVICE_C = "a1" * 8, "b2" * 8, "c3" * 8


@pytest.fixture
def world(engine, channel_auth):  # noqa: F811
    world = ApiWorld(engine, channels={"stream_poll_s": 0.5, "stream_keepalive_s": 15.0,
                                       "max_streams": 3, "long_poll_max_s": 30.0})  # fmt: skip
    world.reactor, world.hub = live_world(world)
    world.alice = add_channel(world, ALICE, "R-ALICE")
    world.bob = add_channel(world, BOB, "R-BOB")
    add_position(world, world.alice, DEVICE_A)
    add_position(world, world.alice, DEVICE_B)
    add_position(world, world.bob, DEVICE_C)
    return world


def stream(world: ApiWorld, channel_id: int, device: str, path: str = "", **headers: str):
    auth = bearer(world, channel_id, device)
    return world.request("GET", f"/channels/me/stream{path}", headers={**auth, **headers})


def gone(request) -> None:
    request.connectionLost(Failure(ConnectionDone()))


def test_a_stream_sends_the_events_after_the_given_seq_then_each_new_one_once_in_order(
    world,
) -> None:
    add_events(world, world.alice, 3)
    request = stream(world, world.alice, DEVICE_A, "?after=1")
    assert request.code == 200 and not request.finished
    assert request.responseHeaders.getRawHeaders("content-type")[0].startswith("text/event-stream")
    assert event_seqs(request) == [2, 3]
    add_events(world, world.alice, 2)
    assert event_seqs(request) == [2, 3]  # not before the next poll
    world.reactor.advance(0.5)
    assert event_seqs(request) == [2, 3, 4, 5]
    world.reactor.advance(0.5)
    world.reactor.advance(0.5)
    assert event_seqs(request) == [2, 3, 4, 5]  # nothing twice
    frame = next(f for f in sse_frames(request) if "data" in f)
    assert set(json.loads(frame["data"])) == {"seq", "keyEpoch", "ciphertext", "createdAt"}


def test_last_event_id_resumes_after_it_and_wins_over_after(world) -> None:
    add_events(world, world.alice, 4)
    request = stream(world, world.alice, DEVICE_A, "?after=0", **{"Last-Event-ID": "3"})
    assert event_seqs(request) == [4]


def test_a_malformed_last_event_id_is_a_validation_error(world) -> None:
    auth = bearer(world, world.alice, DEVICE_A)
    answer = world.http("GET", "/channels/me/stream", headers={**auth, "Last-Event-ID": "x1"})
    assert answer.status == 400 and answer.body["errorCode"] == "formatError"
    assert world.hub.open_count == 0


def test_another_channels_events_never_reach_a_stream(world) -> None:
    alice = stream(world, world.alice, DEVICE_A)
    bob = stream(world, world.bob, DEVICE_C)
    add_events(world, world.bob, 2)
    world.reactor.advance(0.5)
    assert event_seqs(alice) == [] and event_seqs(bob) == [1, 2]


def test_two_devices_of_one_channel_each_get_every_event_from_their_own_point(world) -> None:
    add_events(world, world.alice, 2)
    first = stream(world, world.alice, DEVICE_A, "?after=2")
    second = stream(world, world.alice, DEVICE_B)
    add_events(world, world.alice, 1)
    world.reactor.advance(0.5)
    assert event_seqs(first) == [3] and event_seqs(second) == [1, 2, 3]


def test_a_quiet_stream_gets_a_keepalive_comment(world) -> None:
    request = stream(world, world.alice, DEVICE_A)
    comments = lambda: [f for f in sse_frames(request) if "comment" in f]  # noqa: E731
    assert len(comments()) == 1  # the opening one
    for _ in range(29):
        world.reactor.advance(0.5)
    assert len(comments()) == 1  # 14.5 s: not yet
    world.reactor.advance(0.5)
    assert [f["comment"] for f in comments()] == ["stream open", "keepalive"]


def test_one_poll_reads_every_open_channels_head_and_only_moved_channels_events(world) -> None:
    stream(world, world.alice, DEVICE_A)
    stream(world, world.bob, DEVICE_C)
    add_events(world, world.bob, 1)
    statements: list[str] = []
    event.listen(world.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    polls_before = world.db.calls.count("channels.poll")
    world.reactor.advance(0.5)
    assert world.db.calls.count("channels.poll") == polls_before + 1
    heads = [s for s in statements if "next_seq" in s and "FROM channels" in s]
    reads = [s for s in statements if "FROM channel_events" in s]
    assert len(heads) == 1 and len(reads) == 1


def test_beyond_max_streams_a_stream_is_refused_with_503_until_one_closes(world) -> None:
    opened = [stream(world, world.alice, DEVICE_A) for _ in range(3)]
    auth = bearer(world, world.alice, DEVICE_A)
    refused = world.http("GET", "/channels/me/stream", headers=auth)
    assert refused.status == 503 and refused.body["errorCategory"] == "serviceUnavailable"
    assert "retry-after" in refused.headers
    gone(opened[0])
    assert world.hub.open_count == 2
    assert not stream(world, world.alice, DEVICE_A).finished


def test_a_client_that_goes_is_forgotten_and_nothing_more_is_written(world) -> None:
    request = stream(world, world.alice, DEVICE_A)
    gone(request)
    assert world.hub.open_count == 0
    add_events(world, world.alice, 1)
    world.reactor.advance(0.5)
    assert event_seqs(request) == []
    assert world.reactor.getDelayedCalls() == []  # nobody listens: the hub stops polling


def test_stopping_the_hub_ends_every_stream_cleanly(world) -> None:
    add_events(world, world.alice, 1)
    requests = [stream(world, world.alice, DEVICE_A), stream(world, world.bob, DEVICE_C)]
    stopped = world.hub.stop()
    assert stopped.called
    assert all(request.finished for request in requests)
    assert world.hub.open_count == 0 and world.reactor.getDelayedCalls() == []
    ended = answer_of(requests[0])
    assert ended.status == 200 and event_seqs(requests[0]) == [1]
    # openapi-core reads a media type it has no deserializer for as bytes: given as text here
    world.conformance().check("GET", "/channels/me/stream", 200, ended.headers, ended.raw.decode())
    refused = world.http("GET", "/channels/me/stream", headers=bearer(world, world.bob, DEVICE_C))
    assert refused.status == 503


def test_a_streaming_device_is_recorded_as_online_with_what_it_was_sent(world) -> None:
    stream(world, world.alice, DEVICE_A)
    add_events(world, world.alice, 2)
    opened_at = world.now_ns
    world.reactor.advance(0.5)  # sent
    world.reactor.advance(0.5)  # recorded by the next poll
    found = position(world, DEVICE_A)
    assert found.acked_seq == 2 and found.last_seen_at_ns > opened_at
    for _ in range(40):  # 20 s, nothing new: seen again once a keepalive passed
        world.reactor.advance(0.5)
    assert position(world, DEVICE_A).last_seen_at_ns >= opened_at + 15 * NS
    assert position(world, DEVICE_B).last_seen_at_ns == opened_at  # not streaming


# --- long poll


def wait(world: ApiWorld, channel_id: int, device: str, query: str):
    auth = bearer(world, channel_id, device)
    return world.request("GET", f"/channels/me/events/wait?{query}", headers=auth)


def test_a_long_poll_with_events_waiting_answers_at_once(world) -> None:
    add_events(world, world.alice, 3)
    answer = world.http(
        "GET", "/channels/me/events/wait?after=1", headers=bearer(world, world.alice, DEVICE_A)
    )
    assert answer.status == 200 and [e["seq"] for e in answer.body["events"]] == [2, 3]
    assert position(world, DEVICE_A).acked_seq == 3


def test_a_long_poll_answers_at_the_first_event_written(world) -> None:
    request = wait(world, world.alice, DEVICE_A, "after=0&wait_s=20")
    world.reactor.advance(5)
    assert not request.finished
    add_events(world, world.alice, 1)
    world.reactor.advance(0.5)
    assert request.finished
    answer = answer_of(request)
    world.conformance().check("GET", "/channels/me/events/wait", 200, answer.headers, answer.raw)
    assert [e["seq"] for e in answer.body["events"]] == [1]
    assert world.hub.open_count == 0


def test_a_long_poll_with_nothing_new_answers_empty_after_wait_s_capped(world) -> None:
    short = wait(world, world.alice, DEVICE_A, "after=0&wait_s=2")
    long = wait(world, world.bob, DEVICE_C, "after=0&wait_s=999")
    world.reactor.advance(2)
    assert short.finished and answer_of(short).body == {"events": []}
    world.reactor.advance(27.5)
    assert not long.finished
    world.reactor.advance(0.5)  # long_poll_max_s
    assert long.finished and answer_of(long).body == {"events": []}
    assert world.hub.open_count == 0 and world.reactor.getDelayedCalls() == []


def test_long_polls_count_against_max_streams(world) -> None:
    for _ in range(3):
        wait(world, world.alice, DEVICE_A, "after=0&wait_s=10")
    refused = world.http(
        "GET", "/channels/me/events/wait?after=0", headers=bearer(world, world.alice, DEVICE_A)
    )
    assert refused.status == 503
