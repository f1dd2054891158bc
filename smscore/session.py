"""Sans-I/O SMPP session: bind states, sequence numbers, window, timeouts, enquire_link, unbind.

Bytes in (`receive_data`), events out; PDUs in (`send`), bytes out (`data_to_send`). Time is a number
the caller passes in (`now_s`, in seconds); `tick(now_s)` fires the timers, and `next_deadline_s()` says
when the caller must call it next. No sockets, no Twisted: the protocols in smscore.protocol drive it.
The states and the transitions between them are smscore.session_state's table.

The session answers what the protocol itself dictates (enquire_link_resp, unbind_resp, ESME_RINVBNDSTS,
ESME_RALYBND, generic_nack and error responses for malformed PDUs) and leaves everything else to the
application as events. An illegal local call raises and leaves the session unchanged.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from smscore.codec import DEFAULT_MAX_PDU_LENGTH, StreamDecoder, encode
from smscore.constants import RESPONSE_BIT
from smscore.constants import CommandId as C
from smscore.defaults import (
    DEFAULT_ENQUIRE_LINK_INTERVAL_S,
    DEFAULT_RESPONSE_TIMEOUT_S,
    DEFAULT_WINDOW,
    MAX_WINDOW,
)
from smscore.errors import PDUDecodeError, SMPPError
from smscore.pdu import PDU, PDU_CLASSES, EnquireLink, GenericNack, Unbind
from smscore.pdu_counts import PduCounts
from smscore.session_state import ALLOWED_REQUESTS as ALLOWED_REQUESTS
from smscore.session_state import BIND_STATES as BIND_STATES
from smscore.session_state import (
    BOUND_STATES,
    BOUND_TRIGGERS,
    Role,
    SessionError,
    State,
    Trigger,
    next_state,
)
from smscore.session_state import TRANSITIONS as TRANSITIONS
from smscore.session_state import IllegalTransition as IllegalTransition
from smscore.status import CommandStatus

# sequence_number is 32 bits, but the spec (5.1.4) allows only 0x00000001..0x7FFFFFFF.
MAX_SEQUENCE_NUMBER = 0x7FFFFFFF

# A bind that arrives in these states is answered ESME_RALYBND: one is in progress or done.
_BIND_STARTED = BOUND_STATES | {State.BINDING}

# Responses that change the state when we send them, by command_id (one dict lookup per response).
_BIND_RESPONSES = {command_id | RESPONSE_BIT: command_id for command_id in BIND_STATES}
_STATEFUL_RESPONSES = frozenset({*_BIND_RESPONSES, C.UNBIND_RESP, C.GENERIC_NACK})


class WindowFull(SessionError):
    """As many requests are outstanding as the window allows; wait for a response."""


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request the application must answer (with `session.send(pdu.make_response(...))`)."""

    pdu: PDU


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The answer to one of our requests (a generic_nack counts as an answer)."""

    request: PDU
    response: PDU


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    request: PDU


@dataclass(frozen=True, slots=True)
class Bound:
    state: State
    system_id: str


@dataclass(frozen=True, slots=True)
class Unbound:
    by_peer: bool


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer sent something wrong; the session has already answered it if an answer was due."""

    error: PDUDecodeError | None
    description: str


@dataclass(frozen=True, slots=True)
class MustClose:
    """The connection cannot go on (lost framing, dead link, unbind done): close the transport."""

    reason: str


Event = (
    RequestReceived
    | ResponseReceived
    | RequestTimedOut
    | Bound
    | Unbound
    | ProtocolViolation
    | MustClose
)


@dataclass(frozen=True, slots=True)
class SessionTimers:
    """Every timer of a session, named and validated once (Jasmin's lesson). Defaults: smscore.defaults."""

    response_timeout_s: float = DEFAULT_RESPONSE_TIMEOUT_S
    enquire_link_interval_s: float = DEFAULT_ENQUIRE_LINK_INTERVAL_S
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.response_timeout_s <= 0 or self.enquire_link_interval_s <= 0:
            raise ValueError("response_timeout_s and enquire_link_interval_s must be positive")
        if not 1 <= self.window <= MAX_WINDOW:
            raise ValueError(f"window must be between 1 and {MAX_WINDOW}")


@dataclass(slots=True)
class _Outstanding:
    request: PDU
    deadline_s: float


