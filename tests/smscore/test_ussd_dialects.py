"""USSD dialect codecs (smscore.ussd_dialects): params -> PDU bytes -> decoded PDU -> read_ussd
gives the same message, per dialect and for both submit_sm and deliver_sm; hand-made bytes laid
out as SMPP 3.4 5.3.2.43-44 (and the vendor TLVs the module documents); refusals with their status."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscore.codec import decode, encode
from smscore.pdu import DeliverSm, SubmitSm
from smscore.status import CommandStatus as S
from smscore.ussd import Dialect, UssdMessage, UssdOp
from smscore.ussd_dialects import (
    DIALOG_END_TAG,
    DIALOG_ID_TAG,
    UMR_END_OPS,
    UMR_RELEASE_OP,
    UssdFieldError,
    UssdParamsError,
    has_ussd_fields,
    read_ussd,
    ussd_submit_params,
)

SESSION_MAX = {Dialect.SMPP34: 0xFF, Dialect.DIALOG: 0xFFFF_FFFF, Dialect.UMR: 0xFFFF}
ops = st.one_of(st.sampled_from(list(UssdOp)), st.integers(min_value=0, max_value=0xFF))


@st.composite
def messages(draw, dialect):
    op = draw(ops)
    key = str(draw(st.integers(min_value=0, max_value=SESSION_MAX[dialect])))
    end = int(op) in UMR_END_OPS if dialect is Dialect.UMR else draw(st.booleans())
    return UssdMessage(op, key, end)


def over_the_wire(cls, dialect, msg, text=b"*334#"):
    pdu = cls(
        source_addr="254712000001",
        destination_addr="334",
        short_message=text,
        **ussd_submit_params(dialect, msg),
    )
    return decode(encode(pdu))


@pytest.mark.parametrize("cls", [SubmitSm, DeliverSm])
@pytest.mark.parametrize("dialect", list(Dialect))
@given(data=st.data())
def test_every_message_survives_the_codec(cls, dialect, data):
    msg = data.draw(messages(dialect))
    got = read_ussd(dialect, over_the_wire(cls, dialect, msg))
    assert got == msg
    assert int(got.op) == int(msg.op) and isinstance(got.session_key, str)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_a_ussd_pdu_asks_no_receipt_and_has_no_udh(dialect):
    msg = UssdMessage(UssdOp.USSR_REQUEST, "7", False)
    pdu = over_the_wire(SubmitSm, dialect, msg)
    assert pdu.registered_delivery == 0 and pdu.esm_class == 0
    assert pdu.service_type == ("USSD" if dialect is Dialect.UMR else "")


@pytest.mark.parametrize("dialect", list(Dialect))
def test_an_sms_is_no_ussd(dialect):
    sms = decode(encode(DeliverSm(source_addr="254712000001", short_message=b"BAL")))
    assert read_ussd(dialect, sms) is None and not has_ussd_fields(sms)


# --- hand-made bytes (the spec's layout) ----------------------------------------------------------


def deliver_sm_bytes(tlvs: bytes, service_type: bytes = b"", text: bytes = b"1") -> bytes:
    body = (
        service_type + b"\x00"
        + b"\x01\x01" + b"254712000001\x00"  # source ton, npi, address
        + b"\x00\x01" + b"334\x00"  # destination ton, npi, address
        + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        + b"\x00\x00"  # schedule_delivery_time, validity_period (empty)
        + b"\x00\x00\x00\x00"  # registered_delivery, replace_if_present, data_coding, default id
        + bytes((len(text),)) + text
        + tlvs
    )  # fmt: skip
    return struct.pack(">IIII", 16 + len(body), 0x00000005, 0, 1) + body


def test_smpp34_bytes_session_number_in_octet_1_end_in_bit_0_of_octet_2():
    # ussd_service_op 0x0501 len 1 = 18 (USSR confirm); its_session_info 0x1383 len 2 = 0x2A, 0x05:
    # session 42, sequence number 2 (bits 7..1), end of session indicator set (bit 0).
    pdu = decode(deliver_sm_bytes(bytes.fromhex("05010001 1213830002 2a05")))
    assert read_ussd(Dialect.SMPP34, pdu) == UssdMessage(UssdOp.USSR_CONFIRM, "42", True)
    going_on = decode(deliver_sm_bytes(bytes.fromhex("05010001 0113830002 ff04")))
    assert read_ussd(Dialect.SMPP34, going_on) == UssdMessage(UssdOp.PSSR_INDICATION, "255", False)


def test_smpp34_writes_the_same_layout():
    tlvs = ussd_submit_params(Dialect.SMPP34, UssdMessage(UssdOp.PSSR_RESPONSE, "42", True))["tlvs"]
    wire = encode(SubmitSm(source_addr="334", destination_addr="254712000001", tlvs=tlvs))
    assert wire.endswith(bytes.fromhex("05010001 1113830002 2a01"))


def test_dialog_bytes_dialogue_id_big_endian_and_end_flag():
    tlvs = bytes.fromhex("05010001 0215010004 0001e24015020001 01")
    pdu = decode(deliver_sm_bytes(tlvs))
    assert read_ussd(Dialect.DIALOG, pdu) == UssdMessage(UssdOp.USSR_REQUEST, "123456", True)
    params = ussd_submit_params(Dialect.DIALOG, UssdMessage(UssdOp.USSR_REQUEST, "123456", True))
    wire = encode(SubmitSm(source_addr="334", destination_addr="254712000001", **params))
    assert wire.endswith(tlvs)


def test_dialog_without_the_end_tlv_goes_on():
    pdu = decode(deliver_sm_bytes(bytes.fromhex("05010001 1215010004 00000009")))
    assert read_ussd(Dialect.DIALOG, pdu) == UssdMessage(UssdOp.USSR_CONFIRM, "9", False)


def test_umr_bytes_session_in_user_message_reference_end_in_the_op():
    tlvs = bytes.fromhex("02040002 beef05010001 01")
    pdu = decode(deliver_sm_bytes(tlvs, service_type=b"USSD", text=b"*334#"))
    assert read_ussd(Dialect.UMR, pdu) == UssdMessage(UssdOp.PSSR_INDICATION, "48879", False)
    release = decode(deliver_sm_bytes(bytes.fromhex("02040002 beef05010001 20"), b"USSD"))
    assert read_ussd(Dialect.UMR, release) == UssdMessage(UMR_RELEASE_OP, "48879", True)


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "tlvs", "service_type", "status"),
    [
        (Dialect.SMPP34, "05010001 12", b"", S.ESME_RMISSINGOPTPARAM),
        (Dialect.DIALOG, "05010001 12", b"", S.ESME_RMISSINGOPTPARAM),
        (Dialect.DIALOG, "05010001 12" "15010002 0001", b"", S.ESME_RINVPARLEN),
        (Dialect.DIALOG, "05010001 12" "15010004 00000001" "15020001 07", b"", S.ESME_RINVOPTPARAMVAL),
        (Dialect.DIALOG, "05010001 12" "15010004 00000001" "15020000", b"", S.ESME_RINVPARLEN),
        (Dialect.UMR, "05010001 12", b"USSD", S.ESME_RMISSINGOPTPARAM),
        (Dialect.UMR, "02040002 0001", b"USSD", S.ESME_RMISSINGOPTPARAM),
    ],
)  # fmt: skip
def test_a_ussd_pdu_without_its_session_is_refused_with_the_right_status(
    dialect, tlvs, service_type, status
):
    pdu = decode(deliver_sm_bytes(bytes.fromhex(tlvs), service_type))
    with pytest.raises(UssdFieldError) as caught:
        read_ussd(dialect, pdu)
    assert caught.value.status == status
    assert has_ussd_fields(pdu)


def test_a_malformed_its_session_info_never_gets_past_the_codec():
    with pytest.raises(Exception) as caught:
        decode(deliver_sm_bytes(bytes.fromhex("05010001 1213830001 2a")))
    assert caught.value.status == S.ESME_RINVPARLEN


def test_a_locally_built_bad_session_field_is_refused_too():
    pdu = DeliverSm(tlvs={"ussd_service_op": 18, "its_session_info": b"\x01\x02\x03"})
    with pytest.raises(UssdFieldError) as caught:
        read_ussd(Dialect.SMPP34, pdu)
    assert caught.value.status == S.ESME_RINVPARLEN


@pytest.mark.parametrize(
    ("dialect", "key"),
    [
        (Dialect.SMPP34, "256"),
        (Dialect.UMR, "65536"),
        (Dialect.DIALOG, str(2**32)),
        (Dialect.SMPP34, "007"),
        (Dialect.DIALOG, "abc"),
        (Dialect.UMR, ""),
        (Dialect.SMPP34, "-1"),
    ],
)
def test_a_session_key_the_dialect_cannot_carry_is_refused(dialect, key):
    op = UssdOp.PSSR_RESPONSE
    with pytest.raises(UssdParamsError) as caught:
        ussd_submit_params(dialect, UssdMessage(op, key, True))
    assert caught.value.status == S.ESME_RINVOPTPARAMVAL


def test_umr_cannot_end_a_dialogue_with_a_request():
    with pytest.raises(UssdParamsError, match="contradicts"):
        ussd_submit_params(Dialect.UMR, UssdMessage(UssdOp.USSR_REQUEST, "5", True))
    with pytest.raises(UssdParamsError, match="contradicts"):
        ussd_submit_params(Dialect.UMR, UssdMessage(UssdOp.PSSR_RESPONSE, "5", False))


def test_an_op_outside_one_octet_is_refused():
    with pytest.raises(UssdParamsError):
        ussd_submit_params(Dialect.SMPP34, UssdMessage(256, "5", False))


def test_the_vendor_tags_are_in_the_vendor_range():
    assert 0x1400 <= DIALOG_ID_TAG <= 0x3FFF and 0x1400 <= DIALOG_END_TAG <= 0x3FFF
    assert 32 <= UMR_RELEASE_OP <= 255
