"""SMS text encodings: GSM 03.38 (unpacked and packed septets), IA5, Latin-1, UCS-2; data_coding.

Sans-I/O and table driven: every conversion is one C-level pass (charmap codecs, str/bytes
methods); Python-level loops run only for packed septets and on the rare escape characters.

Representation: "units" are the octets that carry a text before any packing. For GSM 7-bit they are
unpacked septets (one septet per octet, an extension character is two: 0x1B then its code), which is
what SMPP data_coding 0 normally carries; for UCS-2 they are UTF-16-BE octets, so a character outside
the Basic Multilingual Plane (an emoji) is a surrogate pair of four octets.
"""

import codecs
import functools
import re
from enum import IntEnum

from smscore.errors import SMPPError

__all__ = [
    "DEFAULT_ALLOWED",
    "DEFAULT_ALPHABETS",
    "DataCoding",
    "TextDecodingError",
    "TextEncodingError",
    "alphabet_for",
    "chunk_units",
    "count_parts",
    "decode_gsm7",
    "decode_gsm7_packed",
    "decode_text",
    "encode_gsm7",
    "encode_text",
    "encode_units",
    "gsm7_septet_length",
    "is_binary_coding",
    "pack_septets",
    "part_capacity",
    "select_encoding",
    "unpack_septets",
]


class TextEncodingError(ValueError, SMPPError):
    """A text cannot be written in the requested encoding (the local caller's fault)."""


class TextDecodingError(ValueError, SMPPError):
    """Octets are not valid text for their data_coding (the remote peer's fault)."""


class DataCoding(IntEnum):
    """SMPP 3.4 data_coding values (spec 5.2.19). 0xF0-0xFF and 0x10-0x7F follow GSM 03.38 DCS."""

    SMSC_DEFAULT = 0x00
    IA5 = 0x01
    OCTET_UNSPECIFIED = 0x02
    LATIN1 = 0x03
    OCTET_UNSPECIFIED_2 = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A
    EXTENDED_KANJI_JIS = 0x0D
    KS_C_5601 = 0x0E
    GSM_FLASH = 0xF0  # GSM 7-bit, message class 0
    BINARY_CLASS_1 = 0xF5  # 8-bit data, class 1 (SIM-toolkit style payloads)


# What data_coding 0 means differs per SMSC; it is chosen in each SMSC's configuration.
DEFAULT_ALPHABETS = frozenset({"gsm7", "gsm7-packed", "latin1", "ascii"})

# --- GSM 03.38 tables ------------------------------------------------------------------------------

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(_GSM_BASIC) == 128
_ESC = 0x1B
_GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# Encoding map for codecs.charmap_encode: code point -> septet (int) or escape pair (bytes).
# 0x1B is deliberately absent: a literal ESC in a text is not a character we can send.
_GSM_ENCODE_MAP: dict[int, int | bytes] = {
    ord(ch): septet for septet, ch in enumerate(_GSM_BASIC) if septet != _ESC
}
_GSM_ENCODE_MAP.update({ord(ch): bytes((_ESC, code)) for code, ch in _GSM_EXTENSION.items()})

# Decoding table for codecs.charmap_decode: octets 0x80-0xFF are undefined (not septets).
_GSM_DECODE_TABLE = _GSM_BASIC + "\ufffe" * 128

# After the one-pass decode, each ESC plus the next character is replaced from this table.
# 3GPP TS 23.038 6.2.1.1: an escape followed by a code with no extension character shows the basic
# character; ESC ESC (reserved for another extension table) shows a space. A lone ESC at the very end
# carries no character (a sender split the pair or padded) and is dropped.
_GSM_ESCAPE_DECODE = {
    "\x1b" + ch: _GSM_EXTENSION.get(code, ch) for code, ch in enumerate(_GSM_BASIC)
}
_GSM_ESCAPE_DECODE["\x1b\x1b"] = " "
_GSM_ESCAPE_DECODE["\x1b"] = ""
_GSM_EXTENSION_PAIRS = tuple(("\x1b" + _GSM_BASIC[code], ch) for code, ch in _GSM_EXTENSION.items())
_GSM_ESCAPE_RE = re.compile("\x1b.?", re.DOTALL)


def _replace_escape(match: re.Match[str]) -> str:
    return _GSM_ESCAPE_DECODE[match.group()]


def encode_gsm7(text: str) -> bytes:
    """Text -> unpacked GSM 7-bit septets, extension characters as ESC pairs."""
    try:
        return codecs.charmap_encode(text, "strict", _GSM_ENCODE_MAP)[0]
    except UnicodeEncodeError as exc:
        raise _encoding_error(text, exc, "GSM 03.38") from None


