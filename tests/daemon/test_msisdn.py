"""Subscriber numbers: parsed, validated and shown with libphonenumber for the configured region."""

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon import replies
from daemon.commands import ParseEnv
from daemon.commands.msisdn import (
    CACHE_MAX_ENTRIES,
    MsisdnError,
    Numbering,
    _parse,
    display_msisdn,
    is_msisdn,
    normalize_msisdn,
)
from tests.daemon.test_commands import send_registry

KE = Numbering("KE")
REASONS = ("not_digits", "wrong_length", "too_long", "foreign", "invalid")


@pytest.mark.parametrize(
    "written",
    [
        "0712345678",
        "0712 345 678",
        "0712-345-678",
        "712345678",
        "+254712345678",
        "+254 712 345 678",
        "254712345678",
        "00254712345678",  # 00: the international prefix people write
        "000254712345678",  # 000: Kenya's own
        "  0712345678 ",
    ],
)
def test_every_usual_form_is_one_number(written):
    assert normalize_msisdn(written, KE) == "254712345678"
    assert is_msisdn(written, KE)


@pytest.mark.parametrize(
    ("written", "digits"),
    [
        ("0110 000 001", "254110000001"),  # the newer 01xx mobile range
        ("020 1234567", "254201234567"),  # a Nairobi fixed line
    ],
)
def test_other_valid_numbers_of_the_region(written, digits):
    assert normalize_msisdn(written, KE) == digits


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("", "not_digits"),
        ("0712a45678", "not_digits"),
        (
            "\u0660\u0667\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
            "not_digits",
        ),  # other digits
        ("0712345678 ext 5", "not_digits"),
        ("tel:+254712345678", "not_digits"),
        ("0712 FLOWERS", "not_digits"),  # phonenumbers alone would read letters as a keypad
        ("0712", "wrong_length"),
        ("071234567890", "wrong_length"),
        ("0" * 40, "too_long"),
        ("+447911123456", "foreign"),
        ("00447911123456", "foreign"),
        ("+255712345678", "foreign"),
        ("012345678", "invalid"),  # a possible length, but no such range
        ("0800221234", "invalid"),  # toll-free: valid, but no subscriber behind it
        ("0900223456", "invalid"),  # premium rate
        ("+0712345678", "invalid"),
    ],
)
def test_refusals_name_the_reason(written, reason):
    with pytest.raises(MsisdnError) as raised:
        normalize_msisdn(written, KE)
    assert raised.value.reason == reason
    assert not is_msisdn(written, KE)


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_has_a_reply_in_every_language(reason):
    for language in replies.LANGUAGES:
        assert replies.render(language, f"reason_{reason}") != f"reason_{reason}"


def test_a_shared_country_code_is_still_one_country():
    us = Numbering("US")
    assert normalize_msisdn("201 555 0123", us) == "12015550123"  # New Jersey
    with pytest.raises(MsisdnError, match="foreign"):
        normalize_msisdn("+1 416 555 0123", us)  # Toronto: +1, but Canada


def test_the_region_decides_what_a_national_number_means():
    tanzania = Numbering("TZ")
    assert tanzania.country_code == "255"
    assert normalize_msisdn("0712345678", tanzania) == "255712345678"
    with pytest.raises(MsisdnError, match="foreign"):
        normalize_msisdn("+254712345678", tanzania)


@pytest.mark.parametrize("region", ["XX", "ke", "", "KEN", "001"])
def test_an_unknown_region_is_refused(region):
    with pytest.raises(ValueError, match="unknown region"):
        Numbering(region)


def test_numbering_knows_the_longest_written_number():
    assert KE.country_code == "254"
    assert KE.max_written_digits == len("000254") + 10  # 000, 254, 10-digit national numbers


@pytest.mark.parametrize(
    ("msisdn", "shown"),
    [
        ("254712345678", "0712 345678"),
        ("254201234567", "020 1234567"),
        ("447911123456", "+44 7911 123456"),  # another country's: international format
        ("SAFARICOM", "SAFARICOM"),  # an alphanumeric sender
        ("12", "12"),
    ],
)
def test_display_is_as_people_write_it(msisdn, shown):
    assert display_msisdn(msisdn, KE) == shown


def test_parses_are_cached_and_the_cache_is_bounded():
    _parse.cache_clear()
    normalize_msisdn("0712 345 678", KE)
    normalize_msisdn("0712-345678", KE)  # the same digits: one entry
    info = _parse.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 1, CACHE_MAX_ENTRIES)


# --- properties

# Valid Kenyan mobile numbers, from libphonenumber's own pattern (ASCII digits: \d is Unicode).
ke_mobile = st.from_regex(
    re.compile(phonenumbers.PhoneMetadata.metadata_for_region("KE").mobile.national_number_pattern, re.ASCII),
    fullmatch=True,
)  # fmt: skip
prefixes = st.sampled_from(["0", "", "+254", "254", "00254", "000254"])


def _grouped(written: str, cuts: list[int], separators: list[str]) -> str:
    pieces, start = [], 0
    for cut in sorted(set(cuts)):
        pieces.append(written[start:cut])
        start = cut
    pieces.append(written[start:])
    pieces = [piece for piece in pieces if piece]
    joins = zip(separators, pieces[1:], strict=False)  # empty pieces were dropped: fewer joins
    return pieces[0] + "".join(sep + piece for sep, piece in joins)


@given(
    ke_mobile,
    prefixes,
    st.lists(st.integers(1, 14), max_size=5),
    st.lists(st.sampled_from([" ", "-", "  ", " - "]), min_size=5, max_size=5),
)
def test_a_mobile_number_in_any_form_and_grouping_is_one_number(national, prefix, cuts, seps):
    written = _grouped(prefix + national, cuts, seps)
    assert normalize_msisdn(written, KE) == "254" + national
    assert normalize_msisdn("254" + national, KE) == "254" + national  # idempotent


@given(ke_mobile, prefixes, st.lists(st.integers(1, 14), min_size=1, max_size=4))
def test_a_grouped_number_in_a_command_leaves_the_amount_alone(national, prefix, cuts):
    written = _grouped(prefix + national, cuts, [" "] * 4)
    parsed = send_registry().parse(f"SEND {written} 25 1234", ParseEnv(KE))
    assert parsed.args.to == "254" + national
    assert parsed.args.amount == 2500


digit_strings = st.text(alphabet="0123456789", max_size=24)


@settings(max_examples=400)
@given(st.one_of(digit_strings, st.builds("+{}".format, digit_strings), st.text(max_size=30)))
def test_random_input_is_a_number_or_a_msisdn_error(text):
    try:
        digits = normalize_msisdn(text, KE)
    except MsisdnError as exc:
        assert exc.reason in REASONS
    else:
        assert digits.startswith("254") and digits.isdigit()
        assert normalize_msisdn("+" + digits, KE) == digits
