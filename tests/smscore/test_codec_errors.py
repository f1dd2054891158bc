"""Every error path of the codec: field limits on encode and decode, framing, TLVs, buffering."""

import struct
from typing import Any

import pytest

from smscore import pdu as p
from smscore.codec import StreamDecoder, decode, encode
from smscore.constants import HEADER_LENGTH
from smscore.errors import PDUDecodeError, PDUEncodeError
from smscore.pdu import PDU, PDU_CLASSES, DestAddress, DistributionList, Field, UnsuccessSme
from smscore.status import CommandStatus as S

SEQ = 0x01020304

# Each named limit of the spec and the status that must answer it: a table written from the spec,
# not read from the field tables, so a wrong status in smscore.pdu fails here.
NAMED_LIMITS = [
    (p.SubmitSm, "service_type", S.ESME_RINVSERTYP),
    (p.SubmitSm, "source_addr", S.ESME_RINVSRCADR),
    (p.SubmitSm, "destination_addr", S.ESME_RINVDSTADR),
    (p.SubmitSm, "source_addr_ton", S.ESME_RINVSRCTON),
    (p.SubmitSm, "source_addr_npi", S.ESME_RINVSRCNPI),
    (p.SubmitSm, "dest_addr_ton", S.ESME_RINVDSTTON),
    (p.SubmitSm, "dest_addr_npi", S.ESME_RINVDSTNPI),
    (p.SubmitSm, "priority_flag", S.ESME_RINVPRTFLG),
    (p.SubmitSm, "replace_if_present_flag", S.ESME_RINVREPFLAG),
    (p.SubmitSm, "schedule_delivery_time", S.ESME_RINVSCHED),
    (p.SubmitSm, "validity_period", S.ESME_RINVEXPIRY),
    (p.SubmitSm, "short_message", S.ESME_RINVMSGLEN),
    (p.DeliverSm, "source_addr", S.ESME_RINVSRCADR),
    (p.DeliverSm, "destination_addr", S.ESME_RINVDSTADR),
    (p.DeliverSm, "short_message", S.ESME_RINVMSGLEN),
    (p.DataSm, "source_addr", S.ESME_RINVSRCADR),
    (p.DataSm, "destination_addr", S.ESME_RINVDSTADR),
    (p.BindTransmitter, "system_id", S.ESME_RINVSYSID),
    (p.BindTransceiver, "password", S.ESME_RINVPASWD),
    (p.BindReceiver, "system_type", S.ESME_RINVSYSTYP),
    (p.BindTransceiver, "addr_ton", S.ESME_RINVSRCTON),
    (p.BindTransceiver, "addr_npi", S.ESME_RINVSRCNPI),
    (p.BindTransceiver, "address_range", S.ESME_RINVSRCADR),
    (p.SubmitSmResp, "message_id", S.ESME_RINVMSGID),
    (p.QuerySm, "message_id", S.ESME_RINVMSGID),
    (p.ReplaceSm, "schedule_delivery_time", S.ESME_RINVSCHED),
    (p.ReplaceSm, "validity_period", S.ESME_RINVEXPIRY),
    (p.SubmitMulti, "dest_addresses", S.ESME_RINVNUMDESTS),
]


def _field(cls: type[PDU], name: str) -> Field:
    return next(field for field in cls.FIELDS if field.name == name)


# --- bad values per field kind -----------------------------------------------------------------

BAD_TIMES = ["2302311200000000+", "230231120000000+", "991301000000000+", "000101000000049-"]


def _bad_values(field: Field) -> list[Any]:
    """Values that break `field`'s limit (each must be refused with the field's status)."""
    if field.kind == "cstr":
        return ["9" * field.max_length, "a\x00b"]
    if field.kind == "time":
        return [*BAD_TIMES, "000000000000100R", "12345"]
    if field.kind == "u8" and field.allowed is not None:
        return [max(field.allowed) + 1]
    if field.kind == "short_message":
        return [b"x" * 255]
    if field.kind == "dests":
        return [[], [DestAddress(1, 1, "1")] * 256]
    return []


ENCODE_CASES = [
    pytest.param(cls, field, value, id=f"{cls.name}.{field.name}={value!r:.20}")
    for cls in sorted(PDU_CLASSES.values(), key=lambda cls: cls.name)
    for field in cls.FIELDS
    for value in _bad_values(field)
]


def _valid(cls: type[PDU], **fields: Any) -> PDU:
    if "dest_addresses" in cls.field_names:
        fields.setdefault("dest_addresses", [DestAddress(1, 1, "254700000001")])
    return cls(sequence_number=SEQ, **fields)


