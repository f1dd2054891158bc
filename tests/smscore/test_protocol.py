"""ESMEProtocol and SMSCProtocol over in-memory transports on a task.Clock (no sockets, no sleeps)."""

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from smscore.errors import PDUEncodeError, SMPPError
from smscore.esme import BindError, BindType, ESMEConfig, ESMEProtocol
from smscore.pdu import PDU, DeliverSm, SubmitSm, SubmitSmResp, Unbind
from smscore.protocol import (
    ConnectionLostError,
    FlowControl,
    NotSent,
    QueueFull,
    ResponseTimeout,
)
from smscore.session import SessionTimers, State
from smscore.smsc import SMSCConfig, SMSCFactory, SMSCProtocol
from smscore.status import CommandStatus as S
from tests.smscore.loopback import ESME_ADDRESS, BoundedClock, Loopback

TIMERS = SessionTimers(response_timeout_s=10, enquire_link_interval_s=60, window=2)


def outcome(deferred: Deferred) -> list[Any]:
    """A list that receives the Deferred's result or Failure when it fires (empty until then)."""
    box: list[Any] = []
    deferred.addBoth(box.append)
    return box


def failure_of(deferred: Deferred | list[Any], error_type: type[BaseException]) -> Failure:
    """The Failure a Deferred (or an `outcome` box already attached to one) fired with."""
    [value] = deferred if isinstance(deferred, list) else outcome(deferred)
    assert isinstance(value, Failure), f"expected {error_type.__name__}, got {value!r}"
    assert value.check(error_type), value
    return value


def accept_all(bind: PDU, peer: str) -> int:
    return S.ESME_ROK


class ScriptedSMSC:
    """An SMSC request handler: records submits; answers from a script of statuses, or holds them."""

    def __init__(self, statuses: list[int] | None = None, *, hold: bool = False) -> None:
        self.statuses = list(statuses or [])
        self.hold = hold
        self.received: list[tuple[float, PDU]] = []
        self.held: list[tuple[PDU, Deferred]] = []
        self.clock: Clock | None = None

    def __call__(self, protocol: SMSCProtocol, pdu: PDU) -> PDU | Deferred:
        self.received.append((protocol.reactor.seconds(), pdu))
        if self.hold:
            answer: Deferred = Deferred()
            self.held.append((pdu, answer))
            return answer
        status = self.statuses.pop(0) if self.statuses else S.ESME_ROK
        return pdu.make_response(status, message_id=f"m{len(self.received)}")

    def release(self, index: int = 0) -> None:
        pdu, answer = self.held.pop(index)
        answer.callback(pdu.make_response(message_id=f"m-{pdu.sequence_number}"))


def esme_config(**changes: Any) -> ESMEConfig:
    values: dict[str, Any] = {"system_id": "esme1", "password": "secret", "timers": TIMERS}
    values.update(changes)
    return ESMEConfig(**values)


class Pair:
    """One ESME bound (or binding) to one SMSC over a Loopback."""

    def __init__(
        self,
        *,
        config: ESMEConfig | None = None,
        on_message: Callable[[PDU], Any] | None = None,
        authenticator: Callable[[PDU, str], Any] = accept_all,
        handler: Any = None,
        smsc_flow: FlowControl | None = None,
        smsc_timers: SessionTimers = TIMERS,
        byte_at_a_time: bool = False,
        connect: bool = True,
    ) -> None:
        self.clock = BoundedClock(max_calls=100_000)
        self.clock.advance(1000)  # a non-zero start catches "time since 0" mistakes
        self.handler = handler if handler is not None else ScriptedSMSC()
        smsc_config = SMSCConfig(timers=smsc_timers, flow=smsc_flow or FlowControl())
        self.factory = SMSCFactory(self.clock, authenticator, self.handler, smsc_config)
        self.smsc: SMSCProtocol = self.factory.buildProtocol(ESME_ADDRESS)
        kwargs = {} if on_message is None else {"on_message": on_message}
        self.esme = ESMEProtocol(self.clock, config or esme_config(), **kwargs)
        self.bound = outcome(self.esme.when_bound)
        self.closed = outcome(self.esme.when_closed)
        self.link = Loopback(self.esme, self.smsc, self.clock, byte_at_a_time=byte_at_a_time)
        if connect:
            self.link.connect()
            self.link.pump()

    def advance(self, seconds: float) -> None:
        self.link.advance(seconds)

    def run_timers_until(self, end_s: float) -> None:
        """Step the clock from timer to timer (exactly, no float drift from small steps) to end_s."""
        for _ in range(10_000):  # a timer that keeps re-arming for "now" is a livelock: fail
            due = [call.getTime() for call in self.clock.getDelayedCalls()]
            next_at = min((at for at in due if at <= end_s), default=None)
            if next_at is None:
                break
            self.advance(next_at - self.clock.seconds())
        else:
            raise AssertionError("timers never settled")
        self.advance(end_s - self.clock.seconds())


