"""Long SMS: splitting (udh8, udh16, sar, payload), parsing incoming parts, reassembly and expiry."""

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from smscore.concat import (
    ConcatError,
    ConcatInfo,
    MessagePart,
    Reassembler,
    concat_info,
    split_message,
)
from smscore.constants import EsmClass
from smscore.text import (
    DataCoding,
    chunk_units,
    decode_text,
    encode_gsm7,
    encode_text,
    unpack_septets,
)
from tests.interop import INTEROP_PATH

GSM_CHARS = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)
METHODS = ("udh8", "udh16", "sar", "payload")
REFERENCE = {"udh8": 0xAB, "udh16": 0xBEEF, "sar": 0x1234, "payload": None}
INTEROP = INTEROP_PATH
LONG_MO = (
    "This is a long message that goes on past the one hundred and sixty character limit of a single"
    " GSM short message so the SMSC must split it into two concatenated parts with a UDH header."
)

texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(GSM_CHARS),
        st.sampled_from("ñçűعربي😀🙏"),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=900,
)


def reassemble(
    parts, key=("254712000001", "12345", "bind-a"), shuffle_seed=0, default_alphabet="gsm7"
):
    """Feed parts (shuffled, each twice) through concat_info + Reassembler; return the decoded text."""
    reassembler = Reassembler(Clock())
    fed = [*parts, *parts]
    random.Random(shuffle_seed).shuffle(fed)
    results = []
    for part in fed:
        esm_class = EsmClass.UDHI if part.esm_class_udhi else 0
        info, body = concat_info(esm_class, part.short_message, part.tlvs)
        if info is None:
            results.append(body)
            continue
        whole = reassembler.add(key, info, body)
        if whole is not None:
            results.append(whole)
    assert reassembler.pending_count == 0
    assert len({bytes(r) for r in results}) == 1
    return decode_text(results[0], parts[0].data_coding, default_alphabet)


@given(texts, st.sampled_from(METHODS), st.integers(0, 2**16))
def test_split_then_reassemble_in_any_order_with_duplicates(text, method, seed):
    parts = split_message(text, method, REFERENCE[method])
    assert 1 <= len(parts) <= 255
    assert len({p.data_coding for p in parts}) == 1
    for part in parts:
        body_octets = len(part.short_message)
        assert body_octets <= (
            159 if part.data_coding == 0 else 140
        )  # unpacked GSM: 1 octet/septet
    assert reassemble(parts, shuffle_seed=seed) == text


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("coding", "text"),
    [
        (0, "GSM {text} € " * 40),
        (3, "Latin-1 ç " * 50),
        (8, "UCS-2 😀 مرحبا " * 30),
        (1, "IA5 " * 60),
    ],
)
def test_every_method_with_every_encoding(method, coding, text):
    parts = split_message(text, method, REFERENCE[method], data_coding=coding)
    assert all(p.data_coding == coding for p in parts)
    assert reassemble(parts) == text
    if method == "payload":
        assert len(parts) == 1 and parts[0].short_message == b""
        assert isinstance(parts[0].tlvs["message_payload"], bytes)
    else:
        assert len(parts) > 1


@given(st.text(alphabet=GSM_CHARS, min_size=150, max_size=700), st.sampled_from(("udh8", "udh16")))
def test_packed_gsm_parts_fit_140_octets_and_reassemble(text, method):
    parts = split_message(text, method, 7, default_alphabet="gsm7-packed")
    septets = encode_gsm7(text)
    if len(parts) == 1:
        assert unpack_septets(parts[0].short_message, len(septets)) == septets
        return
    udh_length, fill_bits = (6, 1) if method == "udh8" else (7, 0)
    # The septet count of each part is not carried (SMPP sm_length counts octets), so take it from
    # the unpacked split and check that every packed part holds exactly that piece.
    pieces = chunk_units(septets, "gsm7", 153 if method == "udh8" else 152)
    assert len(pieces) == len(parts)
    for part, piece in zip(parts, pieces, strict=True):
        assert len(part.short_message) <= 140
        assert unpack_septets(part.short_message[udh_length:], len(piece), fill_bits) == piece
    assert b"".join(pieces) == septets


