"""Secret files (the PIN pepper, the app channel key, receipt keys, a device's keys): written
owner-only (0600) under a private temporary name, synced, then moved into place, so no reader ever
sees half a secret and of two processes creating one at once, exactly one wins. And the one reader
of the "random bytes in hex, owner-only" key files (the channel keys, the callback key)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


def _write_private(path: Path, text: str) -> Path:
    """`text` in a new owner-only temporary file beside `path`, synced; its path."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def make_private_dir(path: Path) -> None:
    """`path` made 0700 if it does not exist (the state directory outside systemd, whose unit makes
    it so); one that exists is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_private_file(path: Path) -> bool:
    """An empty owner-only file at `path` (in a private directory if it had none), whatever the
    umask; False if one was there. For a new SQLite database: SQLite gives its -wal and -shm files
    the database file's mode."""
    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def create_secret_file(path: Path, text: str) -> bool:
    """Write `text` to `path` if no file is there yet; False if one is (another process won, or it
    existed: the caller reads it)."""
    make_private_dir(path.parent)
    temporary = _write_private(path, text)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


def replace_secret_file(path: Path, text: str) -> None:
    """Write `text` to `path` whether or not it exists: a crash leaves the old file or the new."""
    make_private_dir(path.parent)
    os.replace(_write_private(path, text), path)


class SecretFileError(Exception):
    """A secret file unreadable, malformed or readable by others: one line naming the file."""


def read_hex_secret(
    path: Path, what: str, length: int = 32, error: type[SecretFileError] = SecretFileError
) -> bytes:
    """The `length` bytes written in hex in `path`, owner-only; `error` (one line) if not."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not ASCII hex"
        raise error(f"{path}: cannot read the {what}: {reason}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise error(f"{path}: the {what} must be readable by its owner only (chmod 600)")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise error(f"{path}: the {what} is not hex") from None
    if len(raw) != length:
        raise error(f"{path}: the {what} is not {length} bytes")
    return raw


def load_or_create_hex_secret(
    path: Path, what: str, length: int = 32, error: type[SecretFileError] = SecretFileError
) -> bytes:
    """The secret of `path`, made (random, owner-only) if there is none yet."""
    if not path.exists():
        create_secret_file(path, secrets.token_bytes(length).hex() + "\n")
    return read_hex_secret(path, what, length, error)
