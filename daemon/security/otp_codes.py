"""One-time codes sent by SMS: for a new device's enrolment, and for a money command above
`[security] otp_amount_above_minor`. A code is issued for (MSISDN, purpose), expires after
`otp_ttl_s`, is good once, and `otp_max_attempts` wrong codes in a row lock the purpose for
`otp_lockout_s` (audited, actor "system"); a new code does not reset the count, only a right one.

Each code is HOTP (RFC 4226) under a fresh random key, so codes are independent and nothing but the
code's digest is kept: the rows live in `one_time_codes` (as the first-PIN code does, with the same
peppered digest bound to purpose and number), under purpose "otp_<purpose>". A row's states:
live (a digest), used (digest emptied, by a guarded UPDATE, so two checks at once of one right code
succeed once), locked (failures at the limit; expires_at_ns is then the end of the lock).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, delete, insert, update

from daemon.audit import SYSTEM_ACTOR, SecurityEvent, record_security_event_txn
from daemon.clock import NS_PER_S
from daemon.config import SecurityConfig
from daemon.money.common import code_digest
from daemon.money.one_time import CodeRow, get_code_txn, matches
from daemon.schema import one_time_codes
from daemon.security.otp import KEY_BYTES, hotp_code
from daemon.subscribers import PinHasher


class OtpPurpose(StrEnum):
    ENROL = "enrol"  # a new device for this number
    AMOUNT = "amount"  # a money command above the threshold


class OtpOutcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # counted; `remaining` tries before the lock
    LOCKED = "locked"  # locked now or still locked; the code is not checked
    EXPIRED = "expired"
    USED = "used"  # the right code, already used once
    NO_CODE = "no_code"  # none was issued (or its lock ended): ask for a new one


@dataclass(frozen=True, slots=True)
class OtpCheck:
    outcome: OtpOutcome
    remaining: int = 0
    locked_until_ns: int = 0


class OtpLocked(Exception):
    """No new code while the purpose is locked; the message says until when, in seconds."""

    def __init__(self, locked_until_ns: int, now_ns: int) -> None:
        self.locked_until_ns = locked_until_ns
        wait_s = -(-(locked_until_ns - now_ns) // NS_PER_S)
        super().__init__(f"too many wrong codes: no new code for {wait_s} s")


@dataclass(frozen=True, slots=True)
class OtpPolicy:
    digits: int = 6
    ttl_ns: int = 300 * NS_PER_S
    max_attempts: int = 3
    lockout_ns: int = 900 * NS_PER_S

    @classmethod
    def from_config(cls, security: SecurityConfig) -> OtpPolicy:
        return cls(
            security.otp_digits,
            int(security.otp_ttl_s * NS_PER_S),
            security.otp_max_attempts,
            int(security.otp_lockout_s * NS_PER_S),
        )


def needs_amount_otp(amount_minor: int, security: SecurityConfig) -> bool:
    """Whether a money command of `amount_minor` asks for a code first."""
    threshold = security.otp_amount_above_minor
    return threshold > 0 and amount_minor > threshold


def stored_purpose(purpose: OtpPurpose) -> str:
    return f"otp_{OtpPurpose(purpose).value}"


def issue_otp_txn(
    conn: Connection,
    hasher: PinHasher,
    msisdn: str,
    purpose: OtpPurpose,
    policy: OtpPolicy,
    now_ns: int,
) -> str:
    """A new code for (msisdn, purpose), replacing any earlier one; the code, to send by SMS only.
    OtpLocked while wrong codes have locked the purpose."""
    key = stored_purpose(purpose)
    row = get_code_txn(conn, msisdn, key)
    failures = 0
    if row is not None and row.failures >= policy.max_attempts:
        if now_ns < row.expires_at_ns:
            raise OtpLocked(row.expires_at_ns, now_ns)
    elif row is not None:
        failures = row.failures  # a new code is no new set of guesses
    code = hotp_code(secrets.token_bytes(KEY_BYTES), 0, policy.digits)
    conn.execute(
        delete(one_time_codes).where(
            one_time_codes.c.msisdn == msisdn, one_time_codes.c.purpose == key
        )
    )
    conn.execute(
        insert(one_time_codes).values(
            msisdn=msisdn,
            purpose=key,
            code_hmac=code_digest(hasher, key, msisdn, code),
            failures=failures,
            created_at_ns=now_ns,
            expires_at_ns=now_ns + policy.ttl_ns,
        )
    )
    return code


def check_otp_txn(
    conn: Connection,
    hasher: PinHasher,
    msisdn: str,
    purpose: OtpPurpose,
    code: str,
    policy: OtpPolicy,
    now_ns: int,
) -> OtpCheck:
    """Check `code` for (msisdn, purpose), using it up if right, counting it if wrong."""
    row = get_code_txn(conn, msisdn, stored_purpose(purpose))
    early = decide(row, policy, now_ns)
    if early is not None:
        return early
    assert row is not None
    if not matches(hasher, row, code):
        return count_wrong_txn(conn, row, policy, now_ns)
    if consume_txn(conn, row, policy, now_ns):
        return OtpCheck(OtpOutcome.OK)
    return _lost(conn, row, policy, now_ns)


def decide(row: CodeRow | None, policy: OtpPolicy, now_ns: int) -> OtpCheck | None:
    """The outcome that needs no look at the code (None: the code is live, compare it)."""
    if row is None:
        return OtpCheck(OtpOutcome.NO_CODE)
    if row.failures >= policy.max_attempts:
        if now_ns < row.expires_at_ns:
            return OtpCheck(OtpOutcome.LOCKED, locked_until_ns=row.expires_at_ns)
        return OtpCheck(OtpOutcome.NO_CODE)
    if not row.code_hmac:
        return OtpCheck(OtpOutcome.USED)
    if now_ns >= row.expires_at_ns:
        return OtpCheck(OtpOutcome.EXPIRED)
    return None


def _live(row: CodeRow, policy: OtpPolicy, now_ns: int):  # type: ignore[no-untyped-def]
    """The WHERE of a row still as `row` was read: same digest, unlocked, unexpired."""
    c = one_time_codes.c
    return (
        (c.msisdn == row.msisdn)
        & (c.purpose == row.purpose)
        & (c.code_hmac == row.code_hmac)
        & (c.failures < policy.max_attempts)
        & (c.expires_at_ns > now_ns)
    )


def consume_txn(conn: Connection, row: CodeRow, policy: OtpPolicy, now_ns: int) -> bool:
    """Use the code up; False if another check used it (or locked it) first. On PostgreSQL a second
    check waits for the first's row lock, then finds the digest gone: only one wins."""
    result = conn.execute(
        update(one_time_codes).where(_live(row, policy, now_ns)).values(code_hmac=b"", failures=0)
    )
    return result.rowcount == 1


