"""The secrets callbacks are signed with. One master key: a file under the state dir (or `[api]
callback_key_file`), 0600, made at first start like the PIN pepper; never in the database, a log
line or an exception. Each business's signing secret derives from it and is never stored:

    secret = HMAC-SHA256(master, b"smscore callback v1|" + code + b"|" + secret_version)

(the business code in UTF-8, `businesses.secret_version` in ASCII decimal). Staff show it
to the business with `smscore admin business secret CODE`, as 64 hex digits; `--rotate` bumps the
version, so the old secret stops verifying at once. A callback carries
`X-Signature: sha256=<hex HMAC-SHA256(secret, body)>`: the receiver checks it with the secret's 32
bytes (`bytes.fromhex(printed)`) over the exact body it received.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select, update

from daemon.audit import record_txn
from daemon.config import Config
from daemon.schema import businesses
from daemon.secret_files import SecretFileError, create_secret_file, read_hex_secret

KEY_FILE_NAME = "api_callback_key"
_KEY_BYTES = 32
_LABEL = b"smscore callback v1|"
SIGNATURE_PREFIX = "sha256="


class CallbackKeyError(SecretFileError):
    """The master key file is unreadable, malformed or readable by others (one line naming it),
    or a business to show a secret of does not exist."""


class MasterKey:
    """The master key's bytes; its repr shows nothing of them."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def __repr__(self) -> str:
        return "MasterKey(...)"

    def business_secret(self, code: str, secret_version: int) -> bytes:
        message = _LABEL + code.encode("utf-8") + b"|" + str(secret_version).encode("ascii")
        return hmac.new(self._raw, message, hashlib.sha256).digest()


def signed_bytes(date: str, body: bytes) -> bytes:
    """What X-Signature covers: the X-Date header, a newline, the body (so a receiver can refuse a
    stale or replayed callback by its date)."""
    return date.encode("ascii") + b"\n" + body


def sign(secret: bytes, date: str, body: bytes) -> str:
    """The X-Signature header's value for a callback sent with X-Date `date` and `body`."""
    return SIGNATURE_PREFIX + hmac.new(secret, signed_bytes(date, body), hashlib.sha256).hexdigest()


def verify(secret: bytes, date: str, body: bytes, signature: str) -> bool:
    """What a receiver does (tests, the documentation): constant-time comparison."""
    return hmac.compare_digest(sign(secret, date, body), signature)


def callback_key_path(config: Config) -> Path:
    return config.api.callback_key_file or config.service.state_dir / KEY_FILE_NAME


def master_key(config: Config, create: bool = True) -> MasterKey:
    """The configured master key, made if missing (unless `create` is false: the CLI, which
    must not make a key the daemon would not use); read once per path and process."""
    path = callback_key_path(config).resolve()
    if not path.exists():
        if not create:
            raise CallbackKeyError(
                f"{path}: no callback key yet (the daemon makes it at its first start)"
            )
        create_secret_file(path, secrets.token_bytes(_KEY_BYTES).hex() + "\n")
    return _read_cached(path)


@functools.cache
def _read_cached(path: Path) -> MasterKey:
    return read_master_key(path)


def read_master_key(path: Path) -> MasterKey:
    return MasterKey(read_hex_secret(path, "callback key", _KEY_BYTES, CallbackKeyError))


# --- a business's secret


@dataclass(frozen=True, slots=True)
class SecretVersion:
    business_id: int
    code: str
    version: int


def secret_version_txn(conn: Connection, code: str) -> SecretVersion:
    row = conn.execute(
        select(businesses.c.id, businesses.c.code, businesses.c.secret_version).where(
            businesses.c.code == code
        )
    ).first()
    if row is None:
        raise CallbackKeyError(f"business {code}: no such business")
    return SecretVersion(row.id, row.code, row.secret_version)


def rotate_txn(conn: Connection, code: str, actor: str, now_ns: int) -> SecretVersion:
    """The next secret version of business `code` (the old secret no longer signs), audited."""
    current = secret_version_txn(conn, code)
    bumped = current.version + 1
    conn.execute(
        update(businesses)
        .where(businesses.c.id == current.business_id)
        .values(secret_version=bumped, updated_at_ns=now_ns)
    )
    record_txn(
        conn,
        actor,
        "business.secret.rotate",
        current.code,
        f"callback secret version {current.version} -> {bumped}",
        now_ns,
    )
    return SecretVersion(current.business_id, current.code, bumped)