def test_packed_gsm_first_part_uses_one_fill_bit_after_udh8():
    text = "ABCDEFGH" * 25
    first = split_message(text, "udh8", 7, default_alphabet="gsm7-packed")[0].short_message
    assert first[:6] == bytes.fromhex("050003070201")
    assert len(first) == 140
    assert unpack_septets(first[6:], 153, fill_bits=1) == text[:153].encode()
    assert first[6] & 1 == 0


def _udh(part):
    return part.short_message[: 1 + part.short_message[0]]


def test_udh_layouts_and_sar_tlvs():
    text = "x" * 200
    udh8 = split_message(text, "udh8", 0x3D)
    assert [_udh(p) for p in udh8] == [bytes.fromhex("0500033d0201"), bytes.fromhex("0500033d0202")]
    assert [len(p.short_message) - 6 for p in udh8] == [153, 47]
    assert all(p.esm_class_udhi and p.tlvs == {} for p in udh8)
    udh16 = split_message(text, "udh16", 0xBEEF)
    assert _udh(udh16[0]) == bytes.fromhex("060804beef0201")
    assert [len(p.short_message) - 7 for p in udh16] == [152, 48]
    sar = split_message(text, "sar", 0x1234)
    assert [p.tlvs for p in sar] == [
        {"sar_msg_ref_num": 0x1234, "sar_total_segments": 2, "sar_segment_seqnum": 1},
        {"sar_msg_ref_num": 0x1234, "sar_total_segments": 2, "sar_segment_seqnum": 2},
    ]
    assert not any(p.esm_class_udhi for p in sar)
    assert sar[0].short_message == b"x" * 153


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("text", "single"),
    [("a" * 160, True), ("a" * 161, False), ("€" * 80, True), ("€" * 81, False), ("😀" * 35, True)],
)
def test_single_sms_boundaries(method, text, single):
    parts = split_message(text, method, REFERENCE[method])
    if single:
        assert parts == [MessagePart(encode_text(text)[1], False, encode_text(text)[0], {})]
    elif method == "payload":
        assert parts[0].short_message == b"" and len(parts) == 1
    else:
        assert len(parts) == 2


