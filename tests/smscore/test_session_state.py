"""The session's transition table: every pair in it moves there, every pair outside it is refused.

Also the two states the table added: BINDING (no second bind while one is authenticated) and
UNBINDING (no new requests from us while our unbind is outstanding).
"""

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport

from smscore.codec import StreamDecoder, encode
from smscore.pdu import (
    PDU,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    GenericNack,
    SubmitSm,
)
from smscore.session import (
    TRANSITIONS,
    IllegalTransition,
    RequestReceived,
    ResponseReceived,
    Role,
    Session,
    SessionError,
    State,
)
from smscore.session_state import Trigger, next_state
from smscore.smsc import SMSCFactory
from smscore.status import CommandStatus as S
from tests.smscore.loopback import BoundedClock

ALL_PAIRS = [(role, state, trigger) for role in Role for state in State for trigger in Trigger]
IN_TABLE = [(r, s, t) for r, s, t in ALL_PAIRS if (s, t) in TRANSITIONS[r]]
NOT_IN_TABLE = [(r, s, t) for r, s, t in ALL_PAIRS if (s, t) not in TRANSITIONS[r]]


def session_in(role: Role, state: State) -> Session:
    session = Session(role)
    session.state = state
    return session


def decode_all(data: bytes) -> list[PDU]:
    decoder = StreamDecoder()
    decoder.feed(data)
    return list(decoder)


@pytest.mark.parametrize(("role", "state", "trigger"), IN_TABLE)
def test_every_pair_in_the_table_moves_to_the_tables_state(role, state, trigger):
    session = session_in(role, state)
    session._apply(trigger)
    assert session.state is TRANSITIONS[role][(state, trigger)]
    assert next_state(role, state, trigger) is session.state


@pytest.mark.parametrize(("role", "state", "trigger"), NOT_IN_TABLE)
def test_every_pair_outside_the_table_raises_and_changes_nothing(role, state, trigger):
    session = session_in(role, state)
    with pytest.raises(IllegalTransition):
        session._apply(trigger)
    assert session.state is state
    with pytest.raises(SessionError):  # the typed error is a SessionError
        next_state(role, state, trigger)


def test_the_tables_differ_only_in_who_starts_a_bind():
    esme, smsc = TRANSITIONS[Role.ESME], TRANSITIONS[Role.SMSC]
    assert set(esme) ^ set(smsc) == {
        (State.OPEN, Trigger.BIND_SENT),
        (State.OPEN, Trigger.BIND_RECEIVED),
    }
    assert len(NOT_IN_TABLE) > len(IN_TABLE) > 0


# --- BINDING ------------------------------------------------------------------------------------


def test_a_second_bind_during_authentication_is_answered_already_bound_by_the_session():
    smsc = Session(Role.SMSC)
    [first] = smsc.receive_data(encode(BindTransceiver(sequence_number=1, system_id="a")), 0)
    assert isinstance(first, RequestReceived) and smsc.state is State.BINDING
    events = smsc.receive_data(encode(BindTransmitter(sequence_number=2, system_id="b")), 0)
    assert not any(isinstance(event, RequestReceived) for event in events)
    [reply] = decode_all(smsc.data_to_send())
    assert (reply.command_status, reply.sequence_number) == (S.ESME_RALYBND, 2)
    smsc.send(first.pdu.make_response(system_id="smsc"), 0)  # the first bind still completes
    assert smsc.state is State.BOUND_TRX


def test_a_refused_bind_returns_the_smsc_to_open_and_a_new_bind_is_heard():
    smsc = Session(Role.SMSC)
    [first] = smsc.receive_data(encode(BindTransceiver(sequence_number=1)), 0)
    smsc.send(first.pdu.make_response(S.ESME_RINVPASWD), 0)
    assert smsc.state is State.OPEN
    [again] = smsc.receive_data(encode(BindTransceiver(sequence_number=2)), 0)
    assert isinstance(again, RequestReceived)


def test_an_esme_binds_once_and_a_bind_timeout_returns_it_to_open():
    esme = Session(Role.ESME)
    esme.send(BindTransceiver(), 0)
    assert esme.state is State.BINDING
    with pytest.raises(SessionError):
        esme.send(BindTransmitter(), 0)
    assert esme.can_send(EnquireLink.command_id)  # still allowed while the bind is under way
    esme.tick(esme.timers.response_timeout_s)
    assert esme.state is State.OPEN


def test_second_bind_never_reaches_the_authenticator_while_the_first_is_pending():
    clock = BoundedClock()
    calls: list[str] = []
    pending: list[Deferred] = []

    def authenticator(bind: PDU, peer: str) -> Deferred:
        calls.append(bind.system_id)
        pending.append(Deferred())
        return pending[-1]

    protocol = SMSCFactory(clock, authenticator).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(encode(BindTransceiver(sequence_number=1, system_id="first")))
    protocol.dataReceived(encode(BindTransceiver(sequence_number=2, system_id="second")))
    assert calls == ["first"]
    [refusal] = decode_all(transport.value())
    assert isinstance(refusal, BindTransceiverResp)
    assert (refusal.command_status, refusal.sequence_number) == (S.ESME_RALYBND, 2)
    transport.clear()
    pending[0].callback(S.ESME_ROK)
    [accepted] = decode_all(transport.value())
    assert (accepted.command_status, accepted.sequence_number) == (S.ESME_ROK, 1)
    assert protocol.session.state is State.BOUND_TRX and protocol.system_id == "first"


def test_a_refused_bind_leaves_both_sides_open():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.send(BindTransceiver(system_id="esme"), 0)
    [event] = smsc.receive_data(esme.data_to_send(), 0)
    smsc.send(event.pdu.make_response(S.ESME_RINVPASWD), 0)
    [event] = esme.receive_data(smsc.data_to_send(), 0)
    assert isinstance(event, ResponseReceived)
    assert event.response.command_status == S.ESME_RINVPASWD
    assert esme.state is State.OPEN and smsc.state is State.OPEN


def test_a_generic_nack_with_status_zero_does_not_bind():
    esme = Session(Role.ESME)
    bind = esme.send(BindTransceiver(system_id="esme"), 0)
    events = esme.receive_data(encode(GenericNack(sequence_number=bind.sequence_number)), 0)
    assert [type(e) for e in events] == [ResponseReceived]
    assert esme.state is State.OPEN


# --- UNBINDING ----------------------------------------------------------------------------------


def bound_esme() -> tuple[Session, Session]:
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.send(BindTransceiver(system_id="e"), 0)
    [bind] = smsc.receive_data(esme.data_to_send(), 0)
    smsc.send(bind.pdu.make_response(system_id="s"), 0)
    esme.receive_data(smsc.data_to_send(), 0)
    return esme, smsc


def test_unbinding_is_a_state_no_longer_bound_and_crossed_requests_are_still_heard():
    esme, _smsc = bound_esme()
    esme.unbind(0)
    assert esme.state is State.UNBINDING and not esme.is_bound
    assert not esme.can_send(SubmitSm.command_id)
    with pytest.raises(SessionError):
        esme.send(SubmitSm(), 0)
    events: list[Any] = esme.receive_data(encode(DeliverSm(sequence_number=9)), 0)
    assert [type(event) for event in events] == [RequestReceived]  # it crossed our unbind
    assert esme.next_deadline_s() == esme.timers.response_timeout_s  # the unbind's, no probe
