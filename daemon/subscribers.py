"""Subscribers: identity, role, language and PIN.

PINs are stored as HMAC-SHA256(pepper, msisdn ":" pin). A 4-digit PIN has 10,000 values, so no slow
hash saves a stolen database; the pepper, kept in a file outside the database, does. Comparison is
constant-time; failures are counted in the caller's transaction (the TranProc batch) and lock the PIN
for `pin_lockout_s` after `pin_max_failures`, a lockout the audit log records (actor "system"). A PIN
is never logged, replied or stored in clear.

The database keeps a fingerprint of the pepper its digests were made with (recorded the first time a
pepper is used with it): a process holding another pepper - another state directory, another working
directory - is refused rather than left to set PINs that nobody can then enter.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from sqlalchemy import (
    Connection,
    Select,
    String,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from daemon.audit import SYSTEM_ACTOR, SecurityEvent, record_security_event_txn
from daemon.channels.notices import notify_lockout_txn
from daemon.chart import open_wallet_txn
from daemon.clock import NS_PER_S
from daemon.commands.registry import Role
from daemon.config import Config, SecurityConfig
from daemon.schema import settings, subscribers
from daemon.secret_files import create_secret_file
from ledger.fastpath import PreparedSelect, in_parameter, in_parameter_value

PEPPER_BYTES = 32
PEPPER_FILE_NAME = "pin_pepper"
PEPPER_SETTING = "pin_pepper_fingerprint"
_FINGERPRINT_LABEL = b"smscore pepper fingerprint"
_FINGERPRINT_BYTES = 16


class SubscriberError(Exception):
    pass


class SubscriberState(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # by staff: no money moves from or to it until unfrozen


class SubscriberExists(SubscriberError):
    pass


class PepperError(Exception):
    """The pepper file is missing, unreadable, malformed or readable by others."""


class PepperMismatch(PepperError):
    """The pepper is not the one the database's PIN digests were made with (or there is none where
    the database needs one). The message is one line naming the file."""


@dataclass(frozen=True, slots=True)
class Subscriber:
    msisdn: str
    account_id: int
    name: str
    role: Role
    language: str
    pin_hmac: bytes | None
    pin_failures: int
    locked_until_ns: int
    created_at_ns: int
    kyc_tier: int = 1
    state: str = "active"  # SubscriberState
    id_number: str | None = None  # KYC document number: never in a reply or a log
    store_msisdn: str | None = None  # an assistant's store
    agent_number: str | None = None  # a store's short agent number
    registered_by: str | None = None

    @property
    def frozen(self) -> bool:
        return self.state == SubscriberState.FROZEN

    @property
    def float_owner(self) -> str:
        """Whose wallet this identity moves money from: an assistant's is its store's float."""
        return (
            self.store_msisdn if self.role is Role.ASSISTANT and self.store_msisdn else self.msisdn
        )

    def __repr__(self) -> str:  # the PIN digest stays out of logs and tracebacks too
        return f"Subscriber({self.msisdn}, account {self.account_id}, {self.role.value})"


# --- the pepper and the PIN digest


@dataclass(frozen=True, slots=True)
class PepperEnv:
    """[security] pin_pepper_env: the pepper, hex, in an environment variable (never made by us)."""

    name: str

    def exists(self) -> bool:
        return self.name in os.environ

    def __str__(self) -> str:
        return f"environment variable {self.name}"


def pepper_path(config: Config) -> Path | PepperEnv:
    if config.security.pin_pepper_env is not None:
        return PepperEnv(config.security.pin_pepper_env)
    return config.security.pin_pepper_file or config.service.state_dir / PEPPER_FILE_NAME


def load_or_create_pepper(path: Path | PepperEnv) -> bytes:
    """Read the pepper; create it (random, mode 0600) if the file does not exist."""
    if isinstance(path, Path) and not path.exists():
        _create_pepper_file(path)
    return read_pepper(path)


def read_pepper(path: Path | PepperEnv) -> bytes:
    if isinstance(path, PepperEnv):
        written = os.environ.get(path.name)
        if written is None:
            raise PepperError(f"{path}: not set (security.pin_pepper_env)")
        return _parse_pepper(path, written.strip())
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PepperError(f"{path}: cannot read the PIN pepper: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PepperError(f"{path}: the PIN pepper must be readable by its owner only (chmod 600)")
    return _parse_pepper(path, text)


def _parse_pepper(path: Path | PepperEnv, text: str) -> bytes:
    try:
        pepper = bytes.fromhex(text)
    except ValueError:
        raise PepperError(f"{path}: the PIN pepper is not hex") from None
    if len(pepper) < PEPPER_BYTES:
        raise PepperError(f"{path}: the PIN pepper is shorter than {PEPPER_BYTES} bytes")
    return pepper


def _create_pepper_file(path: Path) -> None:
    create_secret_file(path, secrets.token_hex(PEPPER_BYTES) + "\n")


def pepper_fingerprint(pepper: bytes) -> str:
    """Names a pepper without giving it away: a MAC under the pepper itself, truncated."""
    digest = hmac.new(pepper, _FINGERPRINT_LABEL, hashlib.sha256).digest()
    return digest[:_FINGERPRINT_BYTES].hex()


def check_pepper_fingerprint(
    conn: Connection, pepper: bytes, pepper_path: Path | PepperEnv | str, now_ns: int = 0
) -> None:
    """PepperMismatch unless `pepper` (read from `pepper_path`) is the database's; a database that
    has no fingerprint yet records this pepper's, in the caller's transaction."""
    _require_fingerprint_txn(conn, pepper_fingerprint(pepper), str(pepper_path), now_ns)


def load_pepper_txn(conn: Connection, path: Path | PepperEnv, now_ns: int = 0) -> bytes:
    """The pepper at `path`, checked against the database. A new pepper file is made only for a
    database that has none yet: beside one that has, a missing file is an error, not a new pepper.
    (A database older than the fingerprint has one if it holds PIN digests.)"""
    if not path.exists() and (_stored_fingerprint_txn(conn) is not None or _has_pins_txn(conn)):
        raise PepperMismatch(
            f"{path}: no PIN pepper file, but the database's PINs were set with one; "
            "give the --state-dir (or [security] pin_pepper_file) the database was set up with"
        )
    pepper = load_or_create_pepper(path)
    _require_fingerprint_txn(conn, pepper_fingerprint(pepper), str(path), now_ns)
    return pepper


def _require_fingerprint_txn(
    conn: Connection, fingerprint: str, source: str, now_ns: int = 0
) -> None:
    stored = _stored_fingerprint_txn(conn)
    if stored is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        row = {"name": PEPPER_SETTING, "value": fingerprint, "set_at_ns": now_ns}
        # Two processes may meet a new database together: the first fingerprint stays.
        conn.execute(dialect.insert(settings).values(row).on_conflict_do_nothing())
        stored = _stored_fingerprint_txn(conn)
    if stored is None or not hmac.compare_digest(stored, fingerprint):
        raise PepperMismatch(
            f"{source}: this PIN pepper does not match the database's pepper; give the "
            "--state-dir (or [security] pin_pepper_file) the database was set up with"
        )


def _has_pins_txn(conn: Connection) -> bool:
    query = select(subscribers.c.msisdn).where(subscribers.c.pin_hmac.is_not(None)).limit(1)
    return conn.execute(query).first() is not None


def _stored_fingerprint_txn(conn: Connection) -> str | None:
    query = select(settings.c.value).where(settings.c.name == PEPPER_SETTING)
    return conn.execute(query).scalar()


class PinHasher:
    def __init__(self, pepper: bytes, source: Path | str = "the PIN pepper") -> None:
        if len(pepper) < PEPPER_BYTES:
            raise PepperError(f"the PIN pepper must be at least {PEPPER_BYTES} bytes")
        self._pepper = pepper
        self.source = str(source)  # where the pepper was read, for error messages
        self.fingerprint = pepper_fingerprint(pepper)

    def digest(self, msisdn: str, pin: str) -> bytes:
        # The MSISDN is mixed in so that equal PINs do not give equal digests.
        return hmac.new(self._pepper, f"{msisdn}:{pin}".encode(), hashlib.sha256).digest()

    def matches(self, msisdn: str, pin: str, stored: bytes) -> bool:
        return hmac.compare_digest(self.digest(msisdn, pin), stored)

    def __repr__(self) -> str:
        return "PinHasher(<pepper>)"


# --- PIN checks


def is_weak_pin(pin: str) -> bool:
    """All one digit (0000) or a run up or down (1234, 9876): the first PINs a thief tries."""
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    return len(steps) == 1 and steps <= {-1, 0, 1}


class PinOutcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # counted; `remaining` attempts before the lock
    LOCKED = "locked"  # locked now or still locked; not checked while locked
    NOT_SET = "not_set"


@dataclass(frozen=True, slots=True)
class PinCheck:
    outcome: PinOutcome
    remaining: int = 0
    locked_until_ns: int = 0


@dataclass(frozen=True, slots=True)
class PinPolicy:
    max_failures: int = 3
    lockout_ns: int = 900 * NS_PER_S

    @classmethod
    def from_config(cls, security: SecurityConfig) -> PinPolicy:
        return cls(security.pin_max_failures, int(security.pin_lockout_s * NS_PER_S))


def check_pin_txn(
    conn: Connection,
    subscriber: Subscriber,
    pin: str,
    hasher: PinHasher,
    policy: PinPolicy,
    now_ns: int,
) -> tuple[PinCheck, Subscriber]:
    """Check `pin`, updating the failure count and lock in the caller's transaction."""
    if subscriber.pin_hmac is None:
        return PinCheck(PinOutcome.NOT_SET), subscriber
    if now_ns < subscriber.locked_until_ns:
        return PinCheck(PinOutcome.LOCKED, locked_until_ns=subscriber.locked_until_ns), subscriber
    if hasher.matches(subscriber.msisdn, pin, subscriber.pin_hmac):
        if subscriber.pin_failures or subscriber.locked_until_ns:
            subscriber = _save_pin_state(conn, subscriber, failures=0, locked_until_ns=0)
        return PinCheck(PinOutcome.OK), subscriber
    failures = subscriber.pin_failures + 1
    if failures >= policy.max_failures:
        locked_until_ns = now_ns + policy.lockout_ns
        subscriber = _save_pin_state(conn, subscriber, 0, locked_until_ns)
        _audit_lockout(conn, subscriber.msisdn, policy, now_ns)
        notify_lockout_txn(conn, subscriber.msisdn, policy.max_failures, policy.lockout_ns, now_ns)
        return PinCheck(PinOutcome.LOCKED, locked_until_ns=locked_until_ns), subscriber
    subscriber = _save_pin_state(conn, subscriber, failures, subscriber.locked_until_ns)
    return PinCheck(PinOutcome.WRONG, remaining=policy.max_failures - failures), subscriber


