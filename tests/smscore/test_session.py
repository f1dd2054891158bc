"""The sans-I/O session machine: bind states per role, auto-answers, sequence numbers, window, timers.

The expected tables below are written from SMPP 3.4 sections 2.3/2.4 independently of
smscore.session.ALLOWED_REQUESTS, so a wrong entry there fails here.
"""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscore.codec import StreamDecoder, encode
from smscore.constants import RESPONSE_BIT
from smscore.constants import CommandId as C
from smscore.errors import PDUEncodeError
from smscore.pdu import (
    PDU,
    PDU_CLASSES,
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    DeliverSm,
    DestAddress,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    QuerySmResp,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from smscore.session import (
    MAX_SEQUENCE_NUMBER,
    Bound,
    MustClose,
    ProtocolViolation,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    Role,
    Session,
    SessionError,
    SessionTimers,
    State,
    Unbound,
    WindowFull,
)
from smscore.status import CommandStatus as S
from tests.smscore.strategies import pdus_of

OPEN, TX, RX, TRX = State.OPEN, State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX
BINDING, UNBINDING = State.BINDING, State.UNBINDING
BOUND = {TX, RX, TRX}
ALL_STATES = list(State)

# Requests an ESME originates (the SMSC receives) and the states that allow them.
FROM_ESME = {
    C.BIND_TRANSMITTER: {OPEN},
    C.BIND_RECEIVER: {OPEN},
    C.BIND_TRANSCEIVER: {OPEN},
    C.SUBMIT_SM: {TX, TRX},
    C.SUBMIT_MULTI: {TX, TRX},
    C.DATA_SM: {TX, TRX},
    C.QUERY_SM: {TX, TRX},
    C.CANCEL_SM: {TX, TRX},
    C.REPLACE_SM: {TX, TRX},
    C.ENQUIRE_LINK: {OPEN, BINDING} | BOUND,
    C.UNBIND: BOUND,
}
# Requests an SMSC originates (the ESME receives).
FROM_SMSC = {
    C.OUTBIND: {OPEN},
    C.DELIVER_SM: {RX, TRX},
    C.DATA_SM: {RX, TRX},
    C.ALERT_NOTIFICATION: {RX, TRX},
    C.ENQUIRE_LINK: {OPEN, BINDING} | BOUND,
    C.UNBIND: BOUND,
}
SENT_BY = {Role.ESME: FROM_ESME, Role.SMSC: FROM_SMSC}
REQUEST_IDS = sorted(cid for cid in PDU_CLASSES if not cid & RESPONSE_BIT)
BIND_IDS = {C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER}
TIMERS = SessionTimers(response_timeout_s=10, enquire_link_interval_s=60, window=3)


def sample(command_id: int, sequence_number: int = 0) -> PDU:
    """A valid instance of any PDU class."""
    cls = PDU_CLASSES[command_id]
    if cls is SubmitMulti:
        return SubmitMulti(sequence_number=sequence_number, dest_addresses=[DestAddress(1, 1, "1")])
    return cls(sequence_number=sequence_number)


def session_in(role: Role, state: State, now_s: float = 0.0) -> Session:
    session = Session(role, TIMERS, now_s=now_s)
    session.state = state  # a test shortcut: the session itself changes state only by its table
    if state is State.UNBINDING:
        session._bound_state = TRX  # the bind it is leaving
    return session


def decode_all(data: bytes) -> list[PDU]:
    decoder = StreamDecoder()
    decoder.feed(data)
    return list(decoder)


def snapshot(session: Session) -> tuple:
    return (
        session.state,
        dict(session._outstanding),
        session._last_sequence_number,
        session.outstanding_count,
    )


def bound_pair(bind_cls: type[PDU] = BindTransceiver) -> tuple[Session, Session]:
    """An ESME and an SMSC session that went through a real bind exchange."""
    esme, smsc = Session(Role.ESME, TIMERS), Session(Role.SMSC, TIMERS)
    esme.send(bind_cls(system_id="esme", password="pw"), 0)
    [event] = smsc.receive_data(esme.data_to_send(), 0)
    smsc.send(event.pdu.make_response(system_id="smsc"), 0)
    events = esme.receive_data(smsc.data_to_send(), 0)
    assert isinstance(events[-1], Bound)
    return esme, smsc


# --- what the peer sends, in each state -----------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", [s for s in ALL_STATES if s is not State.CLOSED])
@pytest.mark.parametrize("command_id", REQUEST_IDS)
def test_every_request_in_every_state_is_delivered_or_auto_answered(role, state, command_id):
    session = session_in(role, state)
    request = sample(command_id, sequence_number=4242)
    events = session.receive_data(encode(request), now_s=1.0)
    answer = decode_all(session.data_to_send())
    judged_as = TRX if state is UNBINDING else state  # a request that crossed our unbind
    allowed = judged_as in SENT_BY[role.peer].get(command_id, set())
    if allowed and command_id in (C.ENQUIRE_LINK, C.UNBIND):
        assert [type(a) for a in answer] == [request.response_class]  # the session answers these
        assert answer[0].command_status == 0 and answer[0].sequence_number == 4242
        return
    if allowed:
        assert events == [RequestReceived(request)]
        assert answer == []
        # an SMSC authenticates a bind in BINDING, so a second one cannot reach the application
        assert session.state is (BINDING if command_id in BIND_IDS else state)
        return
    assert [type(e) for e in events] == [ProtocolViolation]
    assert session.state is state
    [reply] = answer
    assert reply.sequence_number == 4242
    if request.response_class is None:  # outbind, alert_notification: only generic_nack can answer
        assert isinstance(reply, GenericNack)
        assert reply.command_status == S.ESME_RINVBNDSTS
    elif command_id in BIND_IDS and judged_as in BOUND | {BINDING}:
        assert type(reply) is request.response_class
        assert reply.command_status == S.ESME_RALYBND
    else:
        assert type(reply) is request.response_class
        assert reply.command_status == S.ESME_RINVBNDSTS


@pytest.mark.parametrize("role", list(Role))
def test_a_closed_session_ignores_input(role):
    session = session_in(role, State.CLOSED)
    assert session.receive_data(encode(EnquireLink(sequence_number=1)), 0) == []
    assert session.data_to_send() == b""


@settings(max_examples=60, deadline=None)
@given(
    role=st.sampled_from(list(Role)),
    state=st.sampled_from([OPEN, TX, RX, TRX]),
    request=st.sampled_from([PDU_CLASSES[c] for c in REQUEST_IDS]).flatmap(pdus_of),
)
def test_any_valid_request_gets_exactly_one_outcome(role, state, request):
    session = session_in(role, state)
    events = session.receive_data(encode(request), now_s=0)
    answers = decode_all(session.data_to_send())
    received = [e for e in events if isinstance(e, RequestReceived)]
    assert len(received) + len(answers) == 1
    assert all(a.sequence_number == request.sequence_number for a in answers)


# --- what we send, in each state ------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", [OPEN, BINDING, TX, RX, TRX, UNBINDING, State.UNBOUND])
@pytest.mark.parametrize("command_id", REQUEST_IDS)
def test_local_requests_follow_the_table_and_illegal_ones_change_nothing(role, state, command_id):
    session = session_in(role, state)
    session._last_sequence_number = 41
    before = snapshot(session)
    request = sample(command_id)
    if state in SENT_BY[role].get(command_id, set()):
        sent = session.send(request, now_s=0)
        assert sent.sequence_number == 42
        assert decode_all(session.data_to_send()) == [request]
        return
    with pytest.raises(SessionError):
        session.send(request, now_s=0)
    assert snapshot(session) == before
    assert session.data_to_send() == b""
    assert request.sequence_number == 0


def test_sending_on_a_closed_session_raises():
    session = session_in(Role.ESME, TRX)
    session.close()
    with pytest.raises(SessionError):
        session.send(SubmitSm(), 0)
    with pytest.raises(SessionError):
        session.send(SubmitSmResp(sequence_number=3), 0)


def test_a_request_that_cannot_be_encoded_consumes_no_sequence_number():
    session = session_in(Role.ESME, TRX)
    before = snapshot(session)
    with pytest.raises(PDUEncodeError):
        session.send(SubmitSm(source_addr="1" * 30), 0)
    assert snapshot(session) == before
    assert session.data_to_send() == b""
    assert session.send(SubmitSm(), 0).sequence_number == 1


def test_requests_are_refused_while_our_unbind_is_outstanding():
    esme, _ = bound_pair()
    esme.unbind(0)
    before = snapshot(esme)
    with pytest.raises(SessionError):
        esme.send(SubmitSm(), 0)
    with pytest.raises(SessionError):
        esme.unbind(0)
    assert snapshot(esme) == before


# --- binding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bind_cls", "state"),
    [(BindTransmitter, TX), (BindReceiver, RX), (BindTransceiver, TRX)],
)
def test_bind_moves_both_sides_to_the_bound_state(bind_cls, state):
    esme, smsc = bound_pair(bind_cls)
    assert esme.state is state and smsc.state is state
    assert esme.peer_system_id == "smsc" and smsc.peer_system_id == "esme"


