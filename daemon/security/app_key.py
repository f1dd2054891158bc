"""The server's X25519 private key for the app channel: a file under the state dir (or
`[app] key_file`), mode 0600, made at first start like the PIN pepper (daemon.subscribers). Never in
the database, a log line, a reply or an exception."""

from __future__ import annotations

import functools
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from daemon.config import Config
from daemon.secret_files import create_secret_file

KEY_FILE_NAME = "app_key"
_KEY_BYTES = 32


class AppKeyError(Exception):
    """The key file is unreadable, malformed or readable by others (one line naming the file)."""


class ServerKey:
    """The private key and its public half; printing one shows only the public half."""

    __slots__ = ("private", "public_bytes")

    def __init__(self, private: X25519PrivateKey) -> None:
        self.private = private
        self.public_bytes = private.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return f"ServerKey(public={self.public_bytes.hex()})"


def app_key_path(config: Config) -> Path:
    return config.app.key_file or config.service.state_dir / KEY_FILE_NAME


def server_key(config: Config) -> ServerKey:
    """The configured key, made if missing; read once per path and process."""
    return _load_or_create(app_key_path(config).resolve())


@functools.cache
def _load_or_create(path: Path) -> ServerKey:
    if not path.exists():
        _create(path)
    return read_key(path)


def read_key(path: Path) -> ServerKey:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AppKeyError(
            f"{path}: cannot read the app channel key: {exc.strerror or exc}"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AppKeyError(
            f"{path}: the app channel key must be readable by its owner only (chmod 600)"
        )
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise AppKeyError(f"{path}: the app channel key is not hex") from None
    if len(raw) != _KEY_BYTES:
        raise AppKeyError(f"{path}: the app channel key is not {_KEY_BYTES} bytes")
    return ServerKey(X25519PrivateKey.from_private_bytes(raw))


def _create(path: Path) -> None:
    create_secret_file(path, X25519PrivateKey.generate().private_bytes_raw().hex() + "\n")
