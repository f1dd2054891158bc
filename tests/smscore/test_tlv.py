"""Optional parameters: every TLV of SMPP 3.4 typed, unknown ones kept byte for byte, in order."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscore import tlv
from smscore.errors import PDUDecodeError, PDUEncodeError
from smscore.status import CommandStatus as S
from tests.smscore.strategies import tlv_dicts, tlv_values

# The SMPP 3.4 table of optional parameters (spec 5.3.2): tag and value length, written out here
# so that a wrong tag or size in smscore.tlv fails.
SPEC_TAGS = {
    "dest_addr_subunit": 0x0005, "dest_network_type": 0x0006, "dest_bearer_type": 0x0007,
    "dest_telematics_id": 0x0008, "source_addr_subunit": 0x000D, "source_network_type": 0x000E,
    "source_bearer_type": 0x000F, "source_telematics_id": 0x0010, "qos_time_to_live": 0x0017,
    "payload_type": 0x0019, "additional_status_info_text": 0x001D,
    "receipted_message_id": 0x001E, "ms_msg_wait_facilities": 0x0030,
    "privacy_indicator": 0x0201, "source_subaddress": 0x0202, "dest_subaddress": 0x0203,
    "user_message_reference": 0x0204, "user_response_code": 0x0205, "source_port": 0x020A,
    "destination_port": 0x020B, "sar_msg_ref_num": 0x020C, "language_indicator": 0x020D,
    "sar_total_segments": 0x020E, "sar_segment_seqnum": 0x020F, "sc_interface_version": 0x0210,
    "callback_num_pres_ind": 0x0302, "callback_num_atag": 0x0303, "number_of_messages": 0x0304,
    "callback_num": 0x0381, "dpf_result": 0x0420, "set_dpf": 0x0421,
    "ms_availability_status": 0x0422, "network_error_code": 0x0423, "message_payload": 0x0424,
    "delivery_failure_reason": 0x0425, "more_messages_to_send": 0x0426, "message_state": 0x0427,
    "ussd_service_op": 0x0501, "display_time": 0x1201, "sms_signal": 0x1203,
    "ms_validity": 0x1204, "alert_on_message_delivery": 0x130C, "its_reply_type": 0x1380,
    "its_session_info": 0x1383,
}  # fmt: skip


def test_every_spec_tlv_is_known_under_its_tag() -> None:
    assert {spec.name: spec.tag for spec in tlv.TLV_SPECS} == SPEC_TAGS


@pytest.mark.parametrize(
    ("name", "value", "wire"),
    [
        ("receipted_message_id", "047D0AC001", b"\x00\x1e\x00\x0b047D0AC001\x00"),
        ("message_state", 2, b"\x04\x27\x00\x01\x02"),
        ("sar_msg_ref_num", 0x1234, b"\x02\x0c\x00\x02\x12\x34"),
        ("sar_total_segments", 3, b"\x02\x0e\x00\x01\x03"),
        ("sar_segment_seqnum", 1, b"\x02\x0f\x00\x01\x01"),
        ("user_message_reference", 7, b"\x02\x04\x00\x02\x00\x07"),
        ("ussd_service_op", 0x12, b"\x05\x01\x00\x01\x12"),
        ("qos_time_to_live", 86_400, b"\x00\x17\x00\x04\x00\x01\x51\x80"),
        ("message_payload", b"\x00\xffhi", b"\x04\x24\x00\x04\x00\xffhi"),
        ("network_error_code", tlv.NetworkErrorCode(3, 0x0101), b"\x04\x23\x00\x03\x03\x01\x01"),
        ("alert_on_message_delivery", True, b"\x13\x0c\x00\x00"),
        ("its_session_info", b"\x01\x02", b"\x13\x83\x00\x02\x01\x02"),
        ("additional_status_info_text", "", b"\x00\x1d\x00\x01\x00"),
    ],
)
def test_typed_values_on_the_wire(name: str, value: object, wire: bytes) -> None:
    assert tlv.encode_tlvs({name: value}) == wire
    assert tlv.decode_tlvs(wire, 0, len(wire), 4, 1) == {name: value}


def test_unknown_tags_are_kept_raw_and_in_order() -> None:
    wire = b"\x14\x00\x00\x03abc" + b"\x04\x27\x00\x01\x02" + b"\xff\xff\x00\x00"
    decoded = tlv.decode_tlvs(wire, 0, len(wire), 5, 1)
    assert list(decoded.items()) == [(0x1400, b"abc"), ("message_state", 2), (0xFFFF, b"")]
    assert tlv.encode_tlvs(decoded) == wire


@pytest.mark.parametrize("raw", [b"abc", b"a\x00b\x00", b"\x00\x00"])
def test_c_string_tlv_without_one_final_nul_stays_bytes(raw: bytes) -> None:
    # Some SMSCs send receipted_message_id without its NUL: keep it so it re-encodes unchanged.
    wire = b"\x00\x1e" + len(raw).to_bytes(2, "big") + raw
    decoded = tlv.decode_tlvs(wire, 0, len(wire), 5, 1)
    assert decoded == {"receipted_message_id": raw}
    assert tlv.encode_tlvs(decoded) == wire


def test_decode_respects_the_window() -> None:
    wire = b"junk" + b"\x04\x27\x00\x01\x02" + b"more"
    assert tlv.decode_tlvs(wire, 4, 9, 5, 1) == {"message_state": 2}


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"\x04", S.ESME_RINVOPTPARSTREAM),
        (b"\x04\x27\x00", S.ESME_RINVOPTPARSTREAM),
        (b"\x04\x27\x00\x02\x01", S.ESME_RINVOPTPARSTREAM),
        (b"\x04\x27\x00\x00", S.ESME_RINVPARLEN),
        (b"\x02\x0c\x00\x04\x00\x00\x00\x01", S.ESME_RINVPARLEN),
        (b"\x00\x17\x00\x02\x00\x01", S.ESME_RINVPARLEN),
        (b"\x04\x23\x00\x02\x03\x01", S.ESME_RINVPARLEN),
        (b"\x03\x81\x00\x14" + b"1" * 20, S.ESME_RINVPARLEN),
        (b"\x13\x83\x00\x01\x01", S.ESME_RINVPARLEN),
    ],
)
def test_decode_errors(wire: bytes, status: S) -> None:
    with pytest.raises(PDUDecodeError) as caught:
        tlv.decode_tlvs(wire, 0, len(wire), 5, 42)
    assert caught.value.status == status
    assert (caught.value.command_id, caught.value.sequence_number) == (5, 42)
    assert not caught.value.fatal


@pytest.mark.parametrize(
    "tlvs",
    [
        {"nope": 1},
        {"message_state": 256},
        {"message_state": "2"},
        {"sar_msg_ref_num": -1},
        {"qos_time_to_live": 1 << 32},
        {"receipted_message_id": "a" * 65},
        {"receipted_message_id": "é\x00"},
        {"receipted_message_id": "€"},
        {"message_payload": "text"},
        {"message_payload": b"x" * 0x10000},
        {"callback_num": b"123"},
        {"alert_on_message_delivery": False},
        {"network_error_code": (3, 0x10000)},
        {0x1400: "str"},
        {-1: b""},
        {0x1400: b"x" * 0x10000},
    ],
    ids=repr,
)
def test_encode_errors(tlvs: dict) -> None:
    with pytest.raises(PDUEncodeError) as caught:
        tlv.encode_tlvs(tlvs)
    assert caught.value.status == S.ESME_RINVOPTPARAMVAL


@pytest.mark.parametrize("spec", tlv.TLV_SPECS, ids=lambda spec: spec.name)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_each_tlv_round_trips(spec: tlv.TlvSpec, data: st.DataObject) -> None:
    value = data.draw(tlv_values(spec))
    wire = tlv.encode_tlvs({spec.name: value})
    assert wire[:2] == spec.tag.to_bytes(2, "big")
    assert tlv.decode_tlvs(wire, 0, len(wire), 4, 1) == {spec.name: value}


@settings(max_examples=150, deadline=None)
@given(tlvs=tlv_dicts(max_size=8))
def test_tlv_dicts_round_trip_in_order(tlvs: dict) -> None:
    wire = tlv.encode_tlvs(tlvs)
    decoded = tlv.decode_tlvs(wire, 0, len(wire), 4, 1)
    assert list(decoded.items()) == list(tlvs.items())
    assert tlv.encode_tlvs(decoded) == wire
