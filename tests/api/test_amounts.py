"""The API's amount strings to and from minor units."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.api.amounts import format_amount, parse_amount
from daemon.api.errors import ApiError
from daemon.commands.money import MAX_AMOUNT_MINOR

# The GSMA amount pattern: what every formatted amount must match.
SPEC_AMOUNT = re.compile(r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[0-9])?$")


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR))
def test_round_trip_two_decimals(minor):
    text = format_amount(minor, "KES")
    assert SPEC_AMOUNT.match(text)
    assert parse_amount(text, "KES") == minor


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR))
def test_round_trip_zero_and_three_decimals(minor):
    for currency in ("UGX", "KWD"):
        assert parse_amount(format_amount(minor, currency), currency) == minor


@given(st.integers(min_value=0, max_value=10**11), st.integers(min_value=0, max_value=99))
def test_written_forms_parse(whole, cents):
    if whole == 0 and cents == 0:
        return
    assert parse_amount(f"{whole}.{cents:02d}", "KES") == whole * 100 + cents
    if cents % 10 == 0:
        assert parse_amount(f"{whole}.{cents // 10}", "KES") == whole * 100 + cents


@pytest.mark.parametrize(
    ("text", "minor"),
    [("15.21", 1521), ("0.5", 50), ("1000", 100000), ("15.2100", 1521), ("0.01", 1)],
)
def test_examples(text, minor):
    assert parse_amount(text, "KES") == minor


def test_formats():
    assert format_amount(1523, "KES") == "15.23"
    assert format_amount(5, "KES") == "0.05"
    assert format_amount(500, "UGX") == "500"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("15.215", "formatError"),  # a third decimal KES cannot hold
        ("1.00001", "formatError"),  # five decimals: not the pattern
        ("-5", "negativeValue"),
        ("-5.00", "negativeValue"),
        ("0", "formatError"),
        ("0.00", "formatError"),
        ("015", "formatError"),
        ("1e3", "formatError"),
        ("", "formatError"),
        (" 5", "formatError"),
        ("5.", "formatError"),
        ("1,000", "formatError"),
        ("10000000000000", "formatError"),  # over the largest amount
        ("9" * 30, "formatError"),
    ],
)
def test_refusals(text, code):
    with pytest.raises(ApiError) as caught:
        parse_amount(text, "KES")
    assert caught.value.code == code
    assert caught.value.category.value == "validation"
    assert caught.value.parameters == {"field": "amount"}


def test_zero_decimal_currency_refuses_a_fraction():
    with pytest.raises(ApiError):
        parse_amount("5.5", "UGX")
    assert parse_amount("5.0", "UGX") == 5


@given(st.text(max_size=30))
def test_never_anything_but_an_api_error(text):
    try:
        minor = parse_amount(text, "KES")
    except ApiError as error:
        assert error.code in {"formatError", "negativeValue"}
    else:
        assert 0 < minor <= MAX_AMOUNT_MINOR