@pytest.mark.parametrize(("cls", "field", "value"), ENCODE_CASES)
def test_encode_refuses_each_field_limit(cls: type[PDU], field: Field, value: Any) -> None:
    with pytest.raises(PDUEncodeError) as caught:
        encode(_valid(cls, **{field.name: value}))
    assert caught.value.status == field.status
    assert caught.value.command_id == cls.command_id
    assert caught.value.sequence_number == SEQ


@pytest.mark.parametrize(("cls", "name", "status"), NAMED_LIMITS)
def test_field_tables_carry_the_spec_status(cls: type[PDU], name: str, status: S) -> None:
    assert _field(cls, name).status == status


def test_every_limited_field_has_an_encode_case() -> None:
    limited = {(cls, field.name) for cls, field, _ in (case.values for case in ENCODE_CASES)}
    for cls, name, _ in NAMED_LIMITS:
        assert (cls, name) in limited


@pytest.mark.parametrize(
    ("pdu", "status"),
    [
        (p.SubmitMulti(dest_addresses=[DestAddress(7, 1, "1")]), S.ESME_RINVDSTADR),
        (p.SubmitMulti(dest_addresses=[DestAddress(1, 2, "1")]), S.ESME_RINVDSTADR),
        (p.SubmitMulti(dest_addresses=[DestAddress(1, 1, "1" * 21)]), S.ESME_RINVDSTADR),
        (p.SubmitMulti(dest_addresses=[DestAddress(1, 1, "1\x002")]), S.ESME_RINVDSTADR),
        (p.SubmitMulti(dest_addresses=[DistributionList("d" * 21)]), S.ESME_RINVDESTFLAG),
        (p.SubmitMulti(dest_addresses=["254700000001"]), S.ESME_RINVDESTFLAG),
        (p.SubmitMultiResp(unsuccess_smes=[UnsuccessSme(1, 1, "1" * 21, 0)]), S.ESME_RINVDSTADR),
        (p.SubmitSm(tlvs={"no_such_tlv": 1}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"sar_msg_ref_num": 0x10000}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"message_state": -1}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"callback_num": b"123"}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"callback_num": "1234"}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"receipted_message_id": "a\x00"}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"receipted_message_id": "x" * 65}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"alert_on_message_delivery": 1}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={"network_error_code": (3,)}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={0x1400: "text"}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={0x10000: b""}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(tlvs={0x1400: b"x" * 0x10000}), S.ESME_RINVOPTPARAMVAL),
        (p.SubmitSm(esm_class=256), S.ESME_RSYSERR),
        (p.SubmitSm(source_addr="€"), S.ESME_RSYSERR),
        (p.SubmitSm(short_message="text, not bytes"), S.ESME_RSYSERR),
        (p.EnquireLink(sequence_number=1 << 32), S.ESME_RSYSERR),
        (p.EnquireLink(command_status=-1), S.ESME_RSYSERR),
    ],
    ids=repr,
)
def test_encode_refuses_other_bad_values(pdu: PDU, status: S) -> None:
    with pytest.raises(PDUEncodeError) as caught:
        encode(pdu)
    assert caught.value.status == status
    assert caught.value.command_id == pdu.command_id
    assert caught.value.sequence_number == pdu.sequence_number


# --- hand-built bytes for decode ---------------------------------------------------------------


def _valid_raw(field: Field) -> bytes:
    """A valid wire value of `field`, written by hand (not by the codec under test)."""
    if field.kind in ("cstr", "time"):
        return b"\x00"
    if field.kind == "u8":
        return b"\x01" if field.allowed is not None and 0 not in field.allowed else b"\x00"
    if field.kind == "short_message":
        return b"\x02hi"
    if field.kind == "dests":
        return b"\x01\x01\x01\x01254700000001\x00"
    if field.kind == "unsuccess":
        return b"\x00"
    raise AssertionError(field.kind)


def _frame(command_id: int, body: bytes, seq: int = SEQ, status: int = 0) -> bytes:
    return struct.pack(">IIII", HEADER_LENGTH + len(body), command_id, status, seq) + body


def _raw_pdu(cls: type[PDU], overrides: dict[str, bytes], tail: bytes = b"") -> bytes:
    """cls's wire bytes with some fields' raw bytes replaced (a field set to b"" ends the body)."""
    body = b""
    for field in cls.FIELDS:
        raw = overrides.get(field.name, _valid_raw(field))
        body += raw
        if field.name in overrides and raw == b"":
            break
    return _frame(int(cls.command_id), body + tail)


def _bad_raw(field: Field) -> list[bytes]:
    if field.kind == "cstr":
        return [b"9" * field.max_length + b"\x00"]
    if field.kind == "time":
        return [value.encode("latin-1") + b"\x00" for value in [*BAD_TIMES, "²" * 12 + "000R"]]
    if field.kind == "u8" and field.allowed is not None:
        return [bytes((max(field.allowed) + 1,)), b"\xff"]
    return []