def submit_sm(text: bytes = b"hi") -> SubmitSm:
    return SubmitSm(source_addr="100", destination_addr="254700000001", short_message=text)


# --- bind -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_bind_and_submit(byte_at_a_time):
    pair = Pair(byte_at_a_time=byte_at_a_time)
    assert pair.bound == [pair.esme]
    assert pair.esme.session.state is State.BOUND_TRX
    assert pair.esme.session.peer_system_id == "SMSCORE"
    assert pair.factory.bound_protocols == [pair.smsc] and pair.smsc.system_id == "esme1"
    response = outcome(pair.esme.submit(submit_sm(b"hello")))
    pair.link.pump()
    assert isinstance(response[0], SubmitSmResp) and response[0].message_id == "m1"
    assert pair.handler.received[0][1].short_message == b"hello"


@pytest.mark.parametrize(
    ("bind_type", "state"),
    [
        (BindType.TRANSMITTER, State.BOUND_TX),
        (BindType.RECEIVER, State.BOUND_RX),
        (BindType.TRANSCEIVER, State.BOUND_TRX),
    ],
)
def test_each_bind_type_and_who_may_receive(bind_type, state):
    pair = Pair(config=esme_config(bind_type=bind_type))
    assert pair.smsc.session.state is state
    may_receive = bind_type is not BindType.TRANSMITTER
    assert pair.factory.receivers() == ([pair.smsc] if may_receive else [])
    assert pair.factory.receivers("someone-else") == []
    if bind_type is BindType.RECEIVER:
        with pytest.raises(SMPPError):
            pair.esme.submit(submit_sm())


@pytest.mark.parametrize(
    "status", [S.ESME_RINVPASWD, S.ESME_RINVSYSID, S.ESME_RBINDFAIL, S.ESME_RALYBND]
)
@pytest.mark.parametrize("deferred", [False, True])
def test_authenticator_refusing_fails_the_bind_with_its_status(status, deferred):
    seen: list[tuple[str, str]] = []

    def authenticator(bind: PDU, peer: str) -> Any:
        seen.append((bind.system_id, peer))
        return succeed(status) if deferred else status

    pair = Pair(authenticator=authenticator)
    error = failure_of(pair.bound, BindError).value
    assert error.status == status
    assert seen == [("esme1", "127.0.0.1:40001")]
    assert pair.link.closed and pair.closed == [None]
    assert pair.factory.bound_protocols == []


def test_authenticator_that_raises_answers_system_error():
    def authenticator(bind: PDU, peer: str) -> Any:
        return fail(RuntimeError("credential store down"))

    pair = Pair(authenticator=authenticator)
    assert failure_of(pair.bound, BindError).value.status == S.ESME_RSYSERR


def test_a_bind_without_answer_times_out():
    pair = Pair(authenticator=lambda bind, peer: Deferred())
    assert pair.bound == []
    pair.advance(10)
    failure_of(pair.bound, ResponseTimeout)
    assert pair.link.closed


def test_the_connection_dropping_during_bind_fails_when_bound():
    pair = Pair(authenticator=lambda bind, peer: Deferred())
    pair.link.drop()
    failure_of(pair.bound, ConnectionLostError)


# --- window, queue, TPS ---------------------------------------------------------------------------