def test_a_second_bind_is_answered_already_bound():
    _esme, smsc = bound_pair()
    smsc.receive_data(encode(BindTransmitter(sequence_number=9)), 0)
    [reply] = decode_all(smsc.data_to_send())
    assert reply.command_status == S.ESME_RALYBND and reply.sequence_number == 9
    assert smsc.state is TRX


# --- sequence numbers and window ------------------------------------------------------------------


def test_sequence_numbers_start_at_one_and_wrap_after_0x7fffffff():
    session = session_in(Role.ESME, TRX)
    session.timers = SessionTimers(window=10_000)
    assert session.send(SubmitSm(), 0).sequence_number == 1
    session._last_sequence_number = MAX_SEQUENCE_NUMBER - 1
    assert session.send(SubmitSm(), 0).sequence_number == MAX_SEQUENCE_NUMBER
    # 1 is still outstanding (no response yet): the wrap skips it
    assert session.send(SubmitSm(), 0).sequence_number == 2


def test_window_full_raises_and_a_response_reopens_it():
    session = session_in(Role.ESME, TRX)
    sent = [session.send(SubmitSm(), 0) for _ in range(3)]
    session.data_to_send()
    before = snapshot(session)
    with pytest.raises(WindowFull):
        session.send(SubmitSm(), 0)
    with pytest.raises(WindowFull):
        session.send(EnquireLink(), 0)
    assert snapshot(session) == before
    assert session.data_to_send() == b""
    events = session.receive_data(encode(sent[1].make_response(message_id="m")), 0)
    assert [type(e) for e in events] == [ResponseReceived]
    assert events[0].request is sent[1]
    assert session.window_available == 1
    assert session.send(SubmitSm(), 0).sequence_number == 4


