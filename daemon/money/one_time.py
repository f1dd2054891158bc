"""One-time codes sent by SMS (the first-PIN code after registration) and counters of wrong guesses,
in one_time_codes. Only a code's digest is kept (peppered like a PIN, bound to purpose and number).

A wrong guess counts like a wrong PIN: after security.pin_max_failures in a row, guessing is locked
for security.pin_lockout_s, so trying every code - from a phone, or at an agent's counter - cannot
work in any useful time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from daemon.money.common import code_digest, code_matches
from daemon.schema import one_time_codes
from daemon.subscribers import PinHasher, PinPolicy

FIRST_PIN = "first_pin"  # the code sent at registration; PIN <code> <new-PIN> sets the PIN
FIRST_PIN_DIGITS = 8
COLLECT_GUARD = "collect_guard"  # wrong voucher codes given at agents for one recipient


@dataclass(frozen=True, slots=True)
class CodeRow:
    msisdn: str
    purpose: str
    code_hmac: bytes
    failures: int
    created_at_ns: int
    expires_at_ns: int

    def __repr__(self) -> str:  # the digest stays out of logs
        return f"CodeRow({self.msisdn} {self.purpose} failures={self.failures})"


@dataclass(frozen=True, slots=True)
class Guess:
    """After a wrong guess: the failures now counted, and the lock (0: none) it set."""

    failures: int
    locked_until_ns: int
    remaining: int


def wrong_guess(failures_before: int, policy: PinPolicy, now_ns: int) -> Guess:
    failures = failures_before + 1
    if failures >= policy.max_failures:  # locked; counting starts again once it ends
        return Guess(0, now_ns + policy.lockout_ns, 0)
    return Guess(failures, 0, policy.max_failures - failures)


def new_code(digits: int) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def issue_code_txn(
    conn: Connection,
    hasher: PinHasher,
    msisdn: str,
    purpose: str,
    *,
    digits: int,
    expires_at_ns: int,
    now_ns: int,
) -> str:
    """A new code for `msisdn` (any earlier one for the purpose is replaced); the code, to send."""
    code = new_code(digits)
    delete_code_txn(conn, msisdn, purpose)
    conn.execute(
        insert(one_time_codes).values(
            msisdn=msisdn,
            purpose=purpose,
            code_hmac=code_digest(hasher, purpose, msisdn, code),
            failures=0,
            created_at_ns=now_ns,
            expires_at_ns=expires_at_ns,
        )
    )
    return code


def get_code_txn(conn: Connection, msisdn: str, purpose: str) -> CodeRow | None:
    row = conn.execute(
        select(one_time_codes).where(
            one_time_codes.c.msisdn == msisdn, one_time_codes.c.purpose == purpose
        )
    ).first()
    if row is None:
        return None
    values = row._asdict()
    values["code_hmac"] = bytes(values["code_hmac"])
    return CodeRow(**values)


def matches(hasher: PinHasher, row: CodeRow, code: str) -> bool:
    return bool(row.code_hmac) and code_matches(
        hasher, row.purpose, row.msisdn, code, row.code_hmac
    )


def set_failures_txn(conn: Connection, row: CodeRow, failures: int, **extra: int) -> None:
    conn.execute(
        update(one_time_codes)
        .where(one_time_codes.c.msisdn == row.msisdn, one_time_codes.c.purpose == row.purpose)
        .values(failures=failures, **extra)
    )


def delete_code_txn(conn: Connection, msisdn: str, purpose: str) -> None:
    conn.execute(
        delete(one_time_codes).where(
            one_time_codes.c.msisdn == msisdn, one_time_codes.c.purpose == purpose
        )
    )


# --- a counter of wrong guesses with no code of its own (voucher codes live with their vouchers)


def guard_locked_until_txn(conn: Connection, msisdn: str, purpose: str, now_ns: int) -> int:
    """When guessing for `msisdn` unlocks (0: not locked)."""
    row = get_code_txn(conn, msisdn, purpose)
    return row.expires_at_ns if row is not None and row.expires_at_ns > now_ns else 0


def count_guard_failure_txn(
    conn: Connection, msisdn: str, purpose: str, policy: PinPolicy, now_ns: int
) -> Guess:
    """One more wrong guess for `msisdn`; at the limit, guessing is locked (expires_at_ns)."""
    row = get_code_txn(conn, msisdn, purpose)
    guess = wrong_guess(row.failures if row is not None else 0, policy, now_ns)
    if row is None:
        conn.execute(
            insert(one_time_codes).values(
                msisdn=msisdn,
                purpose=purpose,
                code_hmac=b"",
                failures=guess.failures,
                created_at_ns=now_ns,
                expires_at_ns=guess.locked_until_ns,
            )
        )
    else:
        set_failures_txn(conn, row, guess.failures, expires_at_ns=guess.locked_until_ns)
    return guess