def test_more_submits_than_the_window_wait_and_go_as_responses_arrive():
    handler = ScriptedSMSC(hold=True)
    pair = Pair(handler=handler)
    results = [outcome(pair.esme.submit(submit_sm(bytes([65 + i])))) for i in range(5)]
    pair.link.pump()
    assert len(handler.held) == 2 and pair.esme.queued_count == 3
    handler.release(1)  # responses may come out of order
    pair.link.pump()
    assert len(handler.held) == 2 and pair.esme.queued_count == 2
    while handler.held:
        handler.release()
        pair.link.pump()
    assert [r[0].message_id for r in results] == [f"m-{n}" for n in (2, 3, 4, 5, 6)]
    sent = [pdu.short_message for _, pdu in handler.received]
    assert sent == [b"A", b"B", b"C", b"D", b"E"]


def test_submits_before_the_bind_completes_wait_for_it():
    pair = Pair(connect=False)
    result = outcome(pair.esme.submit(submit_sm()))
    pair.link.connect()
    pair.link.pump()
    assert isinstance(result[0], SubmitSmResp)


def test_queue_full():
    pair = Pair(config=esme_config(flow=FlowControl(max_queued=2)), connect=False)
    pair.esme.submit(submit_sm())
    pair.esme.submit(submit_sm())
    with pytest.raises(QueueFull):
        pair.esme.submit(submit_sm())
    assert pair.esme.queued_count == 2


