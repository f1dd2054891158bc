"""Secret files (the PIN pepper, the app channel key, receipt keys, a device's keys): written
owner-only (0600) under a private temporary name, synced, then moved into place, so no reader ever
sees half a secret and of two processes creating one at once, exactly one wins."""

from __future__ import annotations

import os
import secrets
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


def create_secret_file(path: Path, text: str) -> bool:
    """Write `text` to `path` if no file is there yet; False if one is (another process won, or it
    existed: the caller reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_write_private(path, text), path)
