"""HOTP and TOTP against the RFCs' own test vectors (RFC 4226 Appendix D, RFC 6238 Appendix B), and
the matching rules: the window, the format, the keys and parameters refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.security.otp import (
    OtpAlgorithm,
    OtpError,
    hotp_code,
    hotp_matches,
    matching_step,
    totp_code,
    totp_matches,
)

# RFC 4226 Appendix D: the ASCII secret "12345678901234567890", HMAC-SHA-1, 6 digits, counts 0-9.
RFC4226_SECRET = b"12345678901234567890"
RFC4226_HOTP = [
    "755224", "287082", "359152", "969429", "338314",
    "254676", "287922", "162583", "399871", "520489",
]  # fmt: skip

# RFC 6238 Appendix B: X = 30, T0 = 0, 8 digits; one seed per hash (20, 32 and 64 ASCII bytes).
RFC6238_SEEDS = {
    OtpAlgorithm.SHA1: b"12345678901234567890",
    OtpAlgorithm.SHA256: b"12345678901234567890123456789012",
    OtpAlgorithm.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_TOTP = [  # time (s), SHA1, SHA256, SHA512
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
RFC6238_CASES = [
    (time_s, algorithm, code)
    for time_s, *codes in RFC6238_TOTP
    for algorithm, code in zip(RFC6238_SEEDS, codes, strict=True)
]
KEY = bytes(range(20))


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_HOTP)))
def test_hotp_gives_rfc_4226_appendix_d(counter, expected):
    assert hotp_code(RFC4226_SECRET, counter) == expected
    assert hotp_matches(RFC4226_SECRET, expected, counter)
    assert not hotp_matches(RFC4226_SECRET, expected, counter + 1)


@pytest.mark.parametrize(("time_s", "algorithm", "expected"), RFC6238_CASES)
def test_totp_gives_rfc_6238_appendix_b(time_s, algorithm, expected):
    seed = RFC6238_SEEDS[algorithm]
    assert totp_code(seed, time_s, digits=8, algorithm=algorithm) == expected
    assert totp_matches(seed, expected, time_s, digits=8, algorithm=algorithm, window_steps=0)


@given(time_s=st.integers(0, 2**40), drift_steps=st.integers(-3, 3), window=st.integers(0, 2))
def test_a_totp_matches_within_the_window_only(time_s, drift_steps, window):
    code = totp_code(KEY, time_s)
    seen_at = time_s + drift_steps * 30
    step = matching_step(KEY, code, seen_at, window_steps=window)
    if abs(drift_steps) <= window:
        assert step == time_s // 30  # the step of the code (a collision could only be nearer)
    elif step is not None:  # 1 in 10^6 per step: another step's code may be the same digits
        assert totp_code(KEY, step * 30) == code


@given(st.text(max_size=10))
def test_a_code_not_of_its_digits_never_matches(text):
    right = hotp_code(KEY, 7)
    assert hotp_matches(KEY, text, 7) == (text == right)
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in right)  # the same digits, not ASCII
    assert not hotp_matches(KEY, fullwidth, 7) and not totp_matches(KEY, fullwidth, 0)


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda: hotp_code(b"short", 0), "128 bits"),
        (lambda: hotp_code(KEY, 0, digits=5), "6 to 8 digits"),
        (lambda: totp_code(KEY, 0, step_s=0), "time step"),
    ],
)
def test_a_bad_key_or_parameter_is_a_typed_error_naming_no_key(call, problem):
    with pytest.raises(OtpError, match=problem) as raised:
        call()
    assert KEY.hex() not in str(raised.value) and "short" not in str(raised.value)
