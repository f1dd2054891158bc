"""The channel secrets: the key channel tokens are signed with (HS256) and the one every channel's
event keys derive from. Each a file of 32 random bytes in hex, mode 0600, made at first start like
the PIN pepper (daemon.subscribers), under the state dir unless `[channels] token_key_file` /
`event_key_file` names one. Read once per path and process; never in the database, a log line, a
reply, an exception or a repr."""

from __future__ import annotations

import functools
from pathlib import Path

from daemon.config import Config
from daemon.secret_files import SecretFileError, load_or_create_hex_secret, read_hex_secret

TOKEN_KEY_FILE_NAME = "channel_token_key"
EVENT_KEY_FILE_NAME = "channel_event_key"
KEY_BYTES = 32


class ChannelKeyError(SecretFileError):
    """A key file is unreadable, malformed or readable by others (one line naming the file)."""


class SecretKey:
    """32 secret bytes; printing one shows only which file it came from."""

    __slots__ = ("_raw", "source")

    def __init__(self, raw: bytes, source: str) -> None:
        self._raw = raw
        self.source = source

    @property
    def raw(self) -> bytes:
        return self._raw

    def __repr__(self) -> str:
        return f"SecretKey(from {self.source})"


def token_key_path(config: Config) -> Path:
    return config.channels.token_key_file or config.service.state_dir / TOKEN_KEY_FILE_NAME


def event_key_path(config: Config) -> Path:
    return config.channels.event_key_file or config.service.state_dir / EVENT_KEY_FILE_NAME


def token_key(config: Config) -> SecretKey:
    """The token signing key, made if missing; read once per path and process."""
    return load_or_create(token_key_path(config).resolve(), "channel token key")


def event_key(config: Config) -> SecretKey:
    """The event master key, made if missing; read once per path and process."""
    return load_or_create(event_key_path(config).resolve(), "channel event key")


@functools.cache
def load_or_create(path: Path, what: str) -> SecretKey:
    return SecretKey(load_or_create_hex_secret(path, what, KEY_BYTES, ChannelKeyError), str(path))


def read_key(path: Path, what: str) -> SecretKey:
    return SecretKey(read_hex_secret(path, what, KEY_BYTES, ChannelKeyError), str(path))
