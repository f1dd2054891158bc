"""Text encodings: GSM 03.38 (unpacked/packed), IA5, Latin-1, UCS-2, data_coding and encoding choice."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscore.concat import split_message
from smscore.constants import EsmClass
from smscore.text import (
    DataCoding,
    TextDecodingError,
    TextEncodingError,
    alphabet_for,
    decode_gsm7,
    decode_gsm7_packed,
    decode_text,
    encode_gsm7,
    encode_text,
    gsm7_septet_length,
    is_binary_coding,
    pack_septets,
    unpack_septets,
)
from tests.interop import INTEROP_PATH

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"
GSM_CHARS = GSM_BASIC + GSM_EXTENSION
ARABIC = "".join(chr(c) for c in range(0x0621, 0x064B))
EMOJI = "😀😂🙏🇰🇪💰"

gsm_text = st.text(alphabet=GSM_CHARS)
latin1_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF))
ascii_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F))
# Any text a str can hold on the wire: everything except lone surrogates.
any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)))
mixed_text = st.text(alphabet=st.sampled_from(GSM_CHARS + ARABIC + EMOJI + "ñçű"))

INTEROP = INTEROP_PATH


def test_gsm_table_has_128_basic_and_10_extension_characters():
    assert len(GSM_BASIC) == 127  # plus ESC at 0x1B
    assert encode_gsm7(GSM_BASIC) == bytes(b for b in range(128) if b != 0x1B)
    assert encode_gsm7(GSM_EXTENSION) == bytes.fromhex("1b141b281b291b2f1b3c1b3d1b3e1b401b651b0a")


@given(gsm_text)
def test_gsm7_unpacked_round_trip(text):
    data = encode_gsm7(text)
    assert decode_gsm7(data) == text
    assert gsm7_septet_length(text) == len(text) + sum(text.count(c) for c in GSM_EXTENSION)


@pytest.mark.parametrize("char", ["`", "ç", "ű", "😀", "\x1b", "\t", "ع"])
def test_gsm7_rejects_characters_outside_the_alphabet_with_typed_error(char):
    with pytest.raises(TextEncodingError, match=r"position 2") as err:
        encode_gsm7("ab" + char)
    assert isinstance(err.value, ValueError)


def test_gsm7_decode_tolerates_trailing_lone_escape_and_unknown_escapes():
    assert decode_gsm7(b"ab\x1b") == "ab"
    assert decode_gsm7(b"\x1bA") == "A"  # no extension char at 0x41: the basic one is shown
    assert decode_gsm7(b"\x1b\x1b(") == " ("  # ESC ESC shows a space, then '(' is a basic char
    assert decode_gsm7(b"\x1b\x1b\x1b(") == " {"


def test_gsm7_decode_rejects_octets_above_0x7f():
    with pytest.raises(TextDecodingError, match="0x80 at 1"):
        decode_gsm7(b"a\x80")
    assert decode_gsm7(b"a\x80", errors="replace") == "a\ufffd"


@given(st.binary().map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_pack_unpack_septets_round_trip_with_fill_bits(septets, fill_bits):
    packed = pack_septets(septets, fill_bits)
    assert len(packed) == (7 * len(septets) + fill_bits + 7) // 8
    assert unpack_septets(packed, len(septets), fill_bits) == septets
    if packed:
        assert packed[0] & ((1 << fill_bits) - 1) == 0  # the fill bits are zero


def test_pack_septets_known_vector():
    # 3GPP TS 23.038's classic example: "hellohello" packs to E8329BFD4697D9EC37.
    assert pack_septets(encode_gsm7("hellohello")).hex().upper() == "E8329BFD4697D9EC37"
    # After a 6-octet UDH one fill bit aligns the first septet.
    assert pack_septets(b"\x01", 1) == b"\x02"


def test_unpack_septets_rejects_counts_the_data_cannot_hold():
    with pytest.raises(TextDecodingError):
        unpack_septets(b"\x00" * 7, 9)
    with pytest.raises(ValueError):
        pack_septets(b"a", 7)
    with pytest.raises(TextEncodingError):
        pack_septets(b"\x80")


@given(gsm_text)
def test_packed_decode_without_count_drops_padding_cr(text):
    data = pack_septets(encode_gsm7(text))
    decoded = decode_gsm7_packed(data)
    # Without a count, 8 septets in 7 octets are ambiguous with 7 + zero bits ('@'); the spec's CR pad
    # resolves it, and a sender that did not pad leaves a trailing '@'. A text whose own last septet
    # is a CR at the eighth position of an octet group reads as padding (23.038 6.1.2.3.1 says so).
    ends_like_padding = text.endswith("\r") and gsm7_septet_length(text) % 8 == 0
    assert decoded in (text, text + "@") or (ends_like_padding and decoded == text[:-1])
    assert decode_gsm7_packed(data, septet_count=gsm7_septet_length(text)) == text


def test_packed_decode_strips_cr_pad_on_octet_boundary():
    assert decode_gsm7_packed(pack_septets(encode_gsm7("1234567\r"))) == "1234567"


@pytest.mark.parametrize(
    ("coding", "strategy"),
    [
        (DataCoding.LATIN1, latin1_text),
        (DataCoding.IA5, ascii_text),
        (DataCoding.UCS2, any_text),
        (DataCoding.SMSC_DEFAULT, gsm_text),
        (0xF0, gsm_text),
        (0x18, any_text),
    ],
)
def test_encode_decode_round_trip_each_coding(coding, strategy):
    @given(strategy)
    def check(text):
        chosen, data = encode_text(text, data_coding=coding)
        assert chosen == coding
        assert decode_text(data, coding) == text

    check()


@pytest.mark.parametrize("default_alphabet", ["gsm7", "gsm7-packed", "latin1", "ascii"])
def test_data_coding_zero_follows_smsc_default_alphabet(default_alphabet):
    text = "Hello 123"
    coding, data = encode_text(text, data_coding=0, default_alphabet=default_alphabet)
    assert coding == 0
    assert decode_text(data, 0, default_alphabet) == text
    if default_alphabet == "gsm7-packed":
        assert len(data) == 8  # 9 septets packed
    assert decode_text(b"\xe9", 0, "latin1") == "é"


def test_ucs2_surrogate_pairs_and_odd_length():
    assert encode_text("😀", data_coding=8) == (8, b"\xd8\x3d\xde\x00")
    assert decode_text(b"\xd8\x3d\xde\x00", 8) == "😀"
    # Odd length is the peer's fault: strict raises a typed error, 'replace' keeps what it can.
    with pytest.raises(TextDecodingError, match="ucs2"):
        decode_text(b"\x00A\x00", 8)
    assert decode_text(b"\x00A\x00", 8, errors="replace") == "A\ufffd"
    with pytest.raises(TextDecodingError):
        decode_text(b"\xd8\x3d\x00A", 8)  # lone high surrogate


def test_binary_and_unsupported_codings_are_typed_errors():
    assert is_binary_coding(2) and is_binary_coding(4) and is_binary_coding(0xF5)
    assert not is_binary_coding(0) and not is_binary_coding(8)
    with pytest.raises(TextDecodingError, match="binary"):
        decode_text(b"\x01\x02", 4)
    with pytest.raises(TextDecodingError, match="not a supported"):
        decode_text(b"x", 0x09)
    with pytest.raises(TextDecodingError, match="outside"):
        decode_text(b"x", 300)
    with pytest.raises(ValueError, match="default_alphabet"):
        alphabet_for(0, "ebcdic")
    with pytest.raises(TextEncodingError, match="binary"):
        encode_text("x", data_coding=4)


@pytest.mark.parametrize(
    ("text", "allowed", "expected"),
    [
        ("BAL 1234", (0, 3, 8), 0),
        ("PAY {KPLC} €", (0, 3, 8), 0),  # extension chars are still GSM
        ("Ça va? ç", (0, 3, 8), 3),  # 'ç' is not GSM, is Latin-1
        ("Ça va? ç", (0, 8), 8),  # Latin-1 not allowed by this SMSC
        ("Tuma pesa 😀", (0, 3, 8), 8),
        ("مرحبا", (0, 3, 8), 8),
        ("€ ç", (0, 3, 8), 8),  # neither GSM ('ç') nor Latin-1 ('€')
        ("{" * 100, (0, 3, 8), 3),  # 200 septets = 2 SMS in GSM, 100 octets = 1 in Latin-1
        ("{" * 70, (0, 3, 8), 0),  # 140 septets: one SMS either way, GSM wins the tie
        ("ab", (3, 8), 3),
        ("ab", (8,), 8),
        ("ab", (1, 8), 1),
    ],
)
def test_cheapest_encoding_choice(text, allowed, expected):
    coding, data = encode_text(text, allowed=allowed)
    assert coding == expected
    assert decode_text(data, coding) == text


@given(mixed_text)
def test_auto_encoding_always_round_trips(text):
    coding, data = encode_text(text)
    assert decode_text(data, coding) == text
    if all(c in GSM_CHARS for c in text) and len(text) < 70:
        assert coding == 0


@given(
    st.text(alphabet=st.sampled_from(GSM_CHARS[:20] + GSM_EXTENSION + "çñű😀"), max_size=400),
    st.sampled_from(("udh8", "udh16", "sar")),
)
def test_chosen_encoding_takes_no_more_parts_than_any_alternative(text, method):
    coding, _ = encode_text(text, method=method)
    chosen_parts = len(split_message(text, method, 1, data_coding=coding))
    for alternative in (0, 3, 8):
        try:
            encode_text(text, data_coding=alternative)
        except TextEncodingError:
            continue
        assert chosen_parts <= len(split_message(text, method, 1, data_coding=alternative))


def test_lone_surrogate_cannot_be_encoded():
    with pytest.raises(TextEncodingError):
        encode_text("a\ud800")


def _interop_short_messages(scenario):
    for line in INTEROP.read_text().splitlines():
        record = json.loads(line)
        fields = record["fields_decoded_by_node_smpp"]
        if (
            record["scenario"] == scenario
            and record["command"] == "deliver_sm"
            and "_text" in fields
        ):
            yield fields


def test_interop_mo_texts_decode_like_node_smpp():
    checked = 0
    for fields in _interop_short_messages("mo-udh"):
        data = bytes.fromhex(fields["short_message"]["hex"])
        if fields["esm_class"] & EsmClass.UDHI:
            data = data[1 + data[0] :]  # node-smpp's _text is the text after the UDH
        assert decode_text(data, fields["data_coding"]) == fields["_text"]
        checked += 1
    assert checked >= 8