def _audit_lockout(conn: Connection, msisdn: str, policy: PinPolicy, now_ns: int) -> None:
    lockout_s = policy.lockout_ns // NS_PER_S
    detail = f"{policy.max_failures} wrong PINs in a row: PIN locked for {lockout_s} s"
    record_security_event_txn(conn, SYSTEM_ACTOR, SecurityEvent.PIN_LOCKOUT, msisdn, detail, now_ns)


def _save_pin_state(
    conn: Connection, subscriber: Subscriber, failures: int, locked_until_ns: int
) -> Subscriber:
    conn.execute(
        update(subscribers)
        .where(subscribers.c.msisdn == subscriber.msisdn)
        .values(pin_failures=failures, locked_until_ns=locked_until_ns)
    )
    return replace(subscriber, pin_failures=failures, locked_until_ns=locked_until_ns)


def set_pin_txn(conn: Connection, msisdn: str, pin: str, hasher: PinHasher) -> None:
    """Set a new PIN and clear failures and lock."""
    _require_fingerprint_txn(conn, hasher.fingerprint, hasher.source)
    result = conn.execute(
        update(subscribers)
        .where(subscribers.c.msisdn == msisdn)
        .values(pin_hmac=hasher.digest(msisdn, pin), pin_failures=0, locked_until_ns=0)
    )
    if result.rowcount != 1:
        raise SubscriberError(f"no subscriber {msisdn}")