def test_unbind_goes_out_when_the_window_is_full():
    session = session_in(Role.ESME, TRX)
    for _ in range(3):
        session.send(SubmitSm(), 0)
    assert session.window_available == 0
    unbind = session.unbind(0)
    assert unbind.sequence_number == 4
    assert session.state is State.UNBINDING


def test_responses_may_be_sent_when_the_window_is_full():
    session = session_in(Role.ESME, TRX)
    for _ in range(3):
        session.send(SubmitSm(), 0)
    session.send(DeliverSm(sequence_number=77).make_response(), 0)
    assert decode_all(session.data_to_send())[-1].sequence_number == 77


def test_timers_are_validated():
    with pytest.raises(ValueError):
        SessionTimers(response_timeout_s=0)
    with pytest.raises(ValueError):
        SessionTimers(enquire_link_interval_s=-1)
    with pytest.raises(ValueError):
        SessionTimers(window=0)


# --- timers ---------------------------------------------------------------------------------------


def test_a_request_times_out_at_its_deadline_not_before():
    session = session_in(Role.ESME, TRX, now_s=100)
    request = session.send(SubmitSm(), now_s=100)
    assert session.next_deadline_s() == 110
    assert session.tick(109.999) == []
    assert session.outstanding_count == 1
    assert session.tick(110) == [RequestTimedOut(request)]
    assert session.outstanding_count == 0
    # a late response then answers nothing
    events = session.receive_data(encode(request.make_response()), 111)
    assert [type(e) for e in events] == [ProtocolViolation]


