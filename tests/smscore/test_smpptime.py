"""SMPP time strings (spec 7.1.1): validation, parsing and formatting, absolute and relative."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscore.errors import TimeFormatError
from smscore.smpptime import (
    format_absolute,
    format_relative,
    parse_relative,
    parse_smpp_time,
    validate_smpp_time,
)
from tests.smscore.strategies import absolute_times, relative_times

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "261123120000000+",
        "261123120000948-",
        "000229000000000+",  # 2000 was a leap year
        "991231235959948+",
        "000000000000000R",
        "000001000000000R",
        "990000000000000R",
    ],
)
def test_valid_times(value: str) -> None:
    validate_smpp_time(value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("26112312000000+", "15 characters"),
        ("2611231200000000+", "17 characters"),
        ("261123120000000Z", "bad suffix"),
        ("26112312000000a+", "a letter"),
        ("2611231200 0000+", "a space"),
        ("²⁶¹¹²³¹²⁰⁰⁰⁰⁰⁰⁰+", "superscript digits pass str.isdigit"),
        ("٢٦١١٢٣١٢٠٠٠٠٠٠٠+", "Arabic-Indic digits pass str.isdigit"),
        ("²²²²²²²²²²²²000R", "non-ASCII digits in a relative time"),
        ("261323120000000+", "month 13"),
        ("261100120000000+", "day 0"),
        ("261132120000000+", "day 32"),
        ("260231120000000+", "31 February"),
        ("270229120000000+", "29 February of a common year"),
        ("260431120000000+", "31 April"),
        ("261123240000000+", "hour 24"),
        ("261123126000000+", "minute 60"),
        ("261123120060000+", "second 60"),
        ("261123120000049+", "offset 49 quarter hours"),
        ("000000000000100R", "relative with tenths"),
        ("000000000000001R", "relative with an offset"),
    ],
)
def test_invalid_times(value: str, why: str) -> None:
    with pytest.raises(TimeFormatError):
        validate_smpp_time(value)


def test_time_format_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_smpp_time("nonsense")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("261123120000000+", datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        ("261123120000012+", datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),  # UTC+3 (Nairobi)
        ("261123120000004-", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),  # UTC-1
        ("261123235959948-", datetime(2026, 11, 24, 11, 59, 59, 900_000, tzinfo=UTC)),  # UTC-12
        ("261123120000500+", datetime(2026, 11, 23, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("000000000000000R", NOW),
        ("000001020304000R", NOW + timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("010100000000000R", NOW + timedelta(days=365 + 30)),
        ("", None),
    ],
)
def test_parse(value: str, expected: datetime | None) -> None:
    assert parse_smpp_time(value, NOW) == expected


def test_parse_refuses_what_validate_refuses() -> None:
    with pytest.raises(TimeFormatError):
        parse_smpp_time("260231120000000+", NOW)


def test_parse_relative() -> None:
    assert parse_relative("000002000130000R") == timedelta(days=2, minutes=1, seconds=30)


def test_format_absolute_is_utc() -> None:
    nairobi = timezone(timedelta(hours=3))
    moment = datetime(2026, 11, 23, 15, 4, 5, 700_000, tzinfo=nairobi)
    assert format_absolute(moment) == "261123120405700+"


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "000000000000000R"),
        (timedelta(hours=1), "000000010000000R"),
        (timedelta(days=400, seconds=61), "010105000101000R"),
    ],
)
def test_format_relative(delta: timedelta, expected: str) -> None:
    assert format_relative(delta) == expected


@pytest.mark.parametrize("delta", [timedelta(seconds=-1), timedelta(days=365 * 100)])
def test_format_relative_refuses(delta: timedelta) -> None:
    with pytest.raises(TimeFormatError):
        format_relative(delta)


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_absolute_round_trip(moment: datetime) -> None:
    aware = moment.replace(microsecond=moment.microsecond // 100_000 * 100_000, tzinfo=UTC)
    text = format_absolute(aware)
    validate_smpp_time(text)
    assert parse_smpp_time(text, NOW) == aware


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(0, 99 * 365 * 86_400))
def test_relative_round_trip(seconds: int) -> None:
    text = format_relative(timedelta(seconds=seconds))
    validate_smpp_time(text)
    assert parse_relative(text) == timedelta(seconds=seconds)


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(absolute_times(), relative_times()))
def test_generated_times_validate_and_parse(value: str) -> None:
    validate_smpp_time(value)
    assert isinstance(parse_smpp_time(value, NOW), datetime)
