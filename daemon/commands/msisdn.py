"""Subscriber numbers (MSISDNs): every way people write one, normalised to international digits.

With country code 254 and 9-digit national numbers, `0712345678`, `712345678`, `+254712345678`,
`00254712345678` and `254712345678` all become `254712345678`. Only numbers of the configured country
are accepted: mobile money here moves between wallets in one country.
"""

import re
from dataclasses import dataclass

_DIGITS = re.compile(r"[0-9]+")
E164_MAX_DIGITS = 15


class MsisdnError(ValueError):
    """Not a subscriber number of the configured country; `reason` says why, for the reply."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Numbering:
    """The national numbering plan: country code and the digit counts a national number may have."""

    country_code: str = "254"
    national_digits: tuple[int, ...] = (9,)

    def __post_init__(self) -> None:
        if not _DIGITS.fullmatch(self.country_code) or self.country_code.startswith("0"):
            raise ValueError(
                f"country code must be digits not starting with 0: {self.country_code!r}"
            )
        longest = len(self.country_code) + max(self.national_digits)
        if longest > E164_MAX_DIGITS or min(self.national_digits) < 1:
            raise ValueError(f"national number lengths {self.national_digits} do not fit E.164")

    @property
    def max_written_digits(self) -> int:
        """The longest digit string that can still be a number ("00" + country code + national)."""
        return 2 + len(self.country_code) + max(self.national_digits)


def normalize_msisdn(written: str, numbering: Numbering) -> str:
    """International digits (no '+') for a number written in any usual form; MsisdnError if it is not one."""
    text = written.strip().replace(" ", "").replace("-", "")
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not _DIGITS.fullmatch(digits):
        raise MsisdnError("not_digits")
    if len(digits) > numbering.max_written_digits:
        raise MsisdnError("too_long")
    national = _national_part(digits, plus, numbering)
    if national is None:
        raise MsisdnError("wrong_length")
    if national.startswith("0"):
        raise MsisdnError("wrong_length")
    return numbering.country_code + national


def _national_part(digits: str, plus: bool, numbering: Numbering) -> str | None:
    cc = numbering.country_code
    lengths = numbering.national_digits
    if plus or digits.startswith("00"):
        international = digits if plus else digits[2:]
        if not international.startswith(cc):
            raise MsisdnError("foreign")
        national = international[len(cc) :]
        return national if len(national) in lengths else None
    if digits.startswith(cc) and len(digits) - len(cc) in lengths:
        return digits[len(cc) :]
    if digits.startswith("0") and len(digits) - 1 in lengths:
        return digits[1:]
    return digits if len(digits) in lengths else None


def is_msisdn(written: str, numbering: Numbering) -> bool:
    try:
        normalize_msisdn(written, numbering)
    except MsisdnError:
        return False
    return True
