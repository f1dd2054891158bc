"""What the parser reads and what may be kept of a message: normalised text, suspected PINs masked.

Phones send commands in many shapes: fullwidth letters and digits (East Asian keyboards), digits
of other scripts (`BAL ١٢٣٤`), stray control characters from a SIM application (`BAL\\x001234`).
`normalise_text` makes them one plain form before parsing, so such a PIN is accepted and, when the
message does not parse, recognised and masked by `mask_pins` before anything is stored, logged or
replied.
"""

import re
import unicodedata

PIN_MASK = "****"
# A run of 4-6 digits not inside a longer run: what a PIN looks like wherever it is typed
# (`BAL1234`, `Bal:1234`, `pin=123456`). Longer runs are phone numbers or amounts.
_SUSPECTED_PIN = re.compile(r"(?<![0-9])[0-9]{4,6}(?![0-9])")
_WHITESPACE = " \t\n\r\x0b\x0c"
# ASCII controls that are not whitespace vanish; whitespace becomes a plain space.
_ASCII_CLEAN = {
    **{code: None for code in (*range(0x20), 0x7F) if chr(code) not in _WHITESPACE},
    **{ord(c): " " for c in _WHITESPACE},
}
_NON_ASCII_DIGIT = re.compile(r"(?![0-9])\d")  # str patterns: \d is every Unicode decimal digit
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def normalise_text(text: str) -> str:
    """NFKC, every decimal digit as ASCII, control and format characters dropped, words separated
    by single spaces."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = _NON_ASCII_DIGIT.sub(_ascii_digit, text)
        text = "".join(_visible(c) for c in text)
    return " ".join(text.translate(_ASCII_CLEAN).split())


def _ascii_digit(match: re.Match[str]) -> str:
    return str(unicodedata.decimal(match[0]))


def _visible(char: str) -> str:
    if char.isascii():
        return char
    if char.isspace():
        return " "
    return "" if unicodedata.category(char) in _INVISIBLE_CATEGORIES else char


def mask_pins(text: str) -> str:
    """`text` with every run of digits that could be a PIN replaced by ****."""
    return _SUSPECTED_PIN.sub(PIN_MASK, text)