@pytest.mark.parametrize(("length", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length, parts):
    result = split_message("ж" * length, "udh8", 1)
    assert len(result) == parts
    assert all(p.data_coding == 8 for p in result)


def test_escape_pair_is_never_split_at_the_part_boundary():
    text = "a" * 152 + "€" + "b" * 10  # the pair would straddle septets 153/154
    parts = split_message(text, "udh8", 1)
    first = parts[0].short_message[6:]
    assert len(first) == 152 and not first.endswith(b"\x1b")
    assert parts[1].short_message[6:8] == b"\x1b\x65"
    assert reassemble(parts) == text


def test_surrogate_pair_is_never_split_at_the_part_boundary():
    text = "ж" * 66 + "😀" + "ж" * 10  # the emoji would straddle UTF-16 units 67/68
    parts = split_message(text, "udh8", 1)
    first = parts[0].short_message[6:]
    assert len(first) == 132
    assert decode_text(first, 8) == "ж" * 66  # each part decodes on its own
    assert decode_text(parts[1].short_message[6:], 8).startswith("😀")


def test_split_validation():
    with pytest.raises(ConcatError, match="255"):
        split_message("a" * 153 * 256, "udh8", 1)
    assert len(split_message("a" * 153 * 255, "udh8", 1)) == 255
    with pytest.raises(ConcatError, match=r"0\.\.255"):
        split_message("a" * 200, "udh8", 256)
    with pytest.raises(ConcatError, match=r"0\.\.65535"):
        split_message("a" * 200, "sar", -1)
    with pytest.raises(ConcatError, match="method"):
        split_message("a", "udh", 1)
    with pytest.raises(ConcatError, match="65535"):
        split_message("😀" * 20_000, "payload", None)
    with pytest.raises(ConcatError, match="data_coding"):
        split_message(b"\x01\x02", "udh8", 1)


def test_binary_octets_split_at_134():
    data = bytes(range(256)) * 2
    parts = split_message(data, "udh8", 9, data_coding=DataCoding.OCTET_UNSPECIFIED_2)
    assert [len(p.short_message) - 6 for p in parts] == [134, 134, 134, 110]
    assert b"".join(p.short_message[6:] for p in parts) == data


# --- concat_info ------------------------------------------------------------------------------------


def test_concat_info_skips_other_information_elements():
    # Port addressing IE (0x05, 4 octets) before a 16-bit concat IE.
    udh = bytes.fromhex("0c" + "050400000000" + "08040102" + "0302")
    info, body = concat_info(EsmClass.UDHI, udh + b"hello", {})
    assert info == ConcatInfo(0x0102, 3, 2)
    assert body == b"hello"


def test_concat_info_without_udhi_keeps_the_octets():
    assert concat_info(0, b"\x05\x00\x03\x01\x02\x01x", {}) == (None, b"\x05\x00\x03\x01\x02\x01x")


def test_concat_info_sar_and_payload():
    tlvs = {"sar_msg_ref_num": 300, "sar_total_segments": 2, "sar_segment_seqnum": 2}
    assert concat_info(0, b"body", tlvs) == (ConcatInfo(300, 2, 2), b"body")
    assert concat_info(0, b"", {"message_payload": b"long"}) == (None, b"long")
    with pytest.raises(ConcatError, match="SAR"):
        concat_info(0, b"x", {"sar_msg_ref_num": 1})


@pytest.mark.parametrize(
    "udh_and_body",
    ["", "05000301", "0500", "030005010101", "04000301"],
)
def test_malformed_udh_is_a_typed_error(udh_and_body):
    with pytest.raises(ConcatError):
        concat_info(EsmClass.UDHI, bytes.fromhex(udh_and_body), {})


@pytest.mark.parametrize("ie", ["00030a0000", "00030a0203", "00030a0101"])
def test_impossible_numbering_is_treated_as_a_whole_message(ie):
    info, body = concat_info(EsmClass.UDHI, bytes.fromhex("05" + ie) + b"hi", {})
    assert info is None and body == b"hi"


# --- Reassembler ------------------------------------------------------------------------------------


def test_reassembler_expires_incomplete_messages_on_timeout():
    clock = Clock()
    reassembler = Reassembler(clock, timeout_s=60)
    assert reassembler.add("k1", ConcatInfo(1, 3, 2), b"B") is None
    clock.advance(30)
    assert reassembler.add("k2", ConcatInfo(1, 2, 1), b"X") is None
    assert reassembler.expire() == []
    clock.advance(30)
    expired = reassembler.expire()
    assert [
        (e.key, e.reference, e.total, e.parts_received, e.bodies, e.reason) for e in expired
    ] == [("k1", 1, 3, (2,), (b"B",), "timeout")]
    assert reassembler.pending_count == 1
    clock.advance(30)
    assert [e.key for e in reassembler.expire()] == ["k2"]
    assert reassembler.pending_count == 0


def test_reassembler_bounds_pending_messages_and_reports_evictions():
    reassembler = Reassembler(Clock(), max_pending_messages=2)
    for reference in range(3):
        reassembler.add("k", ConcatInfo(reference, 2, 1), b"a")
    assert reassembler.pending_count == 2
    [evicted] = reassembler.expire()
    assert (evicted.reference, evicted.reason) == (0, "evicted")
    assert reassembler.add("k", ConcatInfo(2, 2, 2), b"b") == b"ab"


def test_reassembler_keys_separate_conversations():
    reassembler = Reassembler(Clock())
    assert reassembler.add("alice", ConcatInfo(5, 2, 1), b"A1") is None
    assert reassembler.add("bob", ConcatInfo(5, 2, 2), b"B2") is None
    assert reassembler.add("alice", ConcatInfo(5, 2, 2), b"A2") == b"A1A2"
    assert reassembler.pending_count == 1


def test_reassembler_starts_over_when_the_total_changes():
    reassembler = Reassembler(Clock())
    assert reassembler.add("k", ConcatInfo(9, 3, 1), b"old") is None
    assert reassembler.add("k", ConcatInfo(9, 2, 2), b"new2") is None
    assert reassembler.add("k", ConcatInfo(9, 2, 1), b"new1") == b"new1new2"
    [superseded] = reassembler.expire()
    assert (superseded.total, superseded.bodies, superseded.reason) == (3, (b"old",), "superseded")


def test_reassembler_ignores_late_duplicates_of_a_completed_message():
    clock = Clock()
    reassembler = Reassembler(clock, timeout_s=60)
    reassembler.add("k", ConcatInfo(4, 2, 1), b"one")
    assert reassembler.add("k", ConcatInfo(4, 2, 2), b"two") == b"onetwo"
    assert reassembler.add("k", ConcatInfo(4, 2, 2), b"two") is None  # SMSC re-sent the last part
    assert reassembler.pending_count == 0
    # Different octets under the same reference are a new message, not a duplicate.
    assert reassembler.add("k", ConcatInfo(4, 2, 1), b"uno") is None
    assert reassembler.add("k", ConcatInfo(4, 2, 2), b"dos") == b"unodos"
    clock.advance(61)
    assert reassembler.expire() == []
    assert reassembler.add("k", ConcatInfo(4, 2, 2), b"dos") is None
    assert reassembler.pending_count == 1  # past the window it is a new collection again


def test_reassembler_ignores_duplicates_and_rejects_bad_numbering():
    reassembler = Reassembler(Clock())
    assert reassembler.add("k", ConcatInfo(1, 2, 1), b"first") is None
    assert reassembler.add("k", ConcatInfo(1, 2, 1), b"again") is None
    assert reassembler.add("k", ConcatInfo(1, 2, 2), b"!") == b"first!"
    assert reassembler.add("k", ConcatInfo(2, 1, 1), b"single") == b"single"
    with pytest.raises(ConcatError):
        reassembler.add("k", ConcatInfo(1, 2, 3), b"x")
    with pytest.raises(ValueError):
        Reassembler(Clock(), timeout_s=0)


# --- real bytes from other implementations -----------------------------------------------------------


def test_interop_two_part_udh_mo_reassembles_to_the_long_text():
    reassembler = Reassembler(Clock())
    wholes = []
    for line in INTEROP.read_text().splitlines():
        record = json.loads(line)
        fields = record["fields_decoded_by_node_smpp"]
        if record["scenario"] != "mo-udh" or record["command"] != "deliver_sm":
            continue
        short_message = bytes.fromhex(fields["short_message"]["hex"])
        info, body = concat_info(fields["esm_class"], short_message, {})
        if info is None:
            continue
        assert info.total == 2
        whole = reassembler.add((fields["source_addr"], fields["destination_addr"]), info, body)
        if whole is not None:
            wholes.append(decode_text(whole, fields["data_coding"]))
    assert wholes == [LONG_MO]


def test_interop_payload_mo_is_the_long_text():
    for line in INTEROP.read_text().splitlines():
        record = json.loads(line)
        fields = record["fields_decoded_by_node_smpp"]
        if record["scenario"] == "mo-payload" and "message_payload" in fields:
            tlvs = {"message_payload": bytes.fromhex(fields["message_payload"]["hex"])}
            info, body = concat_info(fields["esm_class"], b"", tlvs)
            assert info is None
            assert decode_text(body, fields["data_coding"]) == LONG_MO
            return
    pytest.fail("no message_payload MO in the interop file")