@pytest.mark.parametrize(
    ("tps", "count", "expected_s"),
    [(10, 5, 0.4), (4, 9, 2.0), (100, 30, 0.2)],  # burst is max(1, tps/10)
)
def test_tps_limit_spaces_submits_in_simulated_time(tps, count, expected_s):
    timers = SessionTimers(response_timeout_s=100, enquire_link_interval_s=600, window=50)
    config = esme_config(timers=timers, flow=FlowControl(tps_limit=tps))
    pair = Pair(config=config)
    start = pair.clock.seconds()
    results = [outcome(pair.esme.submit(submit_sm())) for _ in range(count)]
    pair.link.pump()
    pair.run_timers_until(start + expected_s + 5)
    assert all(r for r in results)
    sent_at = [at - start for at, _ in pair.handler.received]
    assert sent_at[-1] == pytest.approx(expected_s, abs=1e-6)
    burst = max(1, tps // 10)
    assert sent_at[:burst] == [0] * burst
    gaps = [b - a for a, b in zip(sent_at[burst - 1 : -1], sent_at[burst:], strict=True)]
    assert gaps == pytest.approx([1 / tps] * (count - burst), abs=1e-6)


def test_tps_limit_does_not_stall_on_float_rounding():
    config = esme_config(flow=FlowControl(tps_limit=10))
    pair = Pair(config=config)
    results = [outcome(pair.esme.submit(submit_sm())) for _ in range(2)]
    pair.advance(0.1 + 1e-9)  # one token's worth of time (the timer adds a few ulps)
    assert len(pair.handler.received) == 2 and all(results)
    assert pair.clock.calls_made < 10  # no storm of ~0 s re-armed timers


# --- throttling -----------------------------------------------------------------------------------

BACKOFF = FlowControl(throttle_backoff_initial_s=0.5, throttle_backoff_max_s=1.5)


@pytest.mark.parametrize("busy", [S.ESME_RTHROTTLED, S.ESME_RMSGQFUL])
def test_throttled_backs_off_exponentially_capped_then_succeeds(busy):
    handler = ScriptedSMSC([busy, busy, busy, S.ESME_ROK, busy, S.ESME_ROK])
    pair = Pair(config=esme_config(flow=BACKOFF), handler=handler)
    start = pair.clock.seconds()
    first = outcome(pair.esme.submit(submit_sm()))
    pair.link.pump()
    for _ in range(40):
        pair.advance(0.25)
    assert first[0].command_status == S.ESME_ROK
    attempts_at = [at - start for at, _ in handler.received]
    assert attempts_at == [0, 0.5, 1.5, 3.0]  # 0.5, 1.0, then capped at 1.5
    # success resets the backoff: the next throttle waits the initial delay again
    second = outcome(pair.esme.submit(submit_sm()))
    now = pair.clock.seconds() - start
    pair.link.pump()
    pair.advance(0.25)
    pair.advance(0.25)
    assert second[0].command_status == S.ESME_ROK
    assert [at - start for at, _ in handler.received][4:] == [now, now + 0.5]


def test_throttle_retries_are_limited_and_the_last_answer_is_returned():
    flow = FlowControl(
        throttle_backoff_initial_s=1, throttle_backoff_max_s=1, max_throttle_retries=2
    )
    handler = ScriptedSMSC([S.ESME_RTHROTTLED] * 10)
    pair = Pair(config=esme_config(flow=flow), handler=handler)
    result = outcome(pair.esme.submit(submit_sm()))
    pair.link.pump()
    for _ in range(10):
        pair.advance(1)
    assert result[0].command_status == S.ESME_RTHROTTLED
    assert len(handler.received) == 3


def test_other_errors_are_not_retried():
    handler = ScriptedSMSC([S.ESME_RINVDSTADR])
    pair = Pair(handler=handler)
    result = outcome(pair.esme.submit(submit_sm()))
    pair.link.pump()
    pair.advance(100)
    assert result[0].command_status == S.ESME_RINVDSTADR
    assert len(handler.received) == 1


# --- failures -------------------------------------------------------------------------------------


def test_response_timeout_fails_the_submit_and_frees_the_window():
    handler = ScriptedSMSC(hold=True)
    pair = Pair(handler=handler)
    results = [outcome(pair.esme.submit(submit_sm())) for _ in range(3)]
    pair.link.pump()
    pair.advance(9.9)
    assert results == [[], [], []]
    pair.advance(0.1)
    assert [r[0].type for r in results[:2]] == [ResponseTimeout, ResponseTimeout]
    assert len(handler.received) == 3  # the queued one went out once the window opened
    assert results[2] == []


def test_connection_lost_fails_in_flight_and_queued_submits_differently():
    handler = ScriptedSMSC(hold=True)
    pair = Pair(handler=handler)
    results = [outcome(pair.esme.submit(submit_sm())) for _ in range(4)]
    pair.link.pump()
    pair.link.drop()
    errors = [r[0].type for r in results]
    assert errors == [ConnectionLostError, ConnectionLostError, NotSent, NotSent]
    assert pair.closed == [None]
    assert pair.factory.bound_protocols == []
    failure_of(pair.esme.submit(submit_sm()), NotSent)  # after the loss: refused, not hung


def test_a_submit_that_cannot_be_encoded_fails_alone():
    pair = Pair()
    bad = outcome(pair.esme.submit(SubmitSm(source_addr="1" * 40)))
    good = outcome(pair.esme.submit(submit_sm()))
    pair.link.pump()
    assert bad[0].check(PDUEncodeError)
    assert isinstance(good[0], SubmitSmResp)


def test_a_dead_link_is_detected_by_the_enquire_link_timeout():
    pair = Pair()
    pair.clock.advance(60)  # 60 s without input: both sides probe
    pair.link.client_transport.clear()  # the ESME's probe is lost
    pair.link.pump()
    pair.advance(9.9)
    assert not pair.link.closed
    pair.advance(0.1)
    assert pair.link.closed and pair.closed == [None]


def test_a_dead_link_fails_the_submit_in_flight_with_connection_lost():
    timers = SessionTimers(response_timeout_s=100, enquire_link_interval_s=30, window=2)
    handler = ScriptedSMSC(hold=True)
    pair = Pair(config=esme_config(timers=timers), handler=handler)
    pair.clock.advance(30)  # the ESME probes ...
    pair.link.client_transport.clear()  # ... and the probe is lost
    pair.advance(1)
    in_flight = outcome(pair.esme.submit(submit_sm()))  # its deadline is after the probe's
    pair.link.pump()
    pair.advance(98.9)
    assert in_flight == [] and not pair.link.closed
    pair.advance(0.1)
    assert pair.link.closed
    assert in_flight[0].check(ConnectionLostError)


def test_idle_link_is_probed_and_stays_up_when_answered():
    quiet = SessionTimers(response_timeout_s=10, enquire_link_interval_s=3600, window=2)
    pair = Pair(smsc_timers=quiet)
    before = (pair.link.bytes_to_server, pair.link.bytes_to_client)
    pair.advance(59.9)
    assert (pair.link.bytes_to_server, pair.link.bytes_to_client) == before
    pair.advance(0.1)
    # one enquire_link out, one enquire_link_resp back
    assert (pair.link.bytes_to_server, pair.link.bytes_to_client) == (
        before[0] + 16,
        before[1] + 16,
    )
    pair.advance(60 * 5)
    assert not pair.link.closed
    assert pair.esme.session.is_bound


def test_peer_unbind_fails_submits_in_flight():
    handler = ScriptedSMSC(hold=True)
    pair = Pair(handler=handler)
    in_flight = outcome(pair.esme.submit(submit_sm()))
    pair.link.pump()
    unbound = outcome(pair.smsc.unbind())
    pair.link.pump()
    assert unbound[0].command_id == Unbind.response_class.command_id
    assert pair.link.closed
    assert in_flight[0].check(ConnectionLostError)


def test_esme_unbind_fires_with_the_response_and_closes():
    pair = Pair()
    done = outcome(pair.esme.unbind())
    pair.link.pump()
    assert done[0].command_status == S.ESME_ROK
    assert pair.link.closed and pair.closed == [None]
    assert pair.factory.bound_protocols == []


def test_unbind_without_answer_times_out():
    pair = Pair()
    pair.smsc.dataReceived = lambda data: None  # a peer that stopped reading
    done = outcome(pair.esme.unbind())
    pair.advance(10)
    assert done[0].check(ResponseTimeout)
    assert pair.link.closed


# --- deliver_sm and the application's answer -------------------------------------------------------


def deliver(pair: Pair, text: bytes = b"SEND 0712 500") -> list[Any]:
    result = outcome(pair.smsc.deliver(DeliverSm(source_addr="2547", short_message=text)))
    pair.link.pump()
    return result


def test_on_message_deferred_delays_deliver_sm_resp_until_it_fires():
    pending: list[Deferred] = []

    def on_message(pdu: PDU) -> Deferred:
        pending.append(Deferred())
        return pending[-1]

    pair = Pair(on_message=on_message)
    answered = deliver(pair)
    assert len(pending) == 1 and answered == []
    pair.advance(5)
    assert answered == []
    pending[0].callback(S.ESME_ROK)
    pair.link.pump()
    assert answered[0].command_status == S.ESME_ROK


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (lambda pdu: S.ESME_RX_P_APPN, S.ESME_RX_P_APPN),
        (lambda pdu: 1 / 0, S.ESME_RX_T_APPN),
        (lambda pdu: fail(OSError("disk full")), S.ESME_RX_T_APPN),
        (lambda pdu: succeed("not a status"), S.ESME_RX_T_APPN),
    ],
)
def test_on_message_outcomes_become_deliver_sm_resp_statuses(behaviour, status):
    pair = Pair(on_message=behaviour)
    answered = deliver(pair)
    assert answered[0].command_status == status


