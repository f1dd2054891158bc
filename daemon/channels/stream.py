"""A device online gets its channel's events as they are written: GET /channels/me/stream (server-
sent events) or GET /channels/me/events/wait (a long poll), both fed by the process's stream hub
(daemon.channels.hub).

The stream starts after `Last-Event-ID` (what an EventSource sends when it reconnects) or
`?after=SEQ`, else after 0; each event goes as `id: <seq>` and `data: <event JSON>` (the same
object as a page of GET /channels/me/events), a comment every `stream_keepalive_s` keeps proxies
from closing it. The long poll answers at once when there are events after `after`, else at the
first one or after `wait_s` (at most `long_poll_max_s`) with an empty page.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import Connection, case, update
from twisted.internet.defer import Deferred

from daemon.api.components import api_component
from daemon.api.env import ApiEnv
from daemon.api.errors import validation_error
from daemon.api.models import Model
from daemon.api.routing import ROUTER, Call, Header, Reply
from daemon.channels.events import event_json, events_after_txn
from daemon.channels.hub import StreamHub, StreamListener, WaitListener, hub_of
from daemon.channels.principal import ChannelPrincipal
from daemon.schema_api import channel_positions

TAG = "Channels"
EVENT_STREAM = b"text/event-stream; charset=utf-8"


class ChannelEvent(Model):
    seq: int = Field(ge=1, description="The event's number in its channel: 1, 2, 3 ... no gaps")
    keyEpoch: int = Field(ge=1, description="Which of the channel's event keys sealed it")
    ciphertext: str = Field(description="base64: nonce (12) | ChaCha20-Poly1305 of the event")
    createdAt: str = Field(description="When its posting committed (UTC)")


class EventWaitPage(Model):
    events: list[ChannelEvent]


class StreamQuery(Model):
    after: int | None = Field(default=None, ge=0, description="Send the events after this seq")


class WaitQuery(Model):
    after: int = Field(default=0, ge=0, description="The last seq the device has")
    wait_s: float | None = Field(
        default=None, gt=0, description="How long to wait for one (capped at long_poll_max_s)"
    )


@api_component("all", "lis")
def stream_hub(env: ApiEnv) -> StreamHub | None:
    return hub_of(env) if env.config.channels.enabled else None


@ROUTER.op(
    "GET",
    "/channels/me/stream",
    "channelStreamGET",
    summary="The channel's events as they are written (server-sent events)",
    tag=TAG,
    query=StreamQuery,
    responses={200: None},
    auth="channel",
    headers=(Header("Last-Event-ID", "Resume after this seq (sent by an EventSource)"),),
    stream=True,
    description=(
        "text/event-stream: each event as `id: <seq>` and `data: <event JSON>`; comments keep "
        "the connection alive. 503 when the server has its maximum of open streams."
    ),
)
def channel_stream(call: Call) -> Deferred:
    hub = hub_of(call.env)
    hub.admit()
    after = _resume_point(call)
    request = call.request
    request.setResponseCode(200)
    request.setHeader(b"content-type", EVENT_STREAM)
    request.setHeader(b"cache-control", b"no-cache")
    request.setHeader(b"x-accel-buffering", b"no")  # a proxy must pass each event at once
    request.write(b": stream open\n\n")  # the status and headers go now
    done: Deferred = Deferred(lambda d: d.callback(None))  # cancelled: the client went
    hub.add(
        StreamListener(call.principal, after, done, request, call.env.reactor.seconds()),
        request.notifyFinish(),
    )
    return done


def _resume_point(call: Call) -> int:
    last_event_id = call.header("Last-Event-ID")
    if last_event_id is not None:
        text = last_event_id.strip()
        if not text.isascii() or not text.isdigit():
            raise validation_error("formatError", "Last-Event-ID", "Last-Event-ID: not a seq")
        return int(text)
    return call.query.after or 0


@ROUTER.op(
    "GET",
    "/channels/me/events/wait",
    "channelEventsWaitGET",
    summary="The events after a seq, waiting for the first one (long poll)",
    tag=TAG,
    query=WaitQuery,
    responses={200: EventWaitPage},
    auth="channel",
    description=(
        "At once when there are events after `after`; else at the first one written, or with "
        "no events after `wait_s` (at most long_poll_max_s)."
    ),
)
def channel_events_wait(call: Call) -> Deferred:
    principal: ChannelPrincipal = call.principal
    after = call.query.after
    first = _page(call, after)

    def waited(page: list[dict]) -> Any:
        if page:
            return page
        wait_s = min(call.query.wait_s or call.env.config.channels.long_poll_max_s,
                     call.env.config.channels.long_poll_max_s)  # fmt: skip
        news = wait_for_events(call, principal, after, wait_s)
        return news.addCallback(lambda came: _page(call, after) if came else [])

    return first.addCallback(waited).addCallback(lambda page: Reply(200, {"events": page}))


def wait_for_events(
    call: Call, principal: ChannelPrincipal, after_seq: int, wait_s: float
) -> Deferred:
    """The long poll's hook (also for GET /channels/me/events?wait_s=): fires True at the first
    event after `after_seq`, False after `wait_s`, when the client goes or the daemon stops.
    ApiError 503 when the hub is full."""
    hub = hub_of(call.env)
    hub.admit()
    done: Deferred = Deferred(lambda d: d.callback(False))
    waiter = WaitListener(principal, after_seq, done)
    waiter.timeout = call.env.reactor.callLater(wait_s, waiter.end)  # type: ignore[attr-defined]
    hub.add(waiter, call.request.notifyFinish())
    return done


def _page(call: Call, after: int) -> Deferred:
    principal: ChannelPrincipal = call.principal
    return call.env.db.run_interaction(
        "channels.wait_page", page_txn, principal, after,
        call.env.config.channels.page_size, call.env.now_ns(),
    )  # fmt: skip


def page_txn(
    conn: Connection, principal: ChannelPrincipal, after: int, limit: int, now_ns: int
) -> list[dict]:
    """A page of events after `after`; the device's position records the pull."""
    page = [event_json(stored) for stored in events_after_txn(conn, principal.channel_id, after,
                                                              limit)]  # fmt: skip
    highest = page[-1]["seq"] if page else after
    acked = channel_positions.c.acked_seq
    conn.execute(
        update(channel_positions)
        .where(channel_positions.c.device_id == principal.device_id)
        .values(acked_seq=case((acked < highest, highest), else_=acked), last_seen_at_ns=now_ns)
    )
    return page
