"""The "channel" authenticator: `Authorization: Bearer <channel token>`. The token must verify under
the token key and not be expired; its device must still be active and its subscriber's; its epoch
must be the channel's (a revocation bumps it: every device then asks for a new token and key).
Every refusal is the same 401 clientAuthorisationError, whose description says which check failed
(never a key, never the token)."""

from __future__ import annotations

from sqlalchemy import Connection
from twisted.internet.defer import Deferred

from daemon.api.errors import ApiError, ErrorCategory
from daemon.api.routing import ROUTER, Call
from daemon.channels.events import channel_by_reference_txn
from daemon.channels.grant import env_channel_secrets
from daemon.channels.principal import ChannelPrincipal
from daemon.channels.tokens import TokenClaims, TokenError, TokenExpired, verify_token
from daemon.security.devices import DeviceState, get_device_txn

_BEARER = "bearer "


def unauthorised(description: str) -> ApiError:
    return ApiError(
        ErrorCategory.AUTHORISATION,
        "clientAuthorisationError",
        description,
        headers={"WWW-Authenticate": 'Bearer realm="channels"'},
    )


@ROUTER.authenticator("channel")
def authenticate(call: Call) -> Deferred:
    written = call.header("Authorization") or ""
    if not written[: len(_BEARER)].lower() == _BEARER:
        raise unauthorised("no channel token (Authorization: Bearer)")
    secrets = env_channel_secrets(call.env)
    try:
        claims = verify_token(secrets.token_key, written[len(_BEARER) :].strip(), call.env.now_ns())
    except TokenExpired:
        raise unauthorised("the channel token has expired") from None
    except TokenError:
        raise unauthorised("not a valid channel token") from None
    return call.env.db.run_interaction("channels.auth", principal_txn, claims)


def principal_txn(conn: Connection, claims: TokenClaims) -> ChannelPrincipal:
    channel = channel_by_reference_txn(conn, claims.reference)
    device = get_device_txn(conn, claims.device_id)
    if channel is None or device is None or device.msisdn != channel.msisdn:
        raise unauthorised("not a valid channel token")
    if device.state != DeviceState.ACTIVE:
        raise unauthorised("the device is no longer enrolled")
    if claims.key_epoch != channel.key_epoch:
        raise unauthorised("the channel's keys changed: ask for a new token")
    return ChannelPrincipal(
        channel_id=channel.id,
        reference=channel.reference,
        msisdn=channel.msisdn,
        device_id=device.device_id,
        key_epoch=channel.key_epoch,
        expires_at_ns=claims.expires_at_ns,
        granted_at_ns=claims.granted_at_ns,
    )