def count_wrong_txn(conn: Connection, row: CodeRow, policy: OtpPolicy, now_ns: int) -> OtpCheck:
    """One more wrong code, counted in the row itself (concurrent guesses each count)."""
    counted = conn.execute(
        update(one_time_codes)
        .where(_live(row, policy, now_ns))
        .values(failures=one_time_codes.c.failures + 1)
        .returning(one_time_codes.c.failures)
    ).scalar()
    if counted is None:  # used or locked meanwhile
        return _lost(conn, row, policy, now_ns)
    if counted < policy.max_attempts:
        return OtpCheck(OtpOutcome.WRONG, remaining=policy.max_attempts - counted)
    locked_until_ns = now_ns + policy.lockout_ns
    conn.execute(
        update(one_time_codes)
        .where(one_time_codes.c.msisdn == row.msisdn, one_time_codes.c.purpose == row.purpose)
        .values(code_hmac=b"", expires_at_ns=locked_until_ns)
    )
    lockout_s = policy.lockout_ns // NS_PER_S
    detail = f"{row.purpose}: {policy.max_attempts} wrong codes in a row, locked for {lockout_s} s"
    record_security_event_txn(
        conn, SYSTEM_ACTOR, SecurityEvent.OTP_LOCKOUT, row.msisdn, detail, now_ns
    )
    return OtpCheck(OtpOutcome.LOCKED, locked_until_ns=locked_until_ns)


def _lost(conn: Connection, row: CodeRow, policy: OtpPolicy, now_ns: int) -> OtpCheck:
    """The row changed under us (another check used or locked it): what it says now; a code
    replaced by a newer one meanwhile counts as expired."""
    now = decide(get_code_txn(conn, row.msisdn, row.purpose), policy, now_ns)
    return now or OtpCheck(OtpOutcome.EXPIRED)
