"""One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), computed by `cryptography`'s twofactor
module (no truncation of our own). Codes are decimal strings of 6 to 8 digits; a code that is not
all ASCII digits of the right length never matches, and matching is constant-time (the library's).
"""

from __future__ import annotations

from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.hotp import HOTP
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DIGITS = (6, 7, 8)
DEFAULT_STEP_S = 30  # RFC 6238's time step X
KEY_BYTES = 20  # RFC 4226 asks for 160 bits at least (the library refuses under 128)


class OtpAlgorithm(StrEnum):
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"


_HASHES = {
    OtpAlgorithm.SHA1: hashes.SHA1,
    OtpAlgorithm.SHA256: hashes.SHA256,
    OtpAlgorithm.SHA512: hashes.SHA512,
}


class OtpError(ValueError):
    """A key or a parameter the algorithms do not take (a programming or configuration error)."""


def _hotp(key: bytes, digits: int, algorithm: OtpAlgorithm) -> HOTP:
    if digits not in DIGITS:
        raise OtpError(f"an OTP has {DIGITS[0]} to {DIGITS[-1]} digits, not {digits}")
    try:
        return HOTP(key, digits, _HASHES[algorithm]())
    except ValueError as exc:  # too short a key: the message names no key material
        raise OtpError(str(exc)) from None


def _totp(key: bytes, digits: int, algorithm: OtpAlgorithm, step_s: int) -> TOTP:
    _hotp(key, digits, algorithm)  # the same checks, one message
    if step_s <= 0:
        raise OtpError(f"a TOTP time step is a positive number of seconds, not {step_s}")
    return TOTP(key, digits, _HASHES[algorithm](), step_s)


def _well_formed(code: str, digits: int) -> bool:
    return len(code) == digits and code.isascii() and code.isdigit()


def hotp_code(
    key: bytes, counter: int, digits: int = 6, algorithm: OtpAlgorithm = OtpAlgorithm.SHA1
) -> str:
    """HOTP(key, counter) as `digits` decimal digits."""
    return _hotp(key, digits, algorithm).generate(counter).decode("ascii")


def hotp_matches(
    key: bytes,
    code: str,
    counter: int,
    digits: int = 6,
    algorithm: OtpAlgorithm = OtpAlgorithm.SHA1,
) -> bool:
    if not _well_formed(code, digits):
        return False
    try:
        _hotp(key, digits, algorithm).verify(code.encode("ascii"), counter)
    except InvalidToken:
        return False
    return True


def totp_code(
    key: bytes,
    time_s: int,
    digits: int = 6,
    algorithm: OtpAlgorithm = OtpAlgorithm.SHA1,
    step_s: int = DEFAULT_STEP_S,
) -> str:
    """TOTP(key) at `time_s` seconds since the epoch (T0 = 0) as `digits` decimal digits."""
    return _totp(key, digits, algorithm, step_s).generate(time_s).decode("ascii")


def totp_matches(
    key: bytes,
    code: str,
    time_s: int,
    *,
    digits: int = 6,
    algorithm: OtpAlgorithm = OtpAlgorithm.SHA1,
    step_s: int = DEFAULT_STEP_S,
    window_steps: int = 1,
) -> bool:
    """Whether `code` is the TOTP of a step within `window_steps` of `time_s` (clocks drift; an SMS
    takes a while). A caller that must refuse a replay remembers the step it accepted."""
    return matching_step(key, code, time_s, digits=digits, algorithm=algorithm, step_s=step_s,
                         window_steps=window_steps) is not None  # fmt: skip


def matching_step(
    key: bytes,
    code: str,
    time_s: int,
    *,
    digits: int = 6,
    algorithm: OtpAlgorithm = OtpAlgorithm.SHA1,
    step_s: int = DEFAULT_STEP_S,
    window_steps: int = 1,
) -> int | None:
    """The time step (T) whose TOTP `code` is, nearest `time_s` first within the window; or None."""
    totp = _totp(key, digits, algorithm, step_s)
    if window_steps < 0 or not _well_formed(code, digits):
        return None
    step = time_s // step_s
    for offset in sorted(range(-window_steps, window_steps + 1), key=abs):
        if step + offset < 0:
            continue
        try:
            totp.verify(code.encode("ascii"), (step + offset) * step_s)
        except InvalidToken:
            continue
        return step + offset
    return None
