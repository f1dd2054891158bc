"""Round trips for every PDU class, whole and through the stream decoder in arbitrary chunks."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscore.codec import StreamDecoder, decode, encode
from smscore.pdu import PDU, PDU_CLASSES
from tests.smscore.strategies import any_pdu, pdus_of

ALL_CLASSES = sorted(PDU_CLASSES.values(), key=lambda cls: cls.name)
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.name)
@QUICK
@given(data=st.data())
def test_every_pdu_class_round_trips(cls: type[PDU], data: st.DataObject) -> None:
    pdu = data.draw(pdus_of(cls))
    wire = encode(pdu)
    decoded = decode(wire)
    assert type(decoded) is cls
    assert decoded == pdu
    assert list(decoded.tlvs) == list(pdu.tlvs)  # wire order is kept, not just the set
    assert encode(decoded) == wire


def test_every_command_of_the_spec_has_a_class() -> None:
    names = {cls.name for cls in ALL_CLASSES}
    requests = {
        "bind_transmitter", "bind_receiver", "bind_transceiver", "outbind", "unbind", "submit_sm",
        "submit_multi", "deliver_sm", "data_sm", "query_sm", "cancel_sm", "replace_sm",
        "enquire_link", "alert_notification", "generic_nack",
    }  # fmt: skip
    responses = {
        f"{name}_resp" for name in requests - {"outbind", "alert_notification", "generic_nack"}
    }
    assert names == requests | responses


def _chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, pos, index = [], 0, 0
    while pos < len(data):
        size = sizes[index % len(sizes)]
        chunks.append(data[pos : pos + size])
        pos, index = pos + size, index + 1
    return chunks


def _decode_stream(chunks: list[bytes]) -> list[PDU]:
    decoder = StreamDecoder()
    out = []
    for chunk in chunks:
        decoder.feed(chunk)
        out.extend(decoder)
    assert decoder.buffered_bytes == 0
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pdus=st.lists(any_pdu(), min_size=1, max_size=8),
    sizes=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=10),
)
def test_stream_of_pdus_in_random_chunks(pdus: list[PDU], sizes: list[int]) -> None:
    stream = b"".join(encode(pdu) for pdu in pdus)
    assert _decode_stream(_chunks(stream, sizes)) == pdus


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pdus=st.lists(any_pdu(), min_size=1, max_size=4))
def test_stream_one_byte_at_a_time(pdus: list[PDU]) -> None:
    stream = b"".join(encode(pdu) for pdu in pdus)
    assert _decode_stream([stream[i : i + 1] for i in range(len(stream))]) == pdus


@settings(max_examples=25, deadline=None)
@given(pdus=st.lists(any_pdu(), min_size=1, max_size=8))
def test_stream_all_in_one_chunk(pdus: list[PDU]) -> None:
    stream = b"".join(encode(pdu) for pdu in pdus)
    assert _decode_stream([stream]) == pdus


def test_next_pdu_waits_for_a_whole_pdu() -> None:
    wire = encode(PDU_CLASSES[0x15](sequence_number=7))  # enquire_link
    decoder = StreamDecoder()
    decoder.feed(wire[:15])
    assert decoder.next_pdu() is None
    decoder.feed(wire[15:])
    assert decoder.next_pdu() == decode(wire)
    assert decoder.next_pdu() is None
