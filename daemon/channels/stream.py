"""A device online gets its channel's events as they are written: GET /channels/me/stream (server-
sent events) or GET /channels/me/events?wait_s= (a long poll: daemon.channels.routes calls
`wait_for_events` on an empty page), both fed by the process's stream hub (daemon.channels.hub).

The stream starts after `Last-Event-ID` (what an EventSource sends when it reconnects) or
`?after=SEQ`, else after 0; each event goes as `id: <seq>` and `data: <event JSON>` (the same
object as a page of GET /channels/me/events), a comment every `stream_keepalive_s` keeps proxies
from closing it. The long poll answers at once when there are events after `after`, else at the
first one or after `wait_s` (at most `long_poll_max_s`) with an empty page. Streams and long polls
together are bounded by `max_streams` (beyond: 503).
"""

from __future__ import annotations

from pydantic import Field
from twisted.internet.defer import Deferred

from daemon.api.components import api_component
from daemon.api.env import ApiEnv
from daemon.api.errors import validation_error
from daemon.api.models import Model
from daemon.api.routing import ROUTER, Call, Header
from daemon.channels.hub import StreamHub, StreamListener, WaitListener, hub_of
from daemon.channels.principal import ChannelPrincipal
from daemon.channels.routes import set_long_poll

TAG = "Channels"
EVENT_STREAM = b"text/event-stream; charset=utf-8"


class StreamQuery(Model):
    after: int | None = Field(default=None, ge=0, description="Send the events after this seq")


@api_component("all", "lis")
def stream_hub(env: ApiEnv) -> StreamHub | None:
    return hub_of(env) if env.config.channels.enabled else None


@ROUTER.op(
    "GET",
    "/channels/me/stream",
    "channelsStreamGET",
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


def wait_for_events(
    call: Call, principal: ChannelPrincipal, after_seq: int, wait_s: float
) -> Deferred:
    """The long poll's hook (daemon.channels.routes.set_long_poll): fires True at the first event
    after `after_seq`, False after `wait_s`, when the client goes or the daemon stops. ApiError 503
    when the hub is full."""
    hub = hub_of(call.env)
    hub.admit()
    done: Deferred = Deferred(lambda d: d.callback(False))
    waiter = WaitListener(principal, after_seq, done)
    waiter.timeout = call.env.reactor.callLater(wait_s, waiter.end)  # type: ignore[attr-defined]
    hub.add(waiter, call.request.notifyFinish())
    return done


set_long_poll(wait_for_events)