def test_enquire_link_is_sent_when_the_link_is_idle_and_its_answer_keeps_it_alive():
    esme, smsc = bound_pair()
    assert esme.next_deadline_s() == 60
    assert esme.tick(59) == [] and esme.data_to_send() == b""
    assert esme.tick(60) == []
    [probe] = decode_all(esme.data_to_send())
    assert isinstance(probe, EnquireLink)
    assert esme.next_deadline_s() == 70  # the probe's own response deadline
    assert esme.tick(65) == [] and esme.data_to_send() == b""  # no second probe while one waits
    assert smsc.receive_data(encode(probe), 61) == []
    [answer] = decode_all(smsc.data_to_send())
    assert isinstance(answer, EnquireLinkResp) and answer.sequence_number == probe.sequence_number
    events = esme.receive_data(encode(answer), 62)
    assert [type(e) for e in events] == [ResponseReceived]
    assert esme.state is TRX
    assert esme.next_deadline_s() == 122


def test_traffic_from_the_peer_postpones_the_probe():
    esme, _ = bound_pair()
    esme.receive_data(encode(DeliverSm(sequence_number=5)), 50)
    assert esme.tick(60) == [] and esme.data_to_send() == b""
    assert esme.next_deadline_s() == 110


def test_an_unanswered_enquire_link_declares_the_link_dead():
    esme, _ = bound_pair()
    esme.tick(60)
    esme.data_to_send()
    events = esme.tick(70)
    assert any(isinstance(e, MustClose) for e in events)
    assert esme.state is State.CLOSED
    assert esme.next_deadline_s() is None


def test_no_enquire_link_before_bind():
    session = Session(Role.ESME, TIMERS)
    assert session.next_deadline_s() is None
    assert session.tick(1000) == [] and session.data_to_send() == b""


def test_an_unanswered_unbind_closes_and_reports_its_timeout():
    esme, _ = bound_pair()
    unbind = esme.unbind(0)
    events = esme.tick(10)
    assert RequestTimedOut(unbind) in events
    assert Unbound(by_peer=False) in events
    assert isinstance(events[-1], MustClose)
    assert esme.state is State.CLOSED


# --- unbind handshake -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["esme", "smsc"])
def test_unbind_handshake_in_both_directions(who):
    esme, smsc = bound_pair()
    first, second = (esme, smsc) if who == "esme" else (smsc, esme)
    unbind = first.unbind(1)
    events = second.receive_data(first.data_to_send(), 1)
    assert events[0] == Unbound(by_peer=True)
    assert isinstance(events[1], MustClose)
    assert second.state is State.CLOSED
    [answer] = decode_all(second.data_to_send())
    assert answer.command_id == C.UNBIND_RESP and answer.sequence_number == unbind.sequence_number
    events = first.receive_data(encode(answer), 2)
    assert [type(e) for e in events] == [ResponseReceived, Unbound, MustClose]
    assert events[1] == Unbound(by_peer=False)
    assert first.state is State.CLOSED


def test_close_keeps_outstanding_requests_for_the_caller_to_fail():
    esme, _smsc = bound_pair()
    submit = esme.send(SubmitSm(), 0)
    esme.receive_data(encode(Unbind(sequence_number=50)), 1)  # the peer unbinds first
    assert esme.state is State.CLOSED
    assert esme.abandon_outstanding() == [submit]
    assert esme.abandon_outstanding() == []


# --- malformed input ------------------------------------------------------------------------------


def header(length: int, command_id: int, status: int, sequence_number: int) -> bytes:
    return struct.pack(">IIII", length, command_id, status, sequence_number)


