"""The channel operations: a token for a device (signed request, or refresh), a page of events, the
balance and recent postings for reconciling the app's copy. The live stream and the SMS push are
daemon.channels.stream and daemon.channels.push.

Long poll: GET /channels/me/events?wait_s= on an empty page waits through the hook channels-live
sets with `set_long_poll(waiter)`: waiter(call, principal, after_seq, wait_s) returns a Deferred
that fires (with anything) once the channel has an event after `after_seq` or the wait is over; the
page is then read again. Without a hook wait_s is ignored."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed

from daemon.api.lifecycle import NS_PER_DAY
from daemon.api.models import ErrorObject
from daemon.api.routing import ROUTER, Call, Reply
from daemon.channels import auth  # noqa: F401  (registers the "channel" authenticator)
from daemon.channels.auth import unauthorised
from daemon.channels.events import channel_by_reference_txn
from daemon.channels.grant import TokenRefused, answer_for, env_channel_secrets, grant_txn
from daemon.channels.models import (
    ChannelBalance,
    ChannelStatement,
    EventsPage,
    EventsQuery,
    StatementQuery,
    TokenAnswer,
    TokenRequest,
)
from daemon.channels.principal import ChannelPrincipal
from daemon.channels.reads import balance_txn, page_txn, statement_txn
from daemon.clock import NS_PER_S
from daemon.security.devices import get_device_txn

TAG = "Channels"
LongPoll = Callable[[Call, ChannelPrincipal, int, float], Deferred]
_LONG_POLL: list[LongPoll] = []


def set_long_poll(waiter: LongPoll | None) -> None:
    """channels-live's hook (None: no long poll)."""
    _LONG_POLL[:] = [waiter] if waiter is not None else []


def _lifetime_s(call: Call) -> float:
    return call.env.config.channels.token_days * NS_PER_DAY / NS_PER_S


@ROUTER.op(
    "POST",
    "/channels/token",
    "channelsTokenPOST",
    summary="A channel token for an enrolled device (a request signed with its Ed25519 key)",
    tag=TAG,
    body=TokenRequest,
    responses={200: TokenAnswer, 401: ErrorObject},
)
def token(call: Call) -> Deferred:
    secrets = env_channel_secrets(call.env)

    def granted(conn) -> TokenAnswer:
        try:
            return grant_txn(conn, secrets, call.body, call.env.now_ns(), _lifetime_s(call))
        except TokenRefused as refused:
            raise unauthorised(str(refused)) from None

    return call.env.db.run_interaction("channels.token", granted).addCallback(
        lambda answer: Reply(200, answer)
    )


@ROUTER.op(
    "POST",
    "/channels/me/token",
    "channelsTokenRefreshPOST",
    summary="A fresh token (and the event keys) for the device of a valid token, until "
    "[channels] grant_days after the device last signed a token request",
    tag=TAG,
    responses={200: TokenAnswer},
    auth="channel",
)
def refresh(call: Call) -> Deferred:
    secrets = env_channel_secrets(call.env)
    principal: ChannelPrincipal = call.principal
    now_ns = call.env.now_ns()
    grant_days = call.env.config.channels.grant_days
    left_s = (principal.granted_at_ns + int(grant_days * NS_PER_DAY) - now_ns) / NS_PER_S
    if left_s < 1:
        raise unauthorised(f"the device signed for this token over {grant_days:g} days ago: "
                           "ask with a signed request (POST /channels/token)")  # fmt: skip

    def refreshed(conn) -> TokenAnswer:
        channel = channel_by_reference_txn(conn, principal.reference)
        device = get_device_txn(conn, principal.device_id)
        assert channel is not None and device is not None  # the authenticator just read them
        lifetime_s = min(_lifetime_s(call), left_s)
        return answer_for(secrets, channel, device, now_ns, lifetime_s, principal.granted_at_ns)

    return call.env.db.run_interaction("channels.refresh", refreshed).addCallback(
        lambda answer: Reply(200, answer)
    )


@ROUTER.op(
    "GET",
    "/channels/me/events",
    "channelsEventsGET",
    summary="The channel's events after a seq, oldest first (records the device's position)",
    tag=TAG,
    query=EventsQuery,
    responses={200: EventsPage},
    auth="channel",
)
def events(call: Call) -> Deferred:
    query: EventsQuery = call.query
    size = call.env.config.channels.page_size
    limit = min(query.limit or size, size)

    def read(_: object = None) -> Deferred:
        now_ns = call.env.now_ns()
        return call.env.db.run_interaction(
            "channels.events", page_txn, call.principal, query.after, limit, now_ns
        )

    def maybe_wait(page: EventsPage) -> Deferred:
        if page.events or not query.wait_s or not _LONG_POLL:
            return succeed(page)
        wait_s = min(query.wait_s, call.env.config.channels.long_poll_max_s)
        return _LONG_POLL[0](call, call.principal, query.after, wait_s).addCallback(read)

    return read().addCallback(maybe_wait).addCallback(lambda page: Reply(200, page))


@ROUTER.op(
    "GET",
    "/channels/me/balance",
    "channelsBalanceGET",
    summary="The wallet's balance from the ledger and the channel's head seq it includes",
    tag=TAG,
    responses={200: ChannelBalance},
    auth="channel",
)
def balance(call: Call) -> Deferred:
    currency = call.env.config.service.currency
    return call.env.db.run_interaction(
        "channels.balance", balance_txn, call.principal, currency
    ).addCallback(lambda answer: Reply(200, answer))


@ROUTER.op(
    "GET",
    "/channels/me/statement",
    "channelsStatementGET",
    summary="The wallet's latest posted or pending moves, newest first, from the ledger",
    tag=TAG,
    query=StatementQuery,
    responses={200: ChannelStatement},
    auth="channel",
)
def statement(call: Call) -> Deferred:
    currency = call.env.config.service.currency
    return call.env.db.run_interaction(
        "channels.statement", statement_txn, call.principal, currency, call.query.limit
    ).addCallback(lambda answer: Reply(200, answer))
