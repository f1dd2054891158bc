"""The keyring that signs confirmations: one file per key serial in a directory outside the database.

A key is 32 random bytes (its seed) in `<dir>/K<n>.key`, a JSON object written once, mode 0600, in a
directory of mode 0700: {"seed": hex, "tag_chars": 7, "created_at_ns": ...}. Both of a serial's keys
are derived from the seed with HKDF-SHA256 (distinct `info`): the Ed25519 key that signs app replies
and the HMAC-SHA256 key of the short tag in plain-text SMS. The tag's length is the key's own (fixed
when the key is made from `[receipts] tag_chars`), so a change of length comes with a rotation and
old receipts keep their length.

Rotation makes K<n+1>; the highest serial not revoked signs, every other still verifies. Revocation
writes `<dir>/K<n>.revoked` (a marker: when, nothing secret): that serial's receipts no longer
verify, and revoking the signing key makes a new one first. The state is the directory's listing, so
the CLI and a running daemon share it without the database; the daemon re-reads the directory when
its modification time changes.

A seed never leaves this module but through `ReceiptKey`'s derived keys; no repr shows one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from daemon.secret_files import create_secret_file

SEED_BYTES = 32
MIN_TAG_CHARS, MAX_TAG_CHARS = 6, 8
MAX_SERIAL = 99  # K99: the longest serial a reply must have room for
_SERIAL = re.compile(r"K([1-9][0-9]?)", re.IGNORECASE)
_KEY_SUFFIX, _REVOKED_SUFFIX = ".key", ".revoked"
_ED25519_INFO = b"smscore receipt ed25519 v1"
_MAC_INFO = b"smscore receipt mac v1"


class ReceiptKeyError(Exception):
    """A key file or the key directory is missing, unreadable, malformed or readable by others; or
    a serial that is not in the keyring. The message is one line naming the file or serial."""


def parse_serial(written: str) -> int:
    """The number of serial `K3` (any case); ReceiptKeyError if it is not one."""
    match = _SERIAL.fullmatch(written.strip())
    if match is None:
        raise ReceiptKeyError(f"{written!r}: not a key serial (K1, K2, ...)")
    return int(match[1])


def serial_name(number: int) -> str:
    return f"K{number}"


def _derive(seed: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)


@dataclass(frozen=True, slots=True)
class ReceiptKey:
    number: int
    tag_chars: int
    created_at_ns: int
    revoked: bool
    mac_key: bytes = field(repr=False)
    signing_key: Ed25519PrivateKey = field(repr=False)

    @property
    def serial(self) -> str:
        return serial_name(self.number)

    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key the app ships to check replies signed by this serial."""
        return self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_seed(
        cls, number: int, seed: bytes, tag_chars: int, created_at_ns: int, revoked: bool = False
    ) -> ReceiptKey:
        signing = Ed25519PrivateKey.from_private_bytes(_derive(seed, _ED25519_INFO))
        return cls(number, tag_chars, created_at_ns, revoked, _derive(seed, _MAC_INFO), signing)


@dataclass(frozen=True, slots=True)
class Keyring:
    directory: Path
    keys: dict[int, ReceiptKey]  # by serial number

    @property
    def active(self) -> ReceiptKey:
        live = [key for key in self.keys.values() if not key.revoked]
        if not live:
            raise ReceiptKeyError(f"{self.directory}: every receipt key is revoked; rotate first")
        return max(live, key=lambda key: key.number)

    def get(self, serial: str) -> ReceiptKey | None:
        try:
            return self.keys.get(parse_serial(serial))
        except ReceiptKeyError:
            return None


def load_keyring(directory: Path) -> Keyring:
    """The keys in `directory`; ReceiptKeyError if it or a key file is unusable."""
    try:
        mode = directory.stat().st_mode
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ReceiptKeyError(f"{directory}: cannot read the receipt keys: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ReceiptKeyError(f"{directory}: the receipt key directory must be private (chmod 700)")
    revoked = {
        name.removesuffix(_REVOKED_SUFFIX) for name in names if name.endswith(_REVOKED_SUFFIX)
    }
    keys: dict[int, ReceiptKey] = {}
    for name in names:
        serial = name.removesuffix(_KEY_SUFFIX)
        if name.endswith(_KEY_SUFFIX) and _SERIAL.fullmatch(serial):
            key = _read_key(directory / name, parse_serial(serial), serial in revoked)
            keys[key.number] = key
    return Keyring(directory, keys)


def _read_key(path: Path, number: int, revoked: bool) -> ReceiptKey:
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text(encoding="ascii"))
        seed = bytes.fromhex(data["seed"])
        tag_chars, created_at_ns = int(data["tag_chars"]), int(data["created_at_ns"])
    except OSError as exc:
        raise ReceiptKeyError(f"{path}: cannot read the receipt key: {exc}") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ReceiptKeyError(
            f"{path}: not a receipt key file (seed, tag_chars, created_at_ns)"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ReceiptKeyError(
            f"{path}: a receipt key must be readable by its owner only (chmod 600)"
        )
    if len(seed) != SEED_BYTES or not MIN_TAG_CHARS <= tag_chars <= MAX_TAG_CHARS:
        raise ReceiptKeyError(f"{path}: the seed must be {SEED_BYTES} bytes, tag_chars 6 to 8")
    return ReceiptKey.from_seed(number, seed, tag_chars, created_at_ns, revoked)


def ensure_keyring(directory: Path, tag_chars: int, now_ns: int) -> Keyring:
    """The keyring in `directory`, made (with key K1) if it has no key yet."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring = load_keyring(directory)
    if keyring.keys:
        return keyring
    _write_once(directory / f"{serial_name(1)}{_KEY_SUFFIX}", _key_text(tag_chars, now_ns))
    return load_keyring(directory)


def rotate_keyring(directory: Path, tag_chars: int, now_ns: int) -> ReceiptKey:
    """A new key, the next serial, which signs from now on; the others still verify."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring = load_keyring(directory)
    number = max(keyring.keys, default=0) + 1
    if number > MAX_SERIAL:
        raise ReceiptKeyError(f"{directory}: {MAX_SERIAL} keys made already; start a new directory")
    path = directory / f"{serial_name(number)}{_KEY_SUFFIX}"
    if not _write_once(path, _key_text(tag_chars, now_ns)):
        raise ReceiptKeyError(f"{path}: made by another rotation at the same time; try again")
    return load_keyring(directory).keys[number]


def revoke_key(directory: Path, serial: str, tag_chars: int, now_ns: int) -> ReceiptKey | None:
    """Mark `serial` revoked; when it was the signing key, a new one is made first (returned)."""
    keyring = load_keyring(directory)
    number = parse_serial(serial)
    key = keyring.keys.get(number)
    if key is None:
        raise ReceiptKeyError(f"{serial_name(number)}: no such receipt key in {directory}")
    replacement = None
    if not key.revoked and keyring.active.number == number:
        replacement = rotate_keyring(directory, tag_chars, now_ns)
    _write_once(directory / f"{key.serial}{_REVOKED_SUFFIX}", f"{now_ns}\n")
    return replacement


def _key_text(tag_chars: int, now_ns: int) -> str:
    seed = secrets.token_bytes(SEED_BYTES).hex()
    return json.dumps({"seed": seed, "tag_chars": tag_chars, "created_at_ns": now_ns}) + "\n"


def _write_once(path: Path, text: str) -> bool:
    """Write `text` to a new file `path` (mode 0600); False if it exists already."""
    return create_secret_file(path, text)