# --- records


def create_subscriber_txn(
    conn: Connection,
    msisdn: str,
    *,
    pin: str | None,
    hasher: PinHasher,
    currency: str,
    now_ns: int,
    name: str = "",
    role: Role = Role.CUSTOMER,
    language: str = "en",
    kyc_tier: int = 1,
    id_number: str | None = None,
    store_msisdn: str | None = None,
    agent_number: str | None = None,
    registered_by: str | None = None,
) -> Subscriber:
    """Register `msisdn` (international digits) and open its wallet, in the caller's transaction."""
    if role is Role.UNREGISTERED:
        raise SubscriberError("a subscriber cannot have the role 'unregistered'")
    if get_subscriber_txn(conn, msisdn) is not None:
        raise SubscriberExists(f"{msisdn} is already registered")
    _require_fingerprint_txn(conn, hasher.fingerprint, hasher.source, now_ns)
    account_id = open_wallet_txn(conn, msisdn, role, currency, now_ns)
    subscriber = Subscriber(
        msisdn=msisdn,
        account_id=account_id,
        name=name,
        role=role,
        language=language,
        pin_hmac=hasher.digest(msisdn, pin) if pin is not None else None,
        pin_failures=0,
        locked_until_ns=0,
        created_at_ns=now_ns,
        kyc_tier=kyc_tier,
        id_number=id_number,
        store_msisdn=store_msisdn,
        agent_number=agent_number,
        registered_by=registered_by,
    )
    conn.execute(insert(subscribers), [_row(subscriber)])
    return subscriber


