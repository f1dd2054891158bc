"""A channel token for a device: asked for with a request signed by the device's enrolled Ed25519
key (a timestamp within `TIMESTAMP_WINDOW_S` of now and above the device's last one, so a captured
request is no use twice), or refreshed with a valid token. The answer carries the channel's event
key wrapped for that device (daemon.channels.crypto), and the keys of earlier epochs for the events
sealed before a device was revoked."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from daemon.api.env import ApiEnv
from daemon.api.errors import iso_time
from daemon.channels.crypto import wrap_event_key
from daemon.channels.events import Channel, channel_event_key, ensure_channel_txn
from daemon.channels.keys import event_key, token_key
from daemon.channels.models import TokenAnswer, TokenRequest, WrappedKey
from daemon.channels.tokens import IssuedToken, issue_token
from daemon.clock import NS_PER_S
from daemon.config import Config
from daemon.schema_api import channel_positions
from daemon.security.app_key import server_key
from daemon.security.devices import Device, DeviceState, get_device_txn

TOKEN_REQUEST_LABEL = b"smscore channel token v1|"
TIMESTAMP_WINDOW_S = 300
EARLIER_EPOCHS_MAX = 64  # the keys of at most this many earlier epochs in a token answer
_SERVICE = __name__  # env.services key of the ChannelSecrets


class TokenRefused(Exception):
    """A token request that is not granted (the reason is for the device's developer)."""


@dataclass(frozen=True, slots=True)
class ChannelSecrets:
    """The keys a token answer needs; never printed."""

    token_key: bytes
    event_master: bytes
    server_private: X25519PrivateKey

    def __repr__(self) -> str:
        return "ChannelSecrets(...)"


def channel_secrets(config: Config) -> ChannelSecrets:
    """The keys of `config`; each file is read once per process (a start-up step reads them)."""
    return ChannelSecrets(token_key(config).raw, event_key(config).raw, server_key(config).private)


def env_channel_secrets(env: ApiEnv) -> ChannelSecrets:
    """The keys of the API environment, read once (daemon.service does it at start-up): a request
    then does no file-system work on the reactor."""
    found = env.services.get(_SERVICE)
    if found is None:
        found = env.services[_SERVICE] = channel_secrets(env.config)
    return found


def token_request_message(device_id: str, timestamp_ms: int) -> bytes:
    return TOKEN_REQUEST_LABEL + device_id.encode("ascii") + b"|" + str(timestamp_ms).encode()


def sign_token_request(signing_key: Ed25519PrivateKey, device_id: str, timestamp_ms: int) -> dict:
    """The device side: the body of POST /channels/token."""
    signature = signing_key.sign(token_request_message(device_id, timestamp_ms))
    return {
        "deviceId": device_id,
        "timestamp": timestamp_ms,
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def grant_txn(
    conn: Connection, secrets: ChannelSecrets, request: TokenRequest, now_ns: int, lifetime_s: float
) -> TokenAnswer:
    """A token for the device that signed `request`; TokenRefused."""
    device = get_device_txn(conn, request.deviceId)
    if device is None or device.state != DeviceState.ACTIVE or device.signing_public_key is None:
        raise TokenRefused("no active device with this id")
    if abs(request.timestamp * NS_PER_S // 1000 - now_ns) > TIMESTAMP_WINDOW_S * NS_PER_S:
        raise TokenRefused(f"the timestamp is more than {TIMESTAMP_WINDOW_S} s from now")
    _verify(device, request)
    channel = ensure_channel_txn(conn, device.msisdn, now_ns)
    _take_timestamp_txn(conn, device, channel, request.timestamp, now_ns)
    return answer_for(secrets, channel, device, now_ns, lifetime_s)


def _verify(device: Device, request: TokenRequest) -> None:
    try:
        signature = base64.b64decode(request.signature, validate=True)
        key = Ed25519PublicKey.from_public_bytes(device.signing_public_key or b"")
        key.verify(signature, token_request_message(request.deviceId, request.timestamp))
    except (binascii.Error, ValueError, InvalidSignature):
        raise TokenRefused("the signature does not verify") from None


def _take_timestamp_txn(
    conn: Connection, device: Device, channel: Channel, timestamp_ms: int, now_ns: int
) -> None:
    """Record `timestamp_ms` as the device's last; TokenRefused unless above the one before."""
    column = channel_positions.c.token_timestamp_ms
    known = conn.execute(
        select(channel_positions.c.device_id).where(
            channel_positions.c.device_id == device.device_id
        )
    ).first()
    if known is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(channel_positions).values(
                        device_id=device.device_id, channel_id=channel.id, acked_seq=0,
                        last_seen_at_ns=now_ns, token_timestamp_ms=timestamp_ms,
                    )
                )  # fmt: skip
            return
        except IntegrityError:  # a request of the same device at the same moment
            raise TokenRefused("a token request of this device is already in hand") from None
    taken = conn.execute(
        update(channel_positions)
        .where(
            channel_positions.c.device_id == device.device_id,
            or_(column.is_(None), column < timestamp_ms),
        )
        .values(token_timestamp_ms=timestamp_ms, channel_id=channel.id)
    )
    if taken.rowcount != 1:
        raise TokenRefused("the timestamp is not above the device's last one")


def answer_for(
    secrets: ChannelSecrets,
    channel: Channel,
    device: Device,
    now_ns: int,
    lifetime_s: float,
    granted_at_ns: int | None = None,
) -> TokenAnswer:
    """A fresh token for `device` on `channel`, with the event keys wrapped for it; a refresh
    passes the grant it descends from (`granted_at_ns`)."""
    issued: IssuedToken = issue_token(
        secrets.token_key,
        reference=channel.reference,
        device_id=device.device_id,
        key_epoch=channel.key_epoch,
        now_ns=now_ns,
        lifetime_s=lifetime_s,
        granted_at_ns=granted_at_ns,
    )
    first = max(1, channel.key_epoch - EARLIER_EPOCHS_MAX)
    return TokenAnswer(
        token=issued.text,
        expiresAt=iso_time(issued.claims.expires_at_ns),
        channel=channel.reference,
        keyEpoch=channel.key_epoch,
        wrappedKey=_wrapped(secrets, channel, device, channel.key_epoch),
        earlierKeys=[
            WrappedKey(keyEpoch=epoch, wrappedKey=_wrapped(secrets, channel, device, epoch))
            for epoch in range(first, channel.key_epoch)
        ],
    )


def _wrapped(secrets: ChannelSecrets, channel: Channel, device: Device, epoch: int) -> str:
    key = channel_event_key(secrets.event_master, channel.reference, epoch)
    wrapped = wrap_event_key(
        secrets.server_private,
        device.channel_public_key,
        device.device_id,
        channel.reference,
        epoch,
        key,
    )
    return base64.b64encode(wrapped).decode("ascii")