def decode_gsm7(data: bytes, errors: str = "strict") -> str:
    """Unpacked septets -> text. Octets above 0x7F raise TextDecodingError (or U+FFFD if errors='replace')."""
    try:
        text = codecs.charmap_decode(data, errors, _GSM_DECODE_TABLE)[0]
    except UnicodeDecodeError as exc:
        raise TextDecodingError(
            f"octet 0x{data[exc.start]:02X} at {exc.start} is not a GSM septet"
        ) from None
    if "\x1b" in text:
        text = _resolve_escapes(text)
    return text


def _resolve_escapes(text: str) -> str:
    if "\x1b\x1b" not in text:  # the usual case: ten C-level replaces beat a regex callback
        for pair, char in _GSM_EXTENSION_PAIRS:
            text = text.replace(pair, char)
        if "\x1b" not in text:
            return text
    return _GSM_ESCAPE_RE.sub(_replace_escape, text)


def gsm7_septet_length(text: str) -> int:
    """Septets the text takes in GSM 7-bit (extension characters count two); raises if it does not fit."""
    return len(encode_gsm7(text))


def _encoding_error(text: str, exc: UnicodeEncodeError, alphabet: str) -> TextEncodingError:
    bad = text[exc.start]
    return TextEncodingError(
        f"character {bad!r} (U+{ord(bad):04X}) at position {exc.start} is not in the {alphabet} alphabet"
    )


# --- packed septets --------------------------------------------------------------------------------


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets 8-into-7, least significant bit first (3GPP TS 23.038 6.1.2.1.1).

    `fill_bits` (0-6) zero bits come first, so the first septet starts on a septet boundary after a
    UDH of whole octets. A final septet that leaves exactly 7 spare bits is not padded: the receiver
    needs the septet count (SMPP carries it as sm_length only for unpacked text).
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    if septets and max(septets) > 0x7F:
        raise TextEncodingError("a septet is above 0x7F")
    count = len(septets)
    groups = (count + 7) // 8
    spread = int.from_bytes(septets, "little")
    squeezed = 0
    for shift, mask in enumerate(_septet_masks(groups)):
        squeezed |= (spread >> shift) & mask  # septet j of each 8-octet group moves down j bits
    octets = bytearray(squeezed.to_bytes(8 * groups, "little"))
    del octets[7::8]  # each group now fits in 7 octets; its 8th is empty
    length = (7 * count + fill_bits + 7) // 8
    return (int.from_bytes(octets, "little") << fill_bits).to_bytes(length, "little")