DECODE_CASES = [
    pytest.param(cls, field, raw, id=f"{cls.name}.{field.name}={raw!r:.20}")
    for cls in sorted(PDU_CLASSES.values(), key=lambda cls: cls.name)
    for field in cls.FIELDS
    for raw in _bad_raw(field)
]


def test_hand_built_valid_bytes_decode() -> None:
    for cls in PDU_CLASSES.values():
        wire = _raw_pdu(cls, {})
        assert encode(decode(wire)) == wire


@pytest.mark.parametrize(("cls", "field", "raw"), DECODE_CASES)
def test_decode_refuses_each_field_limit(cls: type[PDU], field: Field, raw: bytes) -> None:
    _assert_decode_error(_raw_pdu(cls, {field.name: raw}), field.status, cls.command_id)


def _assert_decode_error(wire: bytes, status: S, command_id: int) -> PDUDecodeError:
    with pytest.raises(PDUDecodeError) as caught:
        decode(wire)
    error = caught.value
    assert (error.status, error.command_id, error.sequence_number) == (status, command_id, SEQ)
    assert not error.fatal
    return error


def test_unterminated_c_string_is_the_fields_error() -> None:
    _assert_decode_error(_frame(4, b"CMT"), S.ESME_RINVSERTYP, 4)


SM = p.SubmitSm


@pytest.mark.parametrize(
    ("wire", "status", "command_id"),
    [
        pytest.param(_raw_pdu(SM, {"short_message": b"\x05abc"}), S.ESME_RINVMSGLEN, 4, id="sm-overrun"),
        pytest.param(_raw_pdu(SM, {"short_message": b"\xff" + b"x" * 255}), S.ESME_RINVMSGLEN, 4, id="sm-255"),
        pytest.param(_raw_pdu(SM, {"short_message": b""}), S.ESME_RINVMSGLEN, 4, id="sm-missing"),
        pytest.param(_raw_pdu(SM, {"esm_class": b""}), S.ESME_RINVCMDLEN, 4, id="u8-missing"),
        pytest.param(_raw_pdu(p.DataSm, {"data_coding": b""}), S.ESME_RINVCMDLEN, 0x103, id="data_sm-short"),
        pytest.param(_raw_pdu(SM, {}, b"\x04\x24\x00"), S.ESME_RINVOPTPARSTREAM, 4, id="tlv-header-cut"),
        pytest.param(_raw_pdu(SM, {}, b"\x04\x24\x00\x05ab"), S.ESME_RINVOPTPARSTREAM, 4, id="tlv-overrun"),
        pytest.param(_raw_pdu(SM, {}, b"\x02\x0c\x00\x01a"), S.ESME_RINVPARLEN, 4, id="u16-tlv-1-octet"),
        pytest.param(_raw_pdu(SM, {}, b"\x04\x27\x00\x02ab"), S.ESME_RINVPARLEN, 4, id="u8-tlv-2-octets"),
        pytest.param(_raw_pdu(SM, {}, b"\x00\x1e\x00\x00"), S.ESME_RINVPARLEN, 4, id="cstr-tlv-empty"),
        pytest.param(_raw_pdu(SM, {}, b"\x03\x81\x00\x02ab"), S.ESME_RINVPARLEN, 4, id="callback-num-short"),
        pytest.param(_raw_pdu(SM, {}, b"\x13\x0c\x00\x01a"), S.ESME_RINVPARLEN, 4, id="flag-with-value"),
        pytest.param(_raw_pdu(p.SubmitMulti, {"dest_addresses": b"\x00"}), S.ESME_RINVNUMDESTS, 0x21, id="0-dests"),
        pytest.param(_raw_pdu(p.SubmitMulti, {"dest_addresses": b"\x01\x03x\x00"}), S.ESME_RINVDESTFLAG, 0x21, id="flag-3"),
        pytest.param(_raw_pdu(p.SubmitMulti, {"dest_addresses": b"\x02\x01\x07\x011\x00"}), S.ESME_RINVDSTADR, 0x21, id="dest-ton-7"),
        pytest.param(_raw_pdu(p.SubmitMulti, {"dest_addresses": b"\x01\x01\x01\x03" + b"1" * 21 + b"\x00"}), S.ESME_RINVDSTADR, 0x21, id="dest-addr-21"),
        pytest.param(_frame(0x21, b"\x00\x01\x01\x00\x01\x01\x01"), S.ESME_RINVDSTADR, 0x21, id="dest-cut"),
        pytest.param(_raw_pdu(p.SubmitMulti, {"dest_addresses": b"\x01\x02" + b"d" * 21 + b"\x00"}), S.ESME_RINVDLNAME, 0x21, id="dl-name-21"),
        pytest.param(_raw_pdu(p.SubmitMulti, {"dest_addresses": b""}), S.ESME_RINVCMDLEN, 0x21, id="dests-missing"),
        pytest.param(_frame(0x80000021, b"id\x00\x01\x01\x01123\x00\x00\x00"), S.ESME_RINVCMDLEN, 0x80000021, id="unsuccess-cut"),
    ],
)  # fmt: skip
def test_decode_refuses_malformed_bodies(wire: bytes, status: S, command_id: int) -> None:
    _assert_decode_error(wire, status, command_id)