# A SEND reads its parties several times (quote, confirmation, the settler's notices): compiled once.
_by_msisdn = PreparedSelect(
    lambda _: select(*subscribers.c).where(subscribers.c.msisdn == bindparam("msisdn"))
)


def get_subscriber_txn(conn: Connection, msisdn: str) -> Subscriber | None:
    row = _by_msisdn.first(conn, {"msisdn": msisdn})
    return _subscriber_from_tuple(row) if row is not None else None


def _select_by_msisdns(dialect_name: str, lock: bool) -> Select:
    # One parameter holding every MSISDN keeps the SQL constant (an expanding IN is re-rendered
    # per call).
    column = subscribers.c.msisdn
    where = in_parameter(column, "msisdns", dialect_name, String)
    stmt = select(*subscribers.c).where(where).order_by(column)
    return stmt.with_for_update() if lock and dialect_name == "postgresql" else stmt


_load = PreparedSelect(lambda dialect_name: _select_by_msisdns(dialect_name, lock=False))
_load_for_update = PreparedSelect(lambda dialect_name: _select_by_msisdns(dialect_name, lock=True))


def load_subscribers_txn(
    conn: Connection, msisdns: Iterable[str], lock: bool = False
) -> dict[str, Subscriber]:
    """The registered ones among `msisdns`. With `lock` (PostgreSQL), rows are locked in MSISDN
    order, so that concurrent batches touching the same subscribers can wait but never deadlock."""
    wanted = sorted(set(msisdns))
    if not wanted:
        return {}
    value = in_parameter_value(conn.dialect.name, wanted)
    rows = (_load_for_update if lock else _load).all(conn, {"msisdns": value})
    return {row[0]: _subscriber_from_tuple(row) for row in rows}


def list_subscribers_txn(conn: Connection, limit: int = 1000) -> list[Subscriber]:
    stmt = select(subscribers).order_by(subscribers.c.msisdn).limit(limit)
    return [_subscriber(row) for row in conn.execute(stmt)]


def _row(subscriber: Subscriber) -> dict:
    return {
        "msisdn": subscriber.msisdn,
        "account_id": subscriber.account_id,
        "name": subscriber.name,
        "role": subscriber.role.value,
        "language": subscriber.language,
        "pin_hmac": subscriber.pin_hmac,
        "pin_failures": subscriber.pin_failures,
        "locked_until_ns": subscriber.locked_until_ns,
        "created_at_ns": subscriber.created_at_ns,
        "kyc_tier": subscriber.kyc_tier,
        "state": subscriber.state,
        "id_number": subscriber.id_number,
        "store_msisdn": subscriber.store_msisdn,
        "agent_number": subscriber.agent_number,
        "registered_by": subscriber.registered_by,
    }


def _subscriber_from_tuple(row: tuple) -> Subscriber:
    """A row selected with every column of `subscribers`, in table order."""
    values = dict(zip(subscribers.c.keys(), row, strict=True))
    values["role"] = Role(values["role"])
    if values["pin_hmac"] is not None:
        values["pin_hmac"] = bytes(values["pin_hmac"])
    return Subscriber(**values)


def _subscriber(row) -> Subscriber:
    return _subscriber_from_tuple(tuple(row))