def unpack_septets(data: bytes, septet_count: int, fill_bits: int = 0) -> bytes:
    """Inverse of pack_septets: the first `septet_count` septets after `fill_bits` bits."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    if septet_count < 0 or fill_bits + 7 * septet_count > 8 * len(data):
        raise TextDecodingError(
            f"{len(data)} octets cannot hold {septet_count} septets after {fill_bits} fill bits"
        )
    groups = (septet_count + 7) // 8
    bits = (int.from_bytes(data, "little") >> fill_bits) & ((1 << 56 * groups) - 1)
    packed = bits.to_bytes(7 * groups, "little")
    octets = bytearray(8 * groups)
    for index in range(7):
        octets[index::8] = packed[index::7]  # 7 octets per group, spread into 8 with room
    squeezed = int.from_bytes(octets, "little")
    spread = 0
    for shift, mask in enumerate(_septet_masks(groups)):
        spread |= (squeezed & mask) << shift
    return spread.to_bytes(8 * groups, "little")[:septet_count]


@functools.lru_cache(maxsize=64)
def _septet_masks(groups: int) -> tuple[int, ...]:
    """Per septet position j (0-7): the bits 7j..7j+6 of every 64-bit group, for `groups` groups."""
    return tuple(
        int.from_bytes((0x7F << 7 * position).to_bytes(8, "little") * groups, "little")
        for position in range(8)
    )


def decode_gsm7_packed(
    data: bytes, septet_count: int | None = None, fill_bits: int = 0, errors: str = "strict"
) -> str:
    """Packed septets -> text. Without a septet count, every whole septet is read and a final CR that
    only pads the last octet (TS 23.038 6.1.2.3.1) is dropped."""
    if septet_count is None:
        septet_count = (8 * len(data) - fill_bits) // 7
        septets = unpack_septets(data, septet_count, fill_bits)
        if (8 * len(data) - fill_bits) % 7 == 0 and septets.endswith(b"\r"):
            septets = septets[:-1]
    else:
        septets = unpack_septets(data, septet_count, fill_bits)
    return decode_gsm7(septets, errors)


# --- data_coding -> alphabet -----------------------------------------------------------------------

# Alphabet names: gsm7 | gsm7-packed | latin1 | ascii | ucs2 | binary | a Python codec name.
_SMPP_ALPHABETS = {
    0x01: "ascii",
    0x02: "binary",
    0x03: "latin1",
    0x04: "binary",
    0x06: "iso8859_5",
    0x07: "iso8859_8",
    0x08: "ucs2",
    0x0A: "iso2022_jp",
    0x0E: "euc_kr",
}
_DCS_GROUP_ALPHABETS = ("gsm7", "binary", "ucs2", None)  # GSM DCS bits 3-2


def _table_alphabet(data_coding: int) -> str | None:
    """The alphabet a data_coding value names, or None when unsupported ("default" for 0)."""
    if data_coding == 0:
        return "default"
    if data_coding < 0x10:
        return _SMPP_ALPHABETS.get(data_coding)
    if data_coding < 0x80:  # GSM DCS general data coding groups
        return None if data_coding & 0x20 else _DCS_GROUP_ALPHABETS[(data_coding >> 2) & 3]
    if 0xC0 <= data_coding < 0xE0:  # message waiting indication, GSM 7-bit
        return "gsm7"
    if 0xE0 <= data_coding < 0xF0:  # message waiting indication, UCS-2
        return "ucs2"
    if data_coding >= 0xF0:  # data coding / message class
        return "binary" if data_coding & 0x04 else "gsm7"
    return None


_ALPHABET_BY_CODING = tuple(_table_alphabet(dc) for dc in range(256))


def alphabet_for(data_coding: int, default_alphabet: str = "gsm7") -> str:
    """The alphabet of a data_coding value; `default_alphabet` says what 0 means for this SMSC."""
    if default_alphabet not in DEFAULT_ALPHABETS:
        raise ValueError(
            f"default_alphabet must be one of {sorted(DEFAULT_ALPHABETS)}, got {default_alphabet!r}"
        )
    if not 0 <= data_coding <= 0xFF:
        raise TextDecodingError(f"data_coding {data_coding} is outside 0..255")
    alphabet = _ALPHABET_BY_CODING[data_coding]
    if alphabet == "default":
        return default_alphabet
    if alphabet == "gsm7" and default_alphabet == "gsm7-packed":
        return "gsm7-packed"
    if alphabet is None:
        raise TextDecodingError(f"data_coding 0x{data_coding:02X} is not a supported text encoding")
    return alphabet


def is_binary_coding(data_coding: int) -> bool:
    """True when data_coding says the octets are data, not text (0x02, 0x04, 8-bit DCS groups)."""
    return 0 <= data_coding <= 0xFF and _ALPHABET_BY_CODING[data_coding] == "binary"


def decode_text(
    data: bytes, data_coding: int, default_alphabet: str = "gsm7", errors: str = "strict"
) -> str:
    """Octets of a short_message / message_payload (without UDH) -> text.

    Odd-length UCS-2 and lone surrogates raise TextDecodingError with errors='strict'; with
    errors='replace' they become U+FFFD. Binary data_codings raise: their octets are not text.
    """
    alphabet = alphabet_for(data_coding, default_alphabet)
    if alphabet == "gsm7":
        return decode_gsm7(data, errors)
    if alphabet == "gsm7-packed":
        return decode_gsm7_packed(data, errors=errors)
    if alphabet == "binary":
        raise TextDecodingError(f"data_coding 0x{data_coding:02X} carries binary data, not text")
    codec = "utf-16-be" if alphabet == "ucs2" else alphabet
    try:
        return data.decode(codec, errors)
    except UnicodeDecodeError as exc:
        raise TextDecodingError(
            f"invalid {alphabet} text for data_coding 0x{data_coding:02X}: {exc.reason} at octet {exc.start}"
        ) from None


def encode_units(text: str, alphabet: str) -> bytes:
    """Text -> units (see module doc) in gsm7 / gsm7-packed (unpacked here) / latin1 / ascii / ucs2."""
    if alphabet in ("gsm7", "gsm7-packed"):
        return encode_gsm7(text)
    codec = "utf-16-be" if alphabet == "ucs2" else alphabet
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise _encoding_error(text, exc, alphabet) from None
    except LookupError:
        raise TextEncodingError(f"cannot encode text as {alphabet!r}") from None


# --- sizes of SMS parts ----------------------------------------------------------------------------

# Units per SMS: a single SMS has no UDH; a concatenated part loses 6 octets (udh8, also used for SAR
# because the SMSC adds that UDH on the air interface) or 7 octets (udh16). GSM units are septets.
_CAPACITY = {
    "gsm7": {"single": 160, "udh8": 153, "udh16": 152},
    "octets": {"single": 140, "udh8": 134, "udh16": 133},
    "ucs2": {"single": 140, "udh8": 134, "udh16": 132},  # whole UTF-16 code units
}
_CAPACITY_METHOD = {"udh8": "udh8", "udh16": "udh16", "sar": "udh8", "payload": "udh8"}


def part_capacity(alphabet: str, method: str, single: bool) -> int:
    """Units that fit in one SMS (single=True) or in one part of a message split with `method`."""
    kind = alphabet if alphabet in ("ucs2", "gsm7") else "octets"
    if alphabet == "gsm7-packed":
        kind = "gsm7"
    return _CAPACITY[kind]["single" if single else _CAPACITY_METHOD[method]]


def chunk_units(units: bytes, alphabet: str, limit: int) -> list[bytes]:
    """Cut units into pieces of at most `limit`, never inside a GSM escape pair or a surrogate pair."""
    if alphabet == "ucs2":
        limit -= limit % 2
    chunks = []
    start = 0
    end_of_text = len(units)
    while start < end_of_text:
        cut = min(start + limit, end_of_text)
        if cut < end_of_text:
            cut -= _pair_overhang(units, alphabet, cut)
        chunks.append(units[start:cut])
        start = cut
    return chunks


def _pair_overhang(units: bytes, alphabet: str, cut: int) -> int:
    """How many units before `cut` start a pair that `cut` would split (0 if none)."""
    if alphabet in ("gsm7", "gsm7-packed"):
        # The second octet of a pair is an extension code, never 0x1B, so a 0x1B here opens a pair.
        return 1 if units[cut - 1] == _ESC else 0
    if alphabet == "ucs2":
        return 2 if 0xD8 <= units[cut - 2] <= 0xDB else 0
    return 0


def count_parts(units: bytes, alphabet: str, method: str) -> int:
    """Number of SMS a text of these units takes when split with `method` (payload is always 1)."""
    if len(units) <= part_capacity(alphabet, method, single=True):
        return 1
    if method == "payload":
        return 1
    return len(chunk_units(units, alphabet, part_capacity(alphabet, method, single=False)))


# --- encoding choice -------------------------------------------------------------------------------

DEFAULT_ALLOWED = (DataCoding.SMSC_DEFAULT, DataCoding.LATIN1, DataCoding.UCS2)
_CANDIDATE_ORDER = (DataCoding.SMSC_DEFAULT, DataCoding.IA5, DataCoding.LATIN1, DataCoding.UCS2)


def select_encoding(
    text: str,
    data_coding: int | None = None,
    allowed: tuple[int, ...] = DEFAULT_ALLOWED,
    default_alphabet: str = "gsm7",
    method: str = "udh8",
) -> tuple[int, str, bytes]:
    """(data_coding, alphabet, units) for a text; see encode_text for how the coding is chosen."""
    if data_coding is not None:
        alphabet = alphabet_for(data_coding, default_alphabet)
        if alphabet == "binary":
            raise TextEncodingError(f"data_coding 0x{data_coding:02X} is binary; send octets")
        return data_coding, alphabet, encode_units(text, alphabet)
    best: tuple[int, int, str, bytes] | None = None
    for candidate in _CANDIDATE_ORDER:
        if candidate not in allowed and candidate != DataCoding.UCS2:
            continue
        if candidate == DataCoding.UCS2 and best is not None and best[2].startswith("gsm7"):
            break  # see _nothing_cheaper_follows
        alphabet = alphabet_for(candidate, default_alphabet)
        try:
            units = encode_units(text, alphabet)
        except TextEncodingError:
            continue
        parts = count_parts(units, alphabet, method)
        if best is None or parts < best[0]:
            best = (parts, int(candidate), alphabet, units)
        if parts == 1 or _nothing_cheaper_follows(alphabet, units, text):
            break
    if best is None:  # only a str holding lone surrogates fails even UCS-2
        raise TextEncodingError("text contains a lone surrogate; no encoding can carry it")
    return best[1], best[2], best[3]


def _nothing_cheaper_follows(alphabet: str, units: bytes, text: str) -> bool:
    """Whether no later candidate can take fewer parts than this GSM 7-bit text (ties go earlier).

    Latin-1/IA5 carry 134 characters per part against GSM's 153, so they can only win when escape
    pairs inflate the GSM length; UCS-2 (67 BMP characters per part) never wins against GSM, whose
    characters take at most two septets (76 characters per part).
    """
    return alphabet.startswith("gsm7") and len(units) == len(text)


def encode_text(
    text: str,
    data_coding: int | None = None,
    allowed: tuple[int, ...] = DEFAULT_ALLOWED,
    default_alphabet: str = "gsm7",
    method: str = "udh8",
) -> tuple[int, bytes]:
    """Text -> (data_coding, octets); packed GSM comes back packed, everything else as units.

    With data_coding None, the allowed encoding that takes the fewest SMS parts (when split with
    `method`) wins; ties go to the SMSC default, then IA5, then Latin-1, then UCS-2 (widest handset
    support first). UCS-2 is the last resort even when not listed, because every text fits it.
    """
    chosen, alphabet, units = select_encoding(text, data_coding, allowed, default_alphabet, method)
    return chosen, pack_septets(units) if alphabet == "gsm7-packed" else units