def test_messages_are_received_one_byte_at_a_time():
    texts: list[bytes] = []
    pair = Pair(on_message=lambda pdu: texts.append(pdu.short_message) or S.ESME_ROK)
    pair.link.byte_at_a_time = True
    results = [deliver(pair, b"message %d" % i) for i in range(3)]
    assert texts == [b"message 0", b"message 1", b"message 2"]
    assert all(r[0].command_status == S.ESME_ROK for r in results)


def test_deliver_waits_for_a_receiver_bind():
    pair = Pair(connect=False)
    answered = outcome(pair.smsc.deliver(DeliverSm(short_message=b"early")))
    pair.link.connect()
    pair.link.pump()
    assert answered[0].command_status == S.ESME_ROK


def test_smsc_rejects_requests_by_default():
    clock = Clock()
    factory = SMSCFactory(clock, accept_all)
    smsc = factory.buildProtocol(ESME_ADDRESS)
    esme = ESMEProtocol(clock, esme_config())
    link = Loopback.between(esme, smsc, clock)
    result = outcome(esme.submit(submit_sm()))
    link.pump()
    assert result[0].command_status == S.ESME_RINVCMDID


def test_an_answer_that_cannot_be_encoded_becomes_system_error():
    def handler(protocol: SMSCProtocol, pdu: PDU) -> PDU:
        return pdu.make_response(message_id="x" * 100)  # message_id holds at most 64

    pair = Pair(handler=handler)
    result = outcome(pair.esme.submit(submit_sm()))
    pair.link.pump()
    assert result[0].command_status == S.ESME_RSYSERR
