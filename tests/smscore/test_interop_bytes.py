"""Real PDUs written by node-smpp, smpplib and Kannel (tests/data/interop, see its README).

Every line decodes, re-encodes to the same bytes, and agrees with node-smpp's own decode of the
mandatory fields, the TLVs and the message text.
"""

import json
from typing import Any

import pytest

from smscore.codec import StreamDecoder, decode, encode
from smscore.constants import EsmClass
from smscore.pdu import PDU
from smscore.text import decode_text
from tests.interop import INTEROP_PATH

INTEROP = INTEROP_PATH
RECORDS = [json.loads(line) for line in INTEROP.read_text().splitlines()]


def _params(records: list[dict[str, Any]]) -> list[Any]:
    return [
        pytest.param(record, id=f"{record['scenario']}:line{number}:{record['command']}")
        for number, record in enumerate(records, start=1)
    ]


ALL = _params(RECORDS)
WITH_TEXT = [param for param in ALL if "_text" in param.values[0]["fields_decoded_by_node_smpp"]]


def _ours(pdu: PDU, name: str) -> Any:
    if name in pdu.field_names:
        return getattr(pdu, name)
    assert name in pdu.tlvs, f"node-smpp saw {name}, we did not"
    return pdu.tlvs[name]


@pytest.mark.parametrize("record", ALL)
def test_decodes_and_reencodes_byte_for_byte(record: dict[str, Any]) -> None:
    wire = bytes.fromhex(record["hex"])
    pdu = decode(wire)
    assert pdu.name == record["command"]
    assert pdu.sequence_number == record["sequence_number"]
    assert pdu.command_status == record["command_status"]
    assert encode(pdu) == wire


@pytest.mark.parametrize("record", ALL)
def test_fields_agree_with_node_smpp(record: dict[str, Any]) -> None:
    pdu = decode(bytes.fromhex(record["hex"]))
    theirs = {k: v for k, v in record["fields_decoded_by_node_smpp"].items() if k[0] != "_"}
    for name, value in theirs.items():
        expected = bytes.fromhex(value["hex"]) if isinstance(value, dict) else value
        assert _ours(pdu, name) == expected, name
    # Nothing we decoded is unknown to node-smpp (an empty error-response body has no fields).
    assert set(pdu.tlvs) <= set(theirs)
    if theirs:
        assert set(pdu.field_names) <= set(theirs)


@pytest.mark.parametrize("record", WITH_TEXT)
def test_message_text_agrees_with_node_smpp(record: dict[str, Any]) -> None:
    pdu = decode(bytes.fromhex(record["hex"]))
    theirs = record["fields_decoded_by_node_smpp"]
    payload = pdu.tlvs.get("message_payload")
    body = payload if payload is not None else pdu.short_message
    if pdu.esm_class & EsmClass.UDHI:
        udh_end = 1 + body[0]
        assert body[:udh_end].hex() == theirs["_udh"]
        body = body[udh_end:]
    assert decode_text(body, pdu.data_coding) == theirs["_text"]


def test_whole_capture_through_the_stream_decoder_one_byte_at_a_time() -> None:
    stream = b"".join(bytes.fromhex(record["hex"]) for record in RECORDS)
    decoder = StreamDecoder()
    pdus = []
    for pos in range(len(stream)):
        decoder.feed(stream[pos : pos + 1])
        pdus.extend(decoder)
    assert [pdu.name for pdu in pdus] == [record["command"] for record in RECORDS]
    assert b"".join(encode(pdu) for pdu in pdus) == stream
