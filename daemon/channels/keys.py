"""The channel secrets: the key channel tokens are signed with (HS256) and the one every channel's
event keys derive from. Each a file of 32 random bytes in hex, mode 0600, made at first start like
the PIN pepper (daemon.subscribers), under the state dir unless `[channels] token_key_file` /
`event_key_file` names one. Read once per path and process; never in the database, a log line, a
reply, an exception or a repr."""

from __future__ import annotations

import functools
import secrets
import stat
from pathlib import Path

from daemon.config import Config
from daemon.secret_files import create_secret_file

TOKEN_KEY_FILE_NAME = "channel_token_key"
EVENT_KEY_FILE_NAME = "channel_event_key"
KEY_BYTES = 32


class ChannelKeyError(Exception):
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
    if not path.exists():
        create_secret_file(path, secrets.token_bytes(KEY_BYTES).hex() + "\n")
    return read_key(path, what)


def read_key(path: Path, what: str) -> SecretKey:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ChannelKeyError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ChannelKeyError(f"{path}: the {what} must be readable by its owner only (chmod 600)")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ChannelKeyError(f"{path}: the {what} is not hex") from None
    if len(raw) != KEY_BYTES:
        raise ChannelKeyError(f"{path}: the {what} is not {KEY_BYTES} bytes")
    return SecretKey(raw, str(path))