def test_unknown_command_id_is_not_fatal() -> None:
    error = _assert_decode_error(_frame(0x0000_0999, b"whatever"), S.ESME_RINVCMDID, 0x999)
    assert "0x00000999" in str(error)


# --- framing and the stream decoder ------------------------------------------------------------

ENQUIRE = _frame(0x15, b"", seq=9)


@pytest.mark.parametrize("length", [0, 1, 15, 101, 0xFFFF_FFFF])
def test_bad_command_length_is_fatal_and_the_decoder_stays_broken(length: int) -> None:
    decoder = StreamDecoder(max_pdu_length=100)
    decoder.feed(ENQUIRE + struct.pack(">IIII", length, 4, 0, SEQ) + ENQUIRE)
    assert decoder.next_pdu() == p.EnquireLink(sequence_number=9)
    with pytest.raises(PDUDecodeError) as caught:
        decoder.next_pdu()
    error = caught.value
    assert error.fatal and error.status == S.ESME_RINVCMDLEN
    assert (error.command_id, error.sequence_number) == (4, SEQ)  # readable: say so
    assert decoder.buffered_bytes == 0
    decoder.feed(ENQUIRE)
    for _ in range(3):
        with pytest.raises(PDUDecodeError) as again:
            decoder.next_pdu()
        assert again.value is error
    assert decoder.buffered_bytes == 0


def test_bad_length_of_an_unknown_command_carries_no_ids() -> None:
    decoder = StreamDecoder()
    decoder.feed(struct.pack(">IIII", 3, 0x999, 0, SEQ))
    with pytest.raises(PDUDecodeError) as caught:
        decoder.next_pdu()
    assert caught.value.fatal
    assert caught.value.command_id is None and caught.value.sequence_number is None


def test_unknown_command_id_then_decoding_goes_on() -> None:
    decoder = StreamDecoder()
    decoder.feed(_frame(0x999, b"\x01\x02\x03") + ENQUIRE + _frame(0x999, b"") + ENQUIRE)
    for _ in range(2):
        with pytest.raises(PDUDecodeError) as caught:
            decoder.next_pdu()
        assert not caught.value.fatal
        assert (caught.value.status, caught.value.command_id) == (S.ESME_RINVCMDID, 0x999)
        assert caught.value.sequence_number == SEQ
        assert decoder.next_pdu() == p.EnquireLink(sequence_number=9)
    assert decoder.next_pdu() is None


def test_malformed_body_is_not_fatal_and_decoding_goes_on() -> None:
    bad = _raw_pdu(SM, {"source_addr_ton": b"\x09"})
    decoder = StreamDecoder()
    decoder.feed(bad + ENQUIRE)
    with pytest.raises(PDUDecodeError) as caught:
        decoder.next_pdu()
    assert caught.value.status == S.ESME_RINVSRCTON and not caught.value.fatal
    assert decoder.next_pdu() == p.EnquireLink(sequence_number=9)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_buffer_never_exceeds_max_pdu_length_plus_a_chunk(chunk_size: int) -> None:
    max_length = 300
    big = encode(p.SubmitSm(sequence_number=1, short_message=b"m" * 254))  # < 300 octets
    stream = (big + ENQUIRE) * 20 + struct.pack(">IIII", 10_000, 4, 0, 1) + b"z" * 5000
    decoder = StreamDecoder(max_pdu_length=max_length)
    decoded = 0
    for pos in range(0, len(stream), chunk_size):
        decoder.feed(stream[pos : pos + chunk_size])
        assert decoder.buffered_bytes <= max_length + chunk_size
        try:
            while decoder.next_pdu() is not None:
                decoded += 1
        except PDUDecodeError as error:
            assert error.fatal
            break
        assert decoder.buffered_bytes < max_length
    assert decoded == 40
    assert decoder.buffered_bytes == 0


@pytest.mark.parametrize("wire", [ENQUIRE[:15], ENQUIRE + b"\x00", ENQUIRE[:-1]])
def test_decode_needs_exactly_one_whole_pdu(wire: bytes) -> None:
    with pytest.raises(PDUDecodeError) as caught:
        decode(wire)
    assert caught.value.fatal and caught.value.status == S.ESME_RINVCMDLEN


def test_max_pdu_length_must_hold_a_header() -> None:
    with pytest.raises(ValueError):
        StreamDecoder(max_pdu_length=15)
