"""KYC-tier limits: the service day in the configured time zone, usage that accumulates within a day
and starts again the next, each refusal with the amount still allowed, on SQLite and PostgreSQL."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from daemon.money.limits import (
    DailyUsage,
    LimitName,
    LimitRefusal,
    check_amount,
    check_balance_max,
    check_limits_txn,
    check_usage,
    give_back_usage_txn,
    prune_usage_txn,
    record_usage_txn,
    service_day,
    usage_txn,
)
from daemon.money.tariff import TierLimits
from daemon.schema import daily_usage

NAIROBI = "Africa/Nairobi"  # UTC+3, no daylight saving
ALICE, BOB = "254712000001", "254712000002"
LIMITS = TierLimits(
    per_transaction_max_minor=20_000_00,
    daily_value_max_minor=50_000_00,
    daily_count_max=3,
    balance_max_minor=50_000_00,
)
MINIMUM_MINOR = 50_00


def _ns(iso_utc: str) -> int:
    instant = datetime.datetime.fromisoformat(iso_utc).replace(tzinfo=datetime.UTC)
    return int(instant.timestamp()) * 10**9


def test_the_service_day_turns_at_midnight_in_the_configured_zone():
    assert service_day(_ns("2024-03-01T20:59:59"), NAIROBI) == "2024-03-01"
    assert service_day(_ns("2024-03-01T21:00:00"), NAIROBI) == "2024-03-02"  # 00:00 in Nairobi
    assert service_day(_ns("2024-03-01T21:00:00"), "UTC") == "2024-03-01"
    assert service_day(_ns("2024-12-31T21:00:00") + 999_999_999, NAIROBI) == "2025-01-01"


@pytest.mark.parametrize(
    ("amount_minor", "refusal"),
    [
        (49_99, LimitRefusal(LimitName.MINIMUM, 50_00)),
        (50_00, None),
        (20_000_00, None),
        (20_000_01, LimitRefusal(LimitName.PER_TRANSACTION, 20_000_00)),
    ],
)
def test_the_amount_alone(amount_minor, refusal):
    assert check_amount(amount_minor, LIMITS, MINIMUM_MINOR) == refusal


def test_usage_accumulates_and_each_daily_limit_says_what_is_left(engine):
    day = service_day(_ns("2024-03-01T12:00:00"), NAIROBI)
    with engine.begin() as conn:
        assert check_limits_txn(conn, ALICE, 20_000_00, LIMITS, MINIMUM_MINOR, day) is None
        record_usage_txn(conn, ALICE, day, 20_000_00)
        record_usage_txn(conn, ALICE, day, 20_000_00)
        assert usage_txn(conn, ALICE, day) == DailyUsage(40_000_00, 2)
        assert check_limits_txn(conn, ALICE, 10_000_01, LIMITS, MINIMUM_MINOR, day) == (
            LimitRefusal(LimitName.DAILY_VALUE, 10_000_00)
        )
        assert check_limits_txn(conn, ALICE, 10_000_00, LIMITS, MINIMUM_MINOR, day) is None
        record_usage_txn(conn, ALICE, day, 100_00)
        assert check_limits_txn(conn, ALICE, 100_00, LIMITS, MINIMUM_MINOR, day) == (
            LimitRefusal(LimitName.DAILY_COUNT, 3)
        )
        assert usage_txn(conn, BOB, day) == DailyUsage()  # one subscriber's usage is not another's


def test_the_amount_is_checked_before_the_day(engine):
    day = "2024-03-01"
    with engine.begin() as conn:
        for _ in range(LIMITS.daily_count_max):
            record_usage_txn(conn, ALICE, day, 100_00)
        assert check_limits_txn(conn, ALICE, 10_00, LIMITS, MINIMUM_MINOR, day) == (
            LimitRefusal(LimitName.MINIMUM, MINIMUM_MINOR)
        )
        assert check_limits_txn(conn, ALICE, 30_000_00, LIMITS, MINIMUM_MINOR, day) == (
            LimitRefusal(LimitName.PER_TRANSACTION, 20_000_00)
        )


def test_usage_starts_again_at_local_midnight(engine):
    before_midnight = service_day(_ns("2024-03-01T20:59:00"), NAIROBI)
    after_midnight = service_day(_ns("2024-03-01T21:01:00"), NAIROBI)  # the same UTC day
    with engine.begin() as conn:
        for _ in range(LIMITS.daily_count_max):
            record_usage_txn(conn, ALICE, before_midnight, 10_000_00)
        assert check_limits_txn(conn, ALICE, 100_00, LIMITS, MINIMUM_MINOR, before_midnight) == (
            LimitRefusal(LimitName.DAILY_COUNT, 3)
        )
        assert (
            check_limits_txn(conn, ALICE, 20_000_00, LIMITS, MINIMUM_MINOR, after_midnight) is None
        )


def test_usage_given_back_leaves_the_rest_of_that_day(engine):
    with engine.begin() as conn:
        record_usage_txn(conn, ALICE, "2024-03-01", 300_00)
        record_usage_txn(conn, ALICE, "2024-03-01", 200_00)
        record_usage_txn(conn, ALICE, "2024-03-02", 100_00)
        give_back_usage_txn(conn, ALICE, "2024-03-01", 200_00)
        assert usage_txn(conn, ALICE, "2024-03-01") == DailyUsage(300_00, 1)
        assert usage_txn(conn, ALICE, "2024-03-02") == DailyUsage(100_00, 1)
        # More than was recorded (a day that turned meanwhile) stops at nothing, never below.
        give_back_usage_txn(conn, ALICE, "2024-03-01", 500_00)
        give_back_usage_txn(conn, ALICE, "2024-03-01", 500_00)
        assert usage_txn(conn, ALICE, "2024-03-01") == DailyUsage(0, 0)
        give_back_usage_txn(conn, BOB, "2024-03-01", 100_00)  # no usage that day: nothing to do
        assert usage_txn(conn, BOB, "2024-03-01") == DailyUsage()


def test_prune_deletes_only_the_days_before(engine):
    with engine.begin() as conn:
        for day in ("2024-02-28", "2024-02-29", "2024-03-01"):
            record_usage_txn(conn, ALICE, day, 100_00)
        record_usage_txn(conn, BOB, "2024-02-29", 100_00)
        assert prune_usage_txn(conn, "2024-03-01") == 3
        days = conn.execute(select(daily_usage.c.day)).scalars().all()
        assert days == ["2024-03-01"]
        assert conn.execute(select(func.count()).select_from(daily_usage)).scalar() == 1


@pytest.mark.parametrize(
    ("balance_minor", "amount_minor", "refusal"),
    [
        (0, 50_000_00, None),
        (49_000_00, 1_000_00, None),
        (49_000_00, 1_000_01, LimitRefusal(LimitName.BALANCE_MAX, 1_000_00)),
        (50_000_00, 1, LimitRefusal(LimitName.BALANCE_MAX, 0)),
        (60_000_00, 1, LimitRefusal(LimitName.BALANCE_MAX, 0)),  # over already (a tier lowered)
    ],
)
def test_balance_max_says_how_much_more_the_wallet_can_receive(
    balance_minor, amount_minor, refusal
):
    assert check_balance_max(balance_minor, amount_minor, LIMITS) == refusal


@given(
    used_minor=st.integers(0, 60_000_00),
    count=st.integers(0, 5),
    amount_minor=st.integers(1, 60_000_00),
)
def test_a_day_is_refused_exactly_when_a_daily_limit_would_be_broken(
    used_minor, count, amount_minor
):
    refusal = check_usage(DailyUsage(used_minor, count), amount_minor, LIMITS)
    over_count = count >= LIMITS.daily_count_max
    over_value = used_minor + amount_minor > LIMITS.daily_value_max_minor
    assert (refusal is None) == (not over_count and not over_value)
    if refusal is not None and refusal.limit is LimitName.DAILY_VALUE:
        assert not over_count
        assert refusal.allowed_minor == max(0, LIMITS.daily_value_max_minor - used_minor)
        assert amount_minor > refusal.allowed_minor  # and that much more would have passed
        assert (
            refusal.allowed_minor == 0
            or check_usage(DailyUsage(used_minor, count), refusal.allowed_minor, LIMITS) is None
        )
