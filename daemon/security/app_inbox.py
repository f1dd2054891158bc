"""The TranProc's "decrypt, validate" step for app messages (daemon.security.channel).

`open_app_txn` recognises an inbox row as an app frame (8-bit data starting with the version octet,
stored by the LIS as hex, or "#A1"+base64 text), finds the sender's device, decrypts and checks the
counter (exactly once: daemon.security.devices.accept_counter_txn). The TranProc then runs the
decrypted text through the SAME registry, PIN check and handlers as a plain SMS, and
`seal_replies_txn` encrypts what goes back to the sender.

A device's session keys (the X25519 agreement and HKDF, ~70-90 µs) are cached, bounded
(KEY_CACHE_SIZE, least recently used out), keyed by the server key, the device id and the device's
public key: a re-enrolled device or a new server key never meets an old entry. The cache holds no
authority: every message still reads the device row, so a revoked device is refused at once.

Every refusal is answered: encrypted (an ErrorCode the device shows) when the device is known and
its keys can be derived, else a plain SMS saying the app message could not be read.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from twisted.logger import Logger

from daemon.config import Config
from daemon.outbox import OutgoingSms
from daemon.security import channel, offline
from daemon.security.app_key import ServerKey, server_key
from daemon.security.app_receipt import encode_body, signed_receipt
from daemon.security.channel import (
    ChannelError,
    Direction,
    ErrorCode,
    Kind,
    Opened,
    RevokedDevice,
    SessionKeys,
    UnknownDevice,
)
from daemon.security.devices import (
    Device,
    accept_counter_txn,
    next_counter_out_txn,
    usable_device_txn,
)
from smscore.text import is_binary_coding

log = Logger()

KEY_CACHE_SIZE = 4096  # devices whose keys stay derived: ~1 KiB each


@dataclass(frozen=True, slots=True)
class AppMessage:
    """A frame that opened: its device, keys and content."""

    device: Device
    keys: SessionKeys
    opened: Opened

    @property
    def text(self) -> str:
        if self.opened.kind is Kind.OFFLINE:  # a signed transfer: the OFFLINE command
            return offline.command_text(self.opened.body)
        return self.opened.text


@dataclass(frozen=True, slots=True)
class AppRefusal:
    """A frame that did not: the error (for inbox.error) and how to answer it."""

    error: ChannelError
    sealed_reply: str | None  # the encrypted answer, when the device is known; else None
    catalogue_key: str  # the plain answer's catalogue key, when it is not


def frame_of(row: Any) -> bytes | None:
    """The frame in an inbox row, if it is an app message (Malformed if it only looks like one)."""
    if is_binary_coding(row.data_coding):
        try:
            payload = bytes.fromhex(row.text)  # the LIS keeps 8-bit data as hex text
        except ValueError:
            return None
        return payload if channel.is_binary_frame(payload) else None
    if channel.is_text_frame(row.text):
        return channel.from_text(row.text)
    return None


def open_app_txn(
    conn: Connection, config: Config, row: Any, sender: str
) -> AppMessage | AppRefusal | None:
    """None for a plain SMS; else the opened message or why it was refused."""
    device: Device | None = None
    keys: SessionKeys | None = None
    try:
        frame = frame_of(row)
        if frame is None:
            return None
        header = channel.parse_header(frame)
        device = usable_device_txn(conn, channel.device_id_text(header.device_id), sender)
        keys = device_keys(config, device)
        opened = keys.open(Direction.UP, frame)
        window = config.app
        accept_counter_txn(
            conn, device, header.counter, window.counter_window, window.counter_max_ahead
        )
        return AppMessage(device, keys, opened)
    except ChannelError as exc:
        log.info("inbox {id}: app message refused: {kind}", id=row.id, kind=type(exc).__name__)
        return _refusal(conn, exc, device, keys)


def _refusal(
    conn: Connection, exc: ChannelError, device: Device | None, keys: SessionKeys | None
) -> AppRefusal:
    if isinstance(exc, RevokedDevice | UnknownDevice) or device is None or keys is None:
        key = "app_revoked" if isinstance(exc, RevokedDevice) else "app_unreadable"
        return AppRefusal(exc, None, key)
    body = ErrorCode(exc.code).value.encode("ascii")
    return AppRefusal(exc, _seal_txn(conn, device, keys, Kind.ERROR, body), "")


def device_keys(config: Config, device: Device) -> SessionKeys:
    """The device's session keys: agreed once, then from the cache. Malformed for a bad key."""
    return _agreed(_server_key(config), device.device_id, device.channel_public_key)


# By the settings that name the key file: one entry in a daemon, a few in tests.
_SERVER_KEYS: dict[tuple[Path | None, Path], ServerKey] = {}
_SERVER_KEYS_MAX = 8


def _server_key(config: Config) -> ServerKey:
    # server_key builds and resolves the path (~20 µs of system calls) each call: once here.
    where = (config.app.key_file, config.service.state_dir)
    found = _SERVER_KEYS.get(where)
    if found is None:
        if len(_SERVER_KEYS) >= _SERVER_KEYS_MAX:
            _SERVER_KEYS.clear()
        found = _SERVER_KEYS[where] = server_key(config)
    return found


# Keyed by the ServerKey object (one per key file and process: app_key.server_key; the cache holds
# it, so its identity is never reused), the device id and its public key.
@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _agreed(server: ServerKey, device_id: str, device_public: bytes) -> SessionKeys:
    return SessionKeys.agree(server.private, device_public, channel.device_id_bytes(device_id))


def key_cache_size() -> int:
    return _agreed.cache_info().currsize


def clear_key_cache() -> None:
    _agreed.cache_clear()
    _SERVER_KEYS.clear()


def seal_replies_txn(
    conn: Connection, config: Config, app: AppMessage, messages: list[OutgoingSms], sender: str
) -> list[OutgoingSms]:
    """The messages with each one to the device's own number encrypted to it (as base64 text:
    the outbox and sender carry text; see the report in daemon/device/README)."""
    return [
        dataclasses.replace(sms, text=_seal_reply_txn(conn, app, reply_body(config, sms)))
        if sms.destination_addr == sender
        else sms
        for sms in messages
    ]


def _seal_reply_txn(conn: Connection, app: AppMessage, body: bytes) -> str:
    return _seal_txn(conn, app.device, app.keys, Kind.TEXT, body)


def reply_body(config: Config, sms: OutgoingSms) -> bytes:
    """What an encrypted reply carries: its text and, for a money confirmation (one with receipt
    fields: daemon.money.receipt_tags), the Ed25519-signed receipt (daemon.security.app_receipt)."""
    return encode_body(sms.text, signed_receipt(config, sms.receipt))


def _seal_txn(conn: Connection, device: Device, keys: SessionKeys, kind: Kind, body: bytes) -> str:
    counter = next_counter_out_txn(conn, device.device_id)
    return channel.to_text(keys.seal(Direction.DOWN, counter, kind, body))
