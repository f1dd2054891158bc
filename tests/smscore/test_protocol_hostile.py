"""A bound ESMEProtocol fed hostile input (tests/smscore/hostile_input.py: random and mutated PDUs of
every command, framing kept, cut into chunks of any size): every request gets exactly the one
answer SMPP 3.4 names, no response is answered, and nothing raises out of dataReceived. The live
version against the real daemon is tests/e2e/test_hostile_smsc.py."""

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from smscore.codec import StreamDecoder, encode
from smscore.esme import ESMEConfig, ESMEProtocol
from smscore.pdu import PDU, BindTransceiverResp, DeliverSm, Unbind
from smscore.status import CommandStatus as S
from tests.smscore.hostile_input import expected_answer, mutate, random_pdu, valid_pdus

HOSTILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIRST_SEQUENCE = 0x4000_0000  # never one the ESME uses for its own requests


def bound_esme() -> tuple[ESMEProtocol, StringTransport, list[PDU]]:
    stored: list[PDU] = []

    def on_message(pdu: PDU) -> int:
        stored.append(pdu)
        return S.ESME_ROK

    esme = ESMEProtocol(Clock(), ESMEConfig("smscore", "pw"), on_message)
    transport = StringTransport()
    esme.makeConnection(transport)
    [bind] = decode_all(transport.value())
    transport.clear()
    esme.dataReceived(encode(BindTransceiverResp(sequence_number=bind.sequence_number)))
    assert esme.session.is_bound
    return esme, transport, stored


def decode_all(data: bytes) -> list[PDU]:
    decoder = StreamDecoder()
    decoder.feed(data)
    return list(decoder)


def hostile_stream(rng: random.Random, count: int) -> list[bytes]:
    samples = valid_pdus(rng)
    stream = []
    for number in range(count):
        data = bytearray(
            random_pdu(rng) if rng.random() < 0.3 else mutate(rng, rng.choice(samples))
        )
        data[12:16] = (FIRST_SEQUENCE + number).to_bytes(4, "big")
        stream.append(bytes(data))
    return stream


@HOSTILE
@given(seed=st.integers(0, 2**32 - 1), chunk_size=st.integers(1, 400))
@example(seed=487, chunk_size=227)  # CI: a deliver_sm and the unbind after it in one chunk
def test_each_hostile_pdu_gets_the_answer_smpp_names(seed: int, chunk_size: int) -> None:
    stream = hostile_stream(random.Random(seed), 12)
    esme, transport, _ = bound_esme()
    data = b"".join(stream)
    for start in range(0, len(data), chunk_size):
        esme.dataReceived(data[start : start + chunk_size])
    answers: dict[int, list[PDU]] = {}
    for pdu in decode_all(transport.value()):
        answers.setdefault(pdu.sequence_number, []).append(pdu)
    for number, pdu_bytes in enumerate(stream):
        expected = expected_answer(pdu_bytes)
        got = answers.get(FIRST_SEQUENCE + number, [])
        if expected.answer_id is None:
            assert got == [], pdu_bytes.hex()
        else:
            [answer] = got
            assert answer.command_id == expected.answer_id, (pdu_bytes.hex(), answer)
            assert answer.command_status in expected.statuses, (pdu_bytes.hex(), answer)
        if expected.closes:  # unbind, or framing lost: the link is closed, the rest unread
            assert transport.disconnecting
            return
    assert not transport.disconnecting


def test_the_seeded_stream_reaches_every_kind_of_answer() -> None:
    # The property above is only as good as its input: it must reach requests, responses,
    # decode errors of many kinds and unknown commands.
    outcomes = set()
    for pdu_bytes in hostile_stream(random.Random(18), 400):
        expected = expected_answer(pdu_bytes)
        outcomes.add("none" if expected.answer_id is None else min(expected.statuses))
    assert {"none", S.ESME_ROK, S.ESME_RINVCMDID, S.ESME_RINVBNDSTS} <= outcomes
    assert len(outcomes) > 10, outcomes


def test_a_request_in_the_same_chunk_as_the_unbind_after_it_is_still_answered() -> None:
    # The session closes on the unbind; the deliver_sm before it must be answered first, in order.
    esme, transport, stored = bound_esme()
    message = DeliverSm(sequence_number=7, source_addr="254700000001", short_message=b"BAL")
    esme.dataReceived(encode(message) + encode(Unbind(sequence_number=8)))
    answers = decode_all(transport.value())
    assert [(a.name, a.sequence_number) for a in answers] == [
        ("deliver_sm_resp", 7),
        ("unbind_resp", 8),
    ]
    assert [pdu.short_message for pdu in stored] == [b"BAL"]
    assert transport.disconnecting
