"""The process's receipt keyring: made or loaded once at start-up (`activate`), then used by every
confirmation (`receipt_tag`) and app reply (`sign_receipt`).

Only an activated key directory signs: the daemon activates its own at start-up (a start-up step,
so an unreadable key stops it with one line); a staff command that writes (and may send notices)
activates the directory the daemon made, if there is one. A process that never activated one (a unit test's world) writes confirmations
without a tag. The keyring is re-read when its directory changes (a `smscore receipt keys rotate`
or `revoke` while the daemon runs): one stat per signature.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from daemon.config import Config
from daemon.security.receipt_keys import Keyring, ensure_keyring, load_keyring
from daemon.security.receipts import ReceiptFields, sign_receipt_with, tag_with

KEY_DIR_NAME = "receipt-keys"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Loaded:
    keyring: Keyring
    changed_ns: int  # the directory's st_mtime_ns when it was read


_ACTIVE: dict[Path, _Loaded] = {}


def key_directory(config: Config) -> Path:
    return config.receipts.key_dir or config.service.state_dir / KEY_DIR_NAME


def activate(config: Config, now_ns: int, create: bool = True) -> Keyring | None:
    """The keyring of `config`, made with its first key if there is none (unless `create` is
    False: then None if its directory does not exist); None when receipts are disabled.
    ReceiptKeyError (one line) if it cannot be read or made."""
    if not config.receipts.enabled:
        return None
    directory = key_directory(config).absolute()
    if not create and not directory.exists():
        return None
    keyring = ensure_keyring(directory, config.receipts.tag_chars, now_ns)
    _ACTIVE[directory] = _Loaded(keyring, os.stat(directory).st_mtime_ns)
    return keyring


def deactivate(config: Config) -> None:
    _ACTIVE.pop(key_directory(config).absolute(), None)


def current_keyring(config: Config) -> Keyring | None:
    """The activated keyring of `config`, as its directory is now; None if none is activated."""
    if not config.receipts.enabled:
        return None
    directory = key_directory(config).absolute()
    loaded = _ACTIVE.get(directory)
    if loaded is None:
        return None
    changed_ns = os.stat(directory).st_mtime_ns
    if changed_ns != loaded.changed_ns:
        loaded = _Loaded(load_keyring(directory), changed_ns)
        _ACTIVE[directory] = loaded
        log.info("receipt keys re-read from %s: %s signs", directory, loaded.keyring.active.serial)
    return loaded.keyring


def receipt_tag(config: Config, fields: ReceiptFields) -> str | None:
    """`K3-7QX3M2A` for a plain-text confirmation; None when nothing signs in this process."""
    keyring = current_keyring(config)
    return tag_with(keyring.active, fields) if keyring is not None else None


def sign_receipt(config: Config, fields: ReceiptFields) -> tuple[str, bytes] | None:
    """(serial, Ed25519 signature) for an app reply; None when nothing signs in this process."""
    keyring = current_keyring(config)
    return sign_receipt_with(keyring, fields) if keyring is not None else None
