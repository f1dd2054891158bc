"""Subscriber numbers (MSISDNs): every way people write one, normalised to international digits.

The numbering plan is libphonenumber's (the `phonenumbers` package) for the configured region. In
region KE, `0712345678`, `712345678`, `+254712345678`, `00254712345678` and `254712345678` all become
`254712345678`. Only valid mobile or fixed-line numbers of the region itself are accepted: mobile
money here moves between wallets in one country.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import ValidationResult as Possible

_DIGITS = re.compile(r"[0-9]+")
_SEPARATORS = str.maketrans("", "", " -")
E164_MAX_DIGITS = 15
# Longest international prefix counted when the region's is a pattern rather than fixed digits.
_PREFIX_MAX_DIGITS = 4
_ACCEPTED_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_WRONG_LENGTH = frozenset({Possible.TOO_SHORT, Possible.TOO_LONG, Possible.INVALID_LENGTH})
# Senders repeat (a conversation, YES <code>, the same few thousand active phones): the TranProc
# normalises every sender, so parses are cached (a miss costs ~25 us, a hit ~1 us). Bounded: full,
# the cache holds about 10 MB, however many distinct numbers arrive.
CACHE_MAX_ENTRIES = 1 << 15
DISPLAY_CACHE_MAX_ENTRIES = 1 << 12  # replies name few numbers; formatting is the cheaper part


class MsisdnError(ValueError):
    """Not a subscriber number of the configured region; `reason` says why, for the reply."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Numbering:
    """The national numbering plan of one region (ISO 3166 alpha-2, as libphonenumber knows it)."""

    region: str = "KE"
    country_code: str = field(init=False, repr=False, compare=False)  # "254" for KE
    max_written_digits: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {self.region!r} (ISO 3166 alpha-2, e.g. KE)")
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(self.region)
        country_code = str(metadata.country_code)
        object.__setattr__(self, "country_code", country_code)
        object.__setattr__(self, "max_written_digits", _max_written_digits(metadata, country_code))


def _max_written_digits(metadata: phonenumbers.PhoneMetadata, country_code: str) -> int:
    """The longest digit string that can still be a number: international prefix, country code and
    the longest national number (MsisdnType stops joining digit groups past it)."""
    prefix = metadata.international_prefix or ""
    prefix_digits = len(prefix) if _DIGITS.fullmatch(prefix) else _PREFIX_MAX_DIGITS
    national = max(metadata.general_desc.possible_length or (E164_MAX_DIGITS - len(country_code),))
    return max(2, prefix_digits) + len(country_code) + national


def normalize_msisdn(written: str, numbering: Numbering) -> str:
    """International digits (no '+') for a number written in any usual form; MsisdnError if it is not one."""
    digits, reason = _parse(written.strip().translate(_SEPARATORS), numbering)
    if reason:
        raise MsisdnError(reason)
    return digits


def is_msisdn(written: str, numbering: Numbering) -> bool:
    return not _parse(written.strip().translate(_SEPARATORS), numbering)[1]


@lru_cache(maxsize=CACHE_MAX_ENTRIES)
def is_mobile(msisdn: str) -> bool:
    """Whether an international number (as normalize_msisdn gives it) is a mobile line, or one
    libphonenumber cannot tell from a mobile: airtime can be bought only for those."""
    try:
        number = phonenumbers.parse("+" + msisdn, None)
    except NumberParseException:
        return False
    kind = phonenumbers.number_type(number)
    return kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def display_msisdn(msisdn: str, numbering: Numbering) -> str:
    """A number as people of the region write it ("0712 345678" in KE); another country's in
    international format; anything that is not a number (an alphanumeric sender) as it is."""
    return _display(msisdn, numbering.region)


@lru_cache(maxsize=CACHE_MAX_ENTRIES)
def _parse(text: str, numbering: Numbering) -> tuple[str, str]:
    """(international digits, "") or ("", reason). Only ASCII digits and a leading '+' count:
    phonenumbers would also read letters (vanity numbers), other scripts' digits and extensions."""
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not _DIGITS.fullmatch(digits):
        return "", "not_digits"
    if len(digits) > numbering.max_written_digits:
        return "", "too_long"
    region = numbering.region
    digits_reason = _classify("+" + digits if plus else digits, region)
    if digits_reason[1] and not plus and digits.startswith("00"):
        # 00 is the international prefix almost everywhere; phonenumbers knows only the region's
        # own (Kenya's is 000), so "00254…" would otherwise be read as a national number.
        return _classify("+" + digits[2:], region)
    return digits_reason


def _classify(text: str, region: str) -> tuple[str, str]:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        too_long = exc.error_type == NumberParseException.TOO_LONG
        return "", "too_long" if too_long else "invalid"
    if number.country_code != phonenumbers.country_code_for_region(region):
        return "", "foreign"
    kind = phonenumbers.number_type(number)  # UNKNOWN unless valid: one pass of the patterns
    if kind == PhoneNumberType.UNKNOWN:
        possible = phonenumbers.is_possible_number_with_reason(number)
        return "", "wrong_length" if possible in _WRONG_LENGTH else "invalid"
    if phonenumbers.region_code_for_number(number) != region:
        return "", "foreign"  # the same country code, another country (+1: the US and Canada)
    if kind not in _ACCEPTED_TYPES:
        return "", "invalid"  # toll-free, premium rate, shared cost...: no wallet behind them
    return f"{number.country_code}{phonenumbers.national_significant_number(number)}", ""


@lru_cache(maxsize=DISPLAY_CACHE_MAX_ENTRIES)
def _display(msisdn: str, region: str) -> str:
    if not _DIGITS.fullmatch(msisdn):
        return msisdn
    try:
        number = phonenumbers.parse("+" + msisdn, None)
    except NumberParseException:
        return msisdn
    if not phonenumbers.is_valid_number(number):
        return msisdn
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