class Session:
    """One SMPP connection's protocol state, for either role.

    `state` changes only through `_apply`, which follows smscore.session_state.TRANSITIONS.
    """

    def __init__(
        self,
        role: Role,
        timers: SessionTimers | None = None,
        *,
        now_s: float = 0.0,
        max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
        counts: PduCounts | None = None,
    ) -> None:
        self.role = role
        self.counts = counts if counts is not None else PduCounts()  # every PDU in and out
        self._sends = ALLOWED_REQUESTS[role]  # what we may originate
        self._receives = ALLOWED_REQUESTS[role.peer]  # what the peer may originate
        self.timers = timers or SessionTimers()
        self.state = State.OPEN
        # The bound state we left for UNBINDING: requests that crossed our unbind are judged by it.
        self._bound_state = State.OPEN
        self.peer_system_id = ""
        self._decoder = StreamDecoder(max_pdu_length)
        self._outbox: list[bytes] = []
        self._outstanding: dict[int, _Outstanding] = {}
        self._enquiry_sequence_numbers: set[int] = set()  # enquire_links possibly outstanding
        self._last_sequence_number = 0
        self._last_received_at_s = now_s

    # --- queries ---

    @property
    def is_bound(self) -> bool:
        """Bound and not unbinding: the session may carry traffic."""
        return self.state in BOUND_STATES

    @property
    def outstanding_count(self) -> int:
        return len(self._outstanding)

    @property
    def window_available(self) -> int:
        return self.timers.window - len(self._outstanding)

    def can_send(self, command_id: int) -> bool:
        allowed = self._sends.get(command_id)
        return allowed is not None and self.state in allowed

    def next_deadline_s(self) -> float | None:
        """When (seconds) `tick` must next be called, or None if no timer is running."""
        if self.state is State.CLOSED:
            return None
        # Deadlines are `now_s + response_timeout_s` with `now_s` never decreasing, so the oldest
        # outstanding request (first in insertion order) is due first: O(1), not O(window) per PDU.
        oldest = next(iter(self._outstanding.values()), None)
        deadlines = [] if oldest is None else [oldest.deadline_s]
        if self._may_enquire():
            deadlines.append(self._last_received_at_s + self.timers.enquire_link_interval_s)
        return min(deadlines, default=None)

    def data_to_send(self) -> bytes:
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    # --- the one place the state changes ---

    def _apply(self, trigger: Trigger) -> None:
        """Move to the state the role's table gives for `trigger`; IllegalTransition changes nothing."""
        self.state = next_state(self.role, self.state, trigger)

    # --- local actions ---

    def send(self, pdu: PDU, now_s: float) -> PDU:
        """Queue `pdu` for sending. Requests get the next sequence number; returns the PDU sent."""
        if self.state is State.CLOSED:
            raise SessionError("the session is closed")
        if pdu.is_response or pdu.command_id == C.GENERIC_NACK:
            self._send_response(pdu)
            return pdu
        self._check_request(pdu)
        sequence_number = self._peek_sequence_number()
        pdu.sequence_number, old_number = sequence_number, pdu.sequence_number
        try:
            data = encode(pdu)
        except SMPPError:
            pdu.sequence_number = old_number  # a refused PDU changes nothing, not even itself
            raise
        self._last_sequence_number = sequence_number
        self._queue(pdu, data)
        if pdu.response_class is not None:
            deadline_s = now_s + self.timers.response_timeout_s
            self._outstanding[pdu.sequence_number] = _Outstanding(pdu, deadline_s)
            if pdu.command_id == C.ENQUIRE_LINK:
                self._enquiry_sequence_numbers.add(pdu.sequence_number)
        if pdu.command_id == C.UNBIND:
            self._bound_state = self.state
            self._apply(Trigger.UNBIND_SENT)
        elif pdu.command_id in BIND_STATES:
            self._apply(Trigger.BIND_SENT)
        return pdu

    def unbind(self, now_s: float) -> PDU:
        return self.send(Unbind(), now_s)

    def close(self) -> None:
        # Outstanding requests stay until abandon_outstanding(): their callers must learn the outcome.
        self._apply(Trigger.CLOSE)

    def abandon_outstanding(self) -> list[PDU]:
        """Forget every outstanding request (the connection is gone); returns them for failing."""
        requests = [entry.request for entry in self._outstanding.values()]
        self._outstanding.clear()
        return requests

    def _check_request(self, pdu: PDU) -> None:
        allowed = self._sends.get(pdu.command_id)
        if allowed is None:
            raise SessionError(f"a {self.role.value} never sends {pdu.name}")
        if self.state not in allowed:
            raise SessionError(f"{pdu.name} is not allowed in state {self.state.value}")
        # Unbind goes out whatever the window: a session must be able to end while it is busy.
        if (
            pdu.response_class is not None
            and self.window_available <= 0
            and pdu.command_id != C.UNBIND
        ):
            raise WindowFull(f"window of {self.timers.window} outstanding requests is full")

    def _send_response(self, pdu: PDU) -> None:
        if pdu.command_id not in _STATEFUL_RESPONSES:  # the common case: no state change
            self._queue(pdu, encode(pdu))
            return
        trigger = self._response_trigger(pdu)
        data = encode(pdu)
        if trigger is not None:
            self._apply(trigger)  # an illegal answer raises before anything is queued
        self._queue(pdu, data)

    def _queue(self, pdu: PDU, data: bytes) -> None:
        """The one way bytes go out: each PDU sent is counted once."""
        self._outbox.append(data)
        self.counts.note("out", pdu.name, pdu.command_status)

    def _response_trigger(self, pdu: PDU) -> Trigger | None:
        if pdu.command_id == C.UNBIND_RESP:
            return Trigger.UNBIND_RESP_SENT
        if self.role is not Role.SMSC:
            return None  # an ESME's bind is decided by the response it receives
        if pdu.command_id == C.GENERIC_NACK:
            # An SMSC that nacks the bind it is authenticating refuses it.
            return Trigger.BIND_FAILED if self.state is State.BINDING else None
        if pdu.command_status != CommandStatus.ESME_ROK:
            return Trigger.BIND_FAILED
        return BOUND_TRIGGERS[_BIND_RESPONSES[pdu.command_id]]

    def _queue_response(self, request: PDU) -> None:
        response = request.make_response()
        self._queue(response, encode(response))

    def _peek_sequence_number(self) -> int:
        number = self._last_sequence_number % MAX_SEQUENCE_NUMBER + 1
        while number in self._outstanding:  # only after a full wrap with a stuck request
            number = number % MAX_SEQUENCE_NUMBER + 1
        return number

    # --- remote input ---

    def receive_data(self, data: bytes, now_s: float) -> list[Event]:
        """Every event of every whole PDU in `data` (with what earlier calls left)."""
        self.feed(data)
        events: list[Event] = []
        while (more := self.next_events(now_s)) is not None:
            events.extend(more)
        return events

    def feed(self, data: bytes) -> None:
        if self.state is not State.CLOSED:
            self._decoder.feed(data)

    def next_events(self, now_s: float) -> list[Event] | None:
        """The events of the next whole PDU fed, or None when none is left (or the session closed).

        One PDU at a time so the caller can answer a request before a later PDU of the same
        chunk (an unbind, a framing error) closes the session: the answer is then still sent.
        """
        if self.state is State.CLOSED:
            return None
        try:
            pdu = self._decoder.next_pdu()
        except PDUDecodeError as error:
            return self._on_decode_error(error)
        if pdu is None:
            return None
        self.counts.note("in", pdu.name, pdu.command_status)
        self._last_received_at_s = now_s
        return self._on_pdu(pdu)

    def tick(self, now_s: float) -> list[Event]:
        """Fire due timers: response timeouts and enquire_link on an idle link."""
        events: list[Event] = []
        if self.state is State.CLOSED:
            return events
        for sequence_number, entry in list(self._outstanding.items()):
            if entry.deadline_s <= now_s:
                del self._outstanding[sequence_number]
                events.extend(self._on_timeout(entry.request))
        if self._link_idle(now_s):
            self.send(EnquireLink(), now_s)
        return events

    def _may_enquire(self) -> bool:
        # While an enquire_link is outstanding (or the window is full) its own deadline is the timer.
        if not self.is_bound or self.window_available <= 0:
            return False
        return not self._enquiry_outstanding()

    def _enquiry_outstanding(self) -> bool:
        # A set of at most a few numbers, pruned here, instead of a scan of the whole window.
        for sequence_number in list(self._enquiry_sequence_numbers):
            entry = self._outstanding.get(sequence_number)
            if entry is None or entry.request.command_id != C.ENQUIRE_LINK:
                self._enquiry_sequence_numbers.discard(sequence_number)
        return bool(self._enquiry_sequence_numbers)

    def _link_idle(self, now_s: float) -> bool:
        if not self._may_enquire():
            return False
        return now_s - self._last_received_at_s >= self.timers.enquire_link_interval_s

    def _on_timeout(self, request: PDU) -> Iterable[Event]:
        timed_out = RequestTimedOut(request)  # whoever waits for this request must hear of it
        if request.command_id == C.ENQUIRE_LINK:
            self.close()
            return [timed_out, MustClose("enquire_link got no response: the link is dead")]
        if request.command_id == C.UNBIND:
            self._apply(Trigger.UNBIND_RESP_RECEIVED)  # no answer is as good as one: we are done
            self.close()
            return [timed_out, Unbound(by_peer=False), MustClose("unbind got no response")]
        if request.command_id in BIND_STATES:
            self._apply(Trigger.BIND_FAILED)
        return [timed_out]

    def _on_decode_error(self, error: PDUDecodeError) -> list[Event]:
        if error.fatal:
            # No PDU to answer in kind: SMPP answers a bad command_length with generic_nack.
            nack = GenericNack(
                sequence_number=error.sequence_number or 0, command_status=error.status
            )
            self._queue(nack, encode(nack))
        else:
            self._answer_error(error.command_id, error.sequence_number, error.status)
        events: list[Event] = [ProtocolViolation(error, str(error))]
        if error.fatal:
            self.close()
            events.append(MustClose(f"framing lost: {error}"))
        return events

    def _answer_error(
        self, command_id: int | None, sequence_number: int | None, status: int
    ) -> None:
        """Answer a bad request with its own response type, else with generic_nack."""
        cls = PDU_CLASSES.get(command_id) if command_id is not None else None
        if cls is not None and cls.is_response:
            return  # never answer a response
        response_class = cls.response_class if cls is not None else None
        if response_class is None or command_id == C.GENERIC_NACK:
            response_class = GenericNack
        answer = response_class(sequence_number=sequence_number or 0, command_status=status)
        self._queue(answer, encode(answer))

    def _on_pdu(self, pdu: PDU) -> list[Event]:
        if pdu.is_response or pdu.command_id == C.GENERIC_NACK:
            return self._on_response(pdu)
        return self._on_request(pdu)

    def _on_request(self, pdu: PDU) -> list[Event]:
        command_id = pdu.command_id
        state = self.state
        if state is State.UNBINDING:
            state = self._bound_state  # a request that crossed our unbind: judged by our bind
        allowed = self._receives.get(command_id)
        if allowed is None or state not in allowed:
            status = CommandStatus.ESME_RINVBNDSTS
            if command_id in BIND_STATES and state in _BIND_STARTED:
                status = CommandStatus.ESME_RALYBND  # never a second bind, even mid-authentication
            self._answer_error(command_id, pdu.sequence_number, status)
            return [ProtocolViolation(None, f"{pdu.name} not allowed in state {self.state.value}")]
        if command_id == C.ENQUIRE_LINK:
            self._queue_response(pdu)
            return []
        if command_id == C.UNBIND:
            self._queue_response(pdu)
            self._apply(Trigger.UNBIND_RECEIVED)
            self.close()
            return [Unbound(by_peer=True), MustClose("peer unbound")]
        if command_id in BIND_STATES:
            self.peer_system_id = pdu.system_id
            self._apply(Trigger.BIND_RECEIVED)
        return [RequestReceived(pdu)]

    def _on_response(self, pdu: PDU) -> list[Event]:
        entry = self._outstanding.get(pdu.sequence_number)
        if entry is None:
            return [ProtocolViolation(None, f"{pdu.name} #{pdu.sequence_number} answers nothing")]
        request = entry.request
        if pdu.command_id != C.GENERIC_NACK and type(pdu) is not request.response_class:
            return [ProtocolViolation(None, f"{pdu.name} cannot answer {request.name}")]
        del self._outstanding[pdu.sequence_number]
        events: list[Event] = [ResponseReceived(request, pdu)]
        if request.command_id in BIND_STATES:
            events.extend(self._on_bind_response(request, pdu))
        elif request.command_id == C.UNBIND:
            self._apply(Trigger.UNBIND_RESP_RECEIVED)
            self.close()
            events += [Unbound(by_peer=False), MustClose("unbind complete")]
        return events

    def _on_bind_response(self, request: PDU, response: PDU) -> list[Event]:
        if response.command_status != 0 or response.command_id == C.GENERIC_NACK:
            self._apply(Trigger.BIND_FAILED)
            return []
        self._apply(BOUND_TRIGGERS[request.command_id])
        self.peer_system_id = getattr(response, "system_id", "")
        return [Bound(self.state, self.peer_system_id)]
