"""GET /channels/me/stream (server-sent events) and the long poll (GET /channels/me/events?wait_s=,
through the hook daemon.channels.stream gives daemon.channels.routes), in process: devices enrolled
by SMS with real channel tokens, events written as the daemon writes them, the hub driven by the
World's clock."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import event, update
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from daemon.channels.crypto import open_event, parse_plaintext
from daemon.channels.events import bump_epoch_txn
from daemon.schema import devices
from tests.api.channels import ALICE, BOB, ChannelWorld, event_keys
from tests.api.channels_live import (
    channel_of,
    event_seqs,
    live_world,
    notices,
    position,
    sse_frames,
)
from tests.api.world import answer_of
from tests.daemon.money_world import NS

POLL_S, KEEPALIVE_S, LONG_POLL_MAX_S = 0.5, 15.0, 30.0


@pytest.fixture
def world(engine, tmp_path):
    world = ChannelWorld(
        engine, tmp_path, channels={"stream_poll_s": POLL_S, "stream_keepalive_s": KEEPALIVE_S,
                                    "max_streams": 3, "long_poll_max_s": LONG_POLL_MAX_S}
    )  # fmt: skip
    world.reactor, world.hub = live_world(world)
    world.add(ALICE)
    world.add(BOB)
    world.phone_a, world.phone_b, world.phone_c = (world.enrol(n) for n in (ALICE, ALICE, BOB))
    world.grants = {p.device_id: world.token(p) for p in (world.phone_a, world.phone_b,
                                                           world.phone_c)}  # fmt: skip
    world.a, world.b, world.c = (world.grants[p.device_id]["token"]
                                 for p in (world.phone_a, world.phone_b, world.phone_c))  # fmt: skip
    yield world
    world.close()


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def stream(world, token: str, query: str = "", **headers: str):
    return world.request("GET", f"/channels/me/stream{query}", headers=auth(token, **headers))


def gone(request) -> None:
    request.connectionLost(Failure(ConnectionDone()))


def test_a_stream_sends_the_events_after_the_given_seq_then_each_new_one_once_in_order(
    world,
) -> None:
    head = channel_of(world, ALICE).head_seq  # the enrolment notices
    first = notices(world, ALICE, 3)
    request = stream(world, world.a, f"?after={first[0]}")
    assert request.code == 200 and not request.finished
    content_type = request.responseHeaders.getRawHeaders("content-type")[0]
    assert content_type.startswith("text/event-stream")
    assert event_seqs(request) == first[1:]
    more = notices(world, ALICE, 2)
    assert event_seqs(request) == first[1:]  # not before the next poll
    world.reactor.advance(POLL_S)
    assert event_seqs(request) == first[1:] + more == list(range(head + 2, head + 6))
    world.reactor.advance(POLL_S)
    world.reactor.advance(POLL_S)
    assert event_seqs(request) == first[1:] + more  # nothing twice


def test_what_a_stream_sends_is_the_device_s_sealed_event(world) -> None:
    [seq] = notices(world, ALICE, 1)
    request = stream(world, world.a, f"?after={seq - 1}")
    [frame] = [f for f in sse_frames(request) if "data" in f]
    sent = json.loads(frame["data"])
    assert set(sent) == {"seq", "keyEpoch", "ciphertext", "createdAt"}
    grant = world.grants[world.phone_a.device_id]
    key = event_keys(world.phone_a, grant)[sent["keyEpoch"]]
    plain = open_event(key, grant["channel"], seq, base64.b64decode(sent["ciphertext"]))
    assert parse_plaintext(plain)["text"] == "notice 0"


def test_last_event_id_resumes_after_it_and_wins_over_after(world) -> None:
    seqs = notices(world, ALICE, 4)
    request = stream(world, world.a, "?after=0", **{"Last-Event-ID": str(seqs[2])})
    assert event_seqs(request) == seqs[3:]


def test_a_malformed_last_event_id_is_a_validation_error(world) -> None:
    answer = world.http(
        "GET", "/channels/me/stream", headers=auth(world.a, **{"Last-Event-ID": "x1"})
    )
    assert answer.status == 400 and answer.body["errorCode"] == "formatError"
    assert world.hub.open_count == 0


def test_a_stream_needs_a_valid_channel_token(world) -> None:
    answer = world.http("GET", "/channels/me/stream", headers=auth(world.a[:-2] + "xx"))
    assert answer.status == 401 and world.hub.open_count == 0


def test_another_channels_events_never_reach_a_stream(world) -> None:
    alice_head = channel_of(world, ALICE).head_seq
    alice = stream(world, world.a, f"?after={alice_head}")
    bob_head = channel_of(world, BOB).head_seq
    bob = stream(world, world.c, f"?after={bob_head}")
    seqs = notices(world, BOB, 2)
    world.reactor.advance(POLL_S)
    assert event_seqs(alice) == [] and event_seqs(bob) == seqs


def test_two_devices_of_one_channel_each_get_every_event_from_their_own_point(world) -> None:
    head = channel_of(world, ALICE).head_seq
    seqs = notices(world, ALICE, 2)
    first = stream(world, world.a, f"?after={seqs[-1]}")
    second = stream(world, world.b)
    [last] = notices(world, ALICE, 1)
    world.reactor.advance(POLL_S)
    assert event_seqs(first) == [last]
    assert event_seqs(second) == list(range(1, head + 1)) + seqs + [last]


def test_a_quiet_stream_gets_a_keepalive_comment(world) -> None:
    request = stream(world, world.a, f"?after={channel_of(world, ALICE).head_seq}")
    comments = lambda: [f["comment"] for f in sse_frames(request) if "comment" in f]  # noqa: E731
    assert comments() == ["stream open"]
    for _ in range(round(KEEPALIVE_S / POLL_S) - 1):
        world.reactor.advance(POLL_S)
    assert comments() == ["stream open"]  # 14.5 s: not yet
    world.reactor.advance(POLL_S)
    assert comments() == ["stream open", "keepalive"]


def test_one_poll_reads_every_open_channels_head_and_only_moved_channels_events(world) -> None:
    stream(world, world.a, f"?after={channel_of(world, ALICE).head_seq}")
    stream(world, world.c, f"?after={channel_of(world, BOB).head_seq}")
    notices(world, BOB, 1)
    statements: list[str] = []
    event.listen(world.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    polls_before = world.db.calls.count("channels.poll")
    world.reactor.advance(POLL_S)
    assert world.db.calls.count("channels.poll") == polls_before + 1
    heads = [s for s in statements if "next_seq" in s and "FROM channels" in s]
    reads = [s for s in statements if "FROM channel_events" in s]
    assert len(heads) == 1 and len(reads) == 1


def test_beyond_max_streams_a_stream_is_refused_with_503_until_one_closes(world) -> None:
    opened = [stream(world, world.a) for _ in range(3)]
    refused = world.http("GET", "/channels/me/stream", headers=auth(world.b))
    assert refused.status == 503 and refused.body["errorCategory"] == "serviceUnavailable"
    assert "retry-after" in refused.headers
    gone(opened[0])
    assert world.hub.open_count == 2
    assert not stream(world, world.b).finished


def test_a_client_that_goes_is_forgotten_and_nothing_more_is_written(world) -> None:
    request = stream(world, world.a, f"?after={channel_of(world, ALICE).head_seq}")
    gone(request)
    assert world.hub.open_count == 0
    notices(world, ALICE, 1)
    world.reactor.advance(POLL_S)
    assert event_seqs(request) == []
    assert world.reactor.getDelayedCalls() == []  # nobody listens: the hub stops polling


def test_stopping_the_hub_ends_every_stream_cleanly(world) -> None:
    [seq] = notices(world, ALICE, 1)
    requests = [stream(world, world.a, f"?after={seq - 1}"), stream(world, world.c)]
    stopped = world.hub.stop()
    assert stopped.called
    assert all(request.finished for request in requests)
    assert world.hub.open_count == 0 and world.reactor.getDelayedCalls() == []
    ended = answer_of(requests[0])
    assert ended.status == 200 and event_seqs(requests[0]) == [seq]
    # openapi-core reads a media type it has no deserializer for as bytes: given as text here
    world.conformance().check("GET", "/channels/me/stream", 200, ended.headers, ended.raw.decode())
    assert world.http("GET", "/channels/me/stream", headers=auth(world.c)).status == 503


def test_a_streaming_device_is_recorded_as_online_with_what_it_was_sent(world) -> None:
    stream(world, world.a, f"?after={channel_of(world, ALICE).head_seq}")
    seqs = notices(world, ALICE, 2)
    opened_at = world.now_ns
    world.reactor.advance(POLL_S)  # sent
    world.reactor.advance(POLL_S)  # recorded by the next poll
    found = position(world, world.phone_a.device_id)
    assert found.acked_seq == seqs[-1] and found.last_seen_at_ns > opened_at
    for _ in range(40):  # 20 s, nothing new: seen again once a keepalive passed
        world.reactor.advance(POLL_S)
    assert position(world, world.phone_a.device_id).last_seen_at_ns >= opened_at + 15 * NS
    assert position(world, world.phone_b.device_id).last_seen_at_ns < opened_at + NS


# --- long poll


def long_poll(world, token: str, query: str):
    return world.request("GET", f"/channels/me/events?{query}", headers=auth(token))


def test_a_long_poll_with_events_waiting_answers_at_once(world) -> None:
    seqs = notices(world, ALICE, 3)
    answer = world.http(
        "GET", f"/channels/me/events?after={seqs[0]}&wait_s=20", headers=auth(world.a)
    )
    assert answer.status == 200 and [e["seq"] for e in answer.body["events"]] == seqs[1:]
    assert world.hub.open_count == 0


def test_a_long_poll_answers_at_the_first_event_written(world) -> None:
    head = channel_of(world, ALICE).head_seq
    request = long_poll(world, world.a, f"after={head}&wait_s=20")
    world.reactor.advance(5)
    assert not request.finished and world.hub.open_count == 1
    [seq] = notices(world, ALICE, 1)
    world.reactor.advance(POLL_S)
    assert request.finished
    answer = answer_of(request)
    world.conformance().check("GET", "/channels/me/events", 200, answer.headers, answer.raw)
    assert [e["seq"] for e in answer.body["events"]] == [seq] and answer.body["head"] == seq
    assert world.hub.open_count == 0 and world.reactor.getDelayedCalls() == []


def test_a_long_poll_with_nothing_new_answers_empty_after_wait_s_capped(world) -> None:
    alice, bob = channel_of(world, ALICE).head_seq, channel_of(world, BOB).head_seq
    short = long_poll(world, world.a, f"after={alice}&wait_s=2")
    long = long_poll(world, world.c, f"after={bob}&wait_s=999")
    world.reactor.advance(2)
    assert short.finished and answer_of(short).body["events"] == []
    world.reactor.advance(LONG_POLL_MAX_S - 2.5)
    assert not long.finished
    world.reactor.advance(0.5)
    assert long.finished and answer_of(long).body["events"] == []
    assert world.hub.open_count == 0 and world.reactor.getDelayedCalls() == []


def test_a_long_poll_whose_client_goes_is_forgotten(world) -> None:
    request = long_poll(world, world.a, f"after={channel_of(world, ALICE).head_seq}&wait_s=20")
    gone(request)
    assert world.hub.open_count == 0


def test_long_polls_count_against_max_streams(world) -> None:
    head = channel_of(world, ALICE).head_seq
    for _ in range(3):
        long_poll(world, world.a, f"after={head}&wait_s=10")
    refused = world.http("GET", f"/channels/me/events?after={head}&wait_s=5", headers=auth(world.a))
    assert refused.status == 503


def test_a_new_key_epoch_ends_the_channels_streams_at_the_next_poll(world) -> None:
    alice = stream(world, world.a, f"?after={channel_of(world, ALICE).head_seq}")
    bob = stream(world, world.c, f"?after={channel_of(world, BOB).head_seq}")
    with world.engine.begin() as conn:
        bump_epoch_txn(conn, ALICE)  # as a revocation does
    world.reactor.advance(POLL_S)
    assert alice.finished and not bob.finished
    assert world.hub.counters["revoked"] == 1
    assert world.http("GET", "/channels/me/stream", headers=auth(world.a)).status == 401


def test_a_revoked_device_s_stream_ends_within_a_keepalive(world) -> None:
    request = stream(world, world.a, f"?after={channel_of(world, ALICE).head_seq}")
    with world.engine.begin() as conn:  # the device alone, the epoch unchanged
        conn.execute(update(devices).where(devices.c.device_id == world.phone_a.device_id)
                     .values(state="revoked"))  # fmt: skip
    world.reactor.advance(POLL_S)
    assert not request.finished
    for _ in range(round(KEEPALIVE_S / POLL_S)):
        world.reactor.advance(POLL_S)
    assert request.finished and world.hub.open_count == 0


def test_a_failed_poll_is_counted_and_what_it_would_have_recorded_waits_for_the_next(
    world, monkeypatch
) -> None:
    stream(world, world.a, f"?after={channel_of(world, ALICE).head_seq}")
    seqs = notices(world, ALICE, 1)
    world.reactor.advance(POLL_S)  # sent; recorded by the next poll
    real = world.db.run_interaction

    def down(desc, fn, *args):
        return real(desc, _raise) if desc == "channels.poll" else real(desc, fn, *args)

    monkeypatch.setattr(world.db, "run_interaction", down)
    world.reactor.advance(POLL_S)
    assert world.hub.counters["failures"] == 1 and "database away" in world.hub.last_error
    monkeypatch.setattr(world.db, "run_interaction", real)
    world.reactor.advance(POLL_S)
    assert position(world, world.phone_a.device_id).acked_seq == seqs[-1]


def _raise(conn):
    raise RuntimeError("database away")
