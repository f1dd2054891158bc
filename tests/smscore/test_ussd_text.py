"""A USSD screen's text (smscore.ussd.encode_ussd_text): one USSD string, never truncated."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscore.text import decode_text
from smscore.ussd import MAX_GSM7_SEPTETS, UssdTextTooLong, encode_ussd_text

GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"


def test_182_gsm_characters_fit_and_183_do_not():
    coding, octets = encode_ussd_text("1" * MAX_GSM7_SEPTETS)
    assert coding == 0 and octets == b"1" * 182
    with pytest.raises(UssdTextTooLong, match="183 characters; at most 182"):
        encode_ussd_text("1" * 183)


def test_an_extension_character_takes_two_septets():
    encode_ussd_text("€" * 91)
    with pytest.raises(UssdTextTooLong):
        encode_ussd_text("€" * 92)


def test_a_text_outside_gsm_goes_as_ucs2_up_to_80_units():
    coding, octets = encode_ussd_text("Ω中" * 40)
    assert coding == 8 and len(octets) == 160
    with pytest.raises(UssdTextTooLong, match="81 UCS-2 units; at most 80"):
        encode_ussd_text("中" * 81)


def test_packed_gsm_is_packed():
    coding, octets = encode_ussd_text("1" * 182, default_alphabet="gsm7-packed")
    assert coding == 0 and len(octets) == 160


@given(st.text(GSM_BASIC, max_size=MAX_GSM7_SEPTETS) | st.text(max_size=80))
def test_what_fits_decodes_back_to_the_same_text(text):
    try:
        coding, octets = encode_ussd_text(text)
    except UssdTextTooLong:
        return
    assert decode_text(octets, coding) == text
