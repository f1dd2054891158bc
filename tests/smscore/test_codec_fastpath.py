"""The fast (one regex) decoder and the careful decoder agree on every input: the same PDU for valid
bytes, the same typed error (status, command, sequence) for invalid ones."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscore.codec import encode
from smscore.constants import HEADER_LENGTH
from smscore.errors import PDUDecodeError
from smscore.pdu import PDU_CLASSES, DeliverSm, SubmitSm
from tests.smscore.strategies import pdus_of

FAST_CLASSES = [
    cls for cls in PDU_CLASSES.values() if cls.decode_body is not cls.decode_body_careful
]


def outcome(decoder, body: bytes):
    try:
        return decoder(7, 0, body, 0, len(body))
    except PDUDecodeError as error:
        return (type(error), error.status, error.command_id, error.sequence_number)


def test_the_message_pdus_have_a_fast_path():
    assert {SubmitSm, DeliverSm} <= set(FAST_CLASSES)


@pytest.mark.parametrize("cls", FAST_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fast_and_careful_agree_on_valid_pdus(cls, data):
    pdu = data.draw(pdus_of(cls))
    body = encode(pdu)[HEADER_LENGTH:]
    fast = cls.decode_body(pdu.sequence_number, pdu.command_status, body, 0, len(body))
    assert fast == pdu
    careful = cls.decode_body_careful(pdu.sequence_number, pdu.command_status, body, 0, len(body))
    assert careful == fast


@pytest.mark.parametrize("cls", FAST_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_fast_and_careful_agree_on_damaged_bodies(cls, data):
    pdu = data.draw(pdus_of(cls, tlvs=st.just({})))
    body = bytearray(encode(pdu)[HEADER_LENGTH:])
    for _ in range(data.draw(st.integers(1, 4))):
        if body and data.draw(st.booleans()):
            body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
        else:
            del body[data.draw(st.integers(0, len(body))) :]
    body = bytes(body)
    assert outcome(cls.decode_body, body) == outcome(cls.decode_body_careful, body)
