"""Every PDU a session decodes or queues is counted once, by direction, command and status: requests,
responses, and the answers the session gives by itself (enquire_link_resp, unbind_resp, an error
response to a request its state forbids, generic_nack for lost framing)."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscore.codec import StreamDecoder, encode
from smscore.errors import PDUEncodeError
from smscore.pdu import (
    BindTransceiver,
    BindTransceiverResp,
    DeliverSm,
    EnquireLink,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from smscore.pdu_counts import OTHER, OTHER_STATUS, PduCounts, status_name
from smscore.session import Role, Session
from smscore.status import CommandStatus as S

OK = int(S.ESME_ROK)


def bound_esme() -> Session:
    session = Session(Role.ESME)
    session.send(BindTransceiver(system_id="esme", password="pw"), 0.0)
    session.data_to_send()
    session.receive_data(encode(BindTransceiverResp(sequence_number=1, system_id="smsc")), 0.0)
    return session


def sent(session: Session) -> list[str]:
    decoder = StreamDecoder()
    decoder.feed(session.data_to_send())
    return [pdu.name for pdu in decoder]


def test_requests_responses_and_automatic_answers_are_counted():
    session = bound_esme()
    session.send(SubmitSm(short_message=b"hi"), 1.0)
    session.receive_data(encode(SubmitSmResp(sequence_number=2, message_id="m1")), 1.0)
    session.receive_data(encode(DeliverSm(sequence_number=7, short_message=b"mo")), 1.0)
    session.send(DeliverSm(sequence_number=7).make_response(), 1.0)
    session.receive_data(encode(EnquireLink(sequence_number=8)), 1.0)  # answered by the session
    # a bind while bound: the session answers ESME_RALYBND by itself
    session.receive_data(encode(BindTransceiver(sequence_number=9, system_id="x")), 1.0)
    assert sent(session)[-2:] == ["enquire_link_resp", "bind_transceiver_resp"]
    assert session.counts.pdus == {
        ("out", "bind_transceiver", OK): 1,
        ("in", "bind_transceiver_resp", OK): 1,
        ("out", "submit_sm", OK): 1,
        ("in", "submit_sm_resp", OK): 1,
        ("in", "deliver_sm", OK): 1,
        ("out", "deliver_sm_resp", OK): 1,
        ("in", "enquire_link", OK): 1,
        ("out", "enquire_link_resp", OK): 1,
        ("in", "bind_transceiver", OK): 1,
        ("out", "bind_transceiver_resp", int(S.ESME_RALYBND)): 1,
    }


def test_lost_framing_sends_a_counted_generic_nack_and_an_unbind_its_answer():
    session = bound_esme()
    session.receive_data(encode(Unbind(sequence_number=5)), 2.0)
    assert session.counts.pdus[("out", "unbind_resp", OK)] == 1
    other = bound_esme()
    other.receive_data(struct.pack(">IIII", 8, 0x00000004, 0, 3), 2.0)  # command_length too short
    assert sent(other)[-1] == "generic_nack"
    assert other.counts.total("out", "generic_nack") == 1


def test_a_refused_send_is_not_counted():
    session = bound_esme()
    before = dict(session.counts.pdus)
    with pytest.raises(PDUEncodeError):
        session.send(SubmitSm(short_message=b"x" * 300), 1.0)  # over the 254-octet field
    assert session.counts.pdus == before


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["submit", "enquire"]), max_size=20))
def test_the_counts_agree_with_the_bytes_sent(actions):
    session = bound_esme()
    session.data_to_send()
    names = []
    for action in actions:
        if session.window_available <= 0:
            break
        session.send(SubmitSm() if action == "submit" else EnquireLink(), 1.0)
        names += sent(session)
    counts = PduCounts()
    for name in names:
        counts.note("out", name, OK)
    sent_after_bind = {
        key: count
        for key, count in session.counts.pdus.items()
        if key[0] == "out" and key[1] != "bind_transceiver"
    }
    assert sent_after_bind == counts.pdus


def test_status_names():
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x400) == "other" and status_name(OTHER_STATUS) == "other"


KNOWN = {int(status) for status in S}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1).filter(lambda s: s not in KNOWN), min_size=1))
def test_a_flood_of_statuses_the_spec_does_not_name_is_one_key(statuses):
    session = bound_esme()
    for status in statuses:  # submit_sm_resp answers, each with a status nobody defined
        session.send(SubmitSm(short_message=b"x"), 1.0)
        number = session._last_sequence_number
        session.receive_data(
            encode(SubmitSmResp(sequence_number=number, command_status=status)), 1.0
        )
    answers = {key: n for key, n in session.counts.pdus.items() if key[1] == "submit_sm_resp"}
    assert answers == {("in", "submit_sm_resp", OTHER_STATUS): len(statuses)}


def test_a_command_name_the_spec_does_not_have_is_counted_as_other():
    counts = PduCounts()
    for name in ("vendor_x", "vendor_y", "submit_sm"):
        counts.note("in", name, OK)
    assert counts.pdus == {("in", OTHER, OK): 2, ("in", "submit_sm", OK): 1}