@pytest.mark.parametrize("role", list(Role))
def test_unknown_command_id_gets_generic_nack_and_the_stream_goes_on(role):
    session = session_in(role, TRX)
    data = header(16, 0x00000099, 0, 31) + encode(EnquireLink(sequence_number=32))
    events = session.receive_data(data, 0)
    assert [type(e) for e in events] == [ProtocolViolation]
    nack, answer = decode_all(session.data_to_send())
    assert isinstance(nack, GenericNack)
    assert (nack.command_status, nack.sequence_number) == (S.ESME_RINVCMDID, 31)
    assert isinstance(answer, EnquireLinkResp) and answer.sequence_number == 32
    assert session.state is TRX


def test_a_bad_field_gets_the_requests_own_response_with_the_fields_status():
    session = session_in(Role.SMSC, TRX)
    data = bytearray(encode(SubmitSm(sequence_number=7, source_addr="1", destination_addr="2")))
    data[17] = 7  # source_addr_ton: 7 is not a TON
    events = session.receive_data(bytes(data), 0)
    assert [type(e) for e in events] == [ProtocolViolation]
    assert events[0].error.status == S.ESME_RINVSRCTON
    [reply] = decode_all(session.data_to_send())
    assert isinstance(reply, SubmitSmResp)
    assert (reply.command_status, reply.sequence_number) == (S.ESME_RINVSRCTON, 7)
    assert session.state is TRX


def test_a_bad_field_in_a_response_is_not_answered():
    session = session_in(Role.ESME, TRX)
    submit = session.send(SubmitSm(), 0)
    session.data_to_send()
    data = bytearray(encode(SubmitSmResp(sequence_number=submit.sequence_number, message_id="ab")))
    data[-1] = ord("x")  # message_id loses its NUL
    events = session.receive_data(bytes(data), 0)
    assert [type(e) for e in events] == [ProtocolViolation]
    assert session.data_to_send() == b""


@pytest.mark.parametrize(
    "bad_header",
    [
        header(8, C.SUBMIT_SM, 0, 5),  # shorter than a header
        header(1_000_000, C.SUBMIT_SM, 0, 5),  # longer than max_pdu_length
        header(1_000_000, 0x12345, 0, 5),  # unknown command too
    ],
)
def test_an_unusable_length_gets_generic_nack_and_closes(bad_header):
    session = session_in(Role.SMSC, TRX)
    events = session.receive_data(bad_header + b"\x00" * 4, 0)
    assert [type(e) for e in events] == [ProtocolViolation, MustClose]
    [nack] = decode_all(session.data_to_send())
    assert isinstance(nack, GenericNack)
    assert nack.command_status == S.ESME_RINVCMDLEN
    assert session.state is State.CLOSED
    assert session.receive_data(encode(EnquireLink(sequence_number=1)), 0) == []


def test_a_response_that_answers_nothing_is_reported_and_not_answered():
    session = session_in(Role.ESME, TRX)
    events = session.receive_data(encode(SubmitSmResp(sequence_number=99)), 0)
    assert [type(e) for e in events] == [ProtocolViolation]
    assert "answers nothing" in events[0].description
    assert session.data_to_send() == b""


def test_a_response_of_the_wrong_type_leaves_the_request_waiting():
    session = session_in(Role.ESME, TRX)
    submit = session.send(SubmitSm(), 0)
    events = session.receive_data(encode(QuerySmResp(sequence_number=submit.sequence_number)), 0)
    assert [type(e) for e in events] == [ProtocolViolation]
    assert session.outstanding_count == 1
    events = session.receive_data(encode(GenericNack(sequence_number=submit.sequence_number)), 0)
    assert [type(e) for e in events] == [ResponseReceived]
    assert session.outstanding_count == 0


def test_bytes_fed_one_at_a_time_give_the_same_events():
    esme = Session(Role.ESME, TIMERS)
    bind = esme.send(BindTransceiver(system_id="e"), 0)
    data = encode(BindTransceiverResp(sequence_number=bind.sequence_number, system_id="s"))
    data += encode(DeliverSm(sequence_number=3, short_message=b"hello"))
    events = []
    for index in range(len(data)):
        events += esme.receive_data(data[index : index + 1], 0)
    assert [type(e) for e in events] == [ResponseReceived, Bound, RequestReceived]
    assert events[2].pdu.short_message == b"hello"
