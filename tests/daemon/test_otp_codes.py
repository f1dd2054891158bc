"""One-time codes by SMS: the right code once, wrong codes counted then locked (and audited), expiry,
purposes and numbers kept apart, only a digest stored, and two checks at once of one right code."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from daemon.audit import list_txn
from daemon.audit_chain import verify_audit_chain_txn
from daemon.config import ConfigError, load_config
from daemon.money.one_time import get_code_txn
from daemon.schema import one_time_codes
from daemon.security.otp_codes import (
    OtpCheck,
    OtpLocked,
    OtpOutcome,
    OtpPolicy,
    OtpPurpose,
    check_otp_txn,
    consume_txn,
    decide,
    issue_otp_txn,
    needs_amount_otp,
    stored_purpose,
)
from daemon.subscribers import PEPPER_BYTES, PinHasher
from tests.daemon.pg_locks import wait_until_blocked

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
HASHER = PinHasher(b"o" * PEPPER_BYTES)
POLICY = OtpPolicy(digits=6, ttl_ns=300 * NS, max_attempts=3, lockout_ns=900 * NS)
ALICE = "254712000200"
BOB = "254712000300"
ENROL = OtpPurpose.ENROL


def issue(conn, msisdn=ALICE, purpose=ENROL, now_ns=NOW) -> str:
    return issue_otp_txn(conn, HASHER, msisdn, purpose, POLICY, now_ns)


def check(conn, code, msisdn=ALICE, purpose=ENROL, now_ns=NOW + NS) -> OtpCheck:
    return check_otp_txn(conn, HASHER, msisdn, purpose, code, POLICY, now_ns)


def wrong_for(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_the_right_code_works_once(engine):
    with engine.begin() as conn:
        code = issue(conn)
        assert len(code) == 6 and code.isdigit()
        assert check(conn, code) == OtpCheck(OtpOutcome.OK)
        assert check(conn, code) == OtpCheck(OtpOutcome.USED)


def test_only_a_digest_is_stored_bound_to_number_and_purpose(engine):
    with engine.begin() as conn:
        code = issue(conn)
        [row] = conn.execute(select(one_time_codes)).all()
        assert row.purpose == "otp_enrol" and code.encode() not in bytes(row.code_hmac)
        assert len(row.code_hmac) == 32
        assert check(conn, code, msisdn=BOB).outcome is OtpOutcome.NO_CODE
        assert check(conn, code, purpose=OtpPurpose.AMOUNT).outcome is OtpOutcome.NO_CODE
        assert check(conn, code).outcome is OtpOutcome.OK


def test_wrong_codes_count_down_then_lock_and_the_lock_is_audited(engine):
    with engine.begin() as conn:
        code = issue(conn)
        wrong = wrong_for(code)
        assert check(conn, wrong) == OtpCheck(OtpOutcome.WRONG, remaining=2)
        assert check(conn, wrong) == OtpCheck(OtpOutcome.WRONG, remaining=1)
        assert list_txn(conn) == []
        locked = check(conn, wrong, now_ns=NOW + 2 * NS)
        assert locked == OtpCheck(OtpOutcome.LOCKED, locked_until_ns=NOW + 2 * NS + 900 * NS)
        assert check(conn, code).outcome is OtpOutcome.LOCKED  # the right code is not looked at
        with pytest.raises(OtpLocked, match="no new code for 899 s"):
            issue(conn, now_ns=NOW + 3 * NS)
        [entry] = list_txn(conn)
        assert verify_audit_chain_txn(conn) is None
        after_lock = NOW + 903 * NS
        assert check(conn, code, now_ns=after_lock).outcome is OtpOutcome.NO_CODE
        fresh = issue(conn, now_ns=after_lock)
        assert check(conn, fresh, now_ns=after_lock + NS).outcome is OtpOutcome.OK
    assert (entry.actor, entry.action, entry.target) == ("system", "otp.lockout", ALICE)
    assert "otp_enrol" in entry.detail and code not in entry.detail and wrong not in entry.detail


def test_a_new_code_does_not_reset_the_wrong_count_but_a_right_one_does(engine):
    with engine.begin() as conn:
        first = issue(conn)
        check(conn, wrong_for(first))
        check(conn, wrong_for(first))
        second = issue(conn, now_ns=NOW + 2 * NS)  # two wrong codes still counted
        assert check(conn, wrong_for(second), now_ns=NOW + 3 * NS).outcome is OtpOutcome.LOCKED
    with engine.begin() as conn:
        third = issue(conn, BOB)
        check(conn, wrong_for(third), BOB)
        fourth = issue(conn, BOB, now_ns=NOW + 2 * NS)
        assert check(conn, fourth, BOB, now_ns=NOW + 3 * NS).outcome is OtpOutcome.OK
        fifth = issue(conn, BOB, now_ns=NOW + 4 * NS)
        after_right = check(conn, wrong_for(fifth), BOB, now_ns=NOW + 5 * NS)
        assert after_right == OtpCheck(OtpOutcome.WRONG, remaining=2)  # counting starts again


def test_an_expired_code_is_refused_and_not_counted(engine):
    with engine.begin() as conn:
        code = issue(conn)
        expired_at = NOW + POLICY.ttl_ns
        assert check(conn, code, now_ns=expired_at).outcome is OtpOutcome.EXPIRED
        assert check(conn, code, now_ns=expired_at - 1).outcome is OtpOutcome.OK
        assert get_code_txn(conn, ALICE, stored_purpose(ENROL)).failures == 0


def test_no_code_issued_is_no_code(engine):
    with engine.begin() as conn:
        assert check(conn, "123456").outcome is OtpOutcome.NO_CODE


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(guess=st.text(alphabet="0123456789 a\uff10\uff11\u0663", max_size=8))
def test_any_other_text_is_a_counted_wrong_code(engine, guess):
    with engine.connect() as conn:
        transaction = conn.begin()
        code = issue(conn)
        found = check(conn, guess)
        transaction.rollback()
    if guess == code:
        assert found.outcome is OtpOutcome.OK
    else:
        assert found == OtpCheck(OtpOutcome.WRONG, remaining=2)


def test_two_checks_that_both_read_the_live_code_use_it_once(engine):
    """The interleaving of two concurrent checks: both read the row, then each tries to use it."""
    with engine.begin() as conn:
        code = issue(conn)
        row = get_code_txn(conn, ALICE, stored_purpose(ENROL))
        assert decide(row, POLICY, NOW + NS) is None  # both see a live code
        assert consume_txn(conn, row, POLICY, NOW + NS) is True
        assert consume_txn(conn, row, POLICY, NOW + NS) is False
        assert check(conn, code).outcome is OtpOutcome.USED


def test_two_checks_at_once_on_postgresql_succeed_once(pg_engine):
    with pg_engine.begin() as conn:
        code = issue(conn)
    with pg_engine.connect() as first, ThreadPoolExecutor(1) as pool:
        transaction = first.begin()
        assert check(first, code).outcome is OtpOutcome.OK  # holds the row until commit

        def second() -> OtpCheck:
            with pg_engine.begin() as conn:
                return check(conn, code)

        waiting = pool.submit(second)
        wait_until_blocked(pg_engine)
        transaction.commit()
        assert waiting.result(timeout=60).outcome is OtpOutcome.USED


def test_the_amount_threshold_and_the_config_keys(tmp_path):
    security = load_config(None, {"security": {"otp_amount_above_minor": 500_000}}).security
    assert not needs_amount_otp(500_000, security) and needs_amount_otp(500_001, security)
    never = load_config(None, {"security": {"otp_amount_above_minor": 0}}).security
    assert not needs_amount_otp(10**12, never)  # 0: never asked
    defaults = load_config(None, {}).security  # KES 50,000.00 by default
    assert not needs_amount_otp(5_000_000, defaults) and needs_amount_otp(5_000_001, defaults)
    policy = OtpPolicy.from_config(defaults)
    assert policy == OtpPolicy(6, 300 * NS, 3, 900 * NS)
    with pytest.raises(ConfigError, match="otp_digits"):
        load_config(None, {"security": {"otp_digits": 5}})
