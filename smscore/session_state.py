"""The session's states and every change between them, as one table per role (like h11's _state.py).

A `Trigger` is something that happened to the session (a bind went out, an unbind_resp came in, the
connection closed); `TRANSITIONS[role][(state, trigger)]` is the state it leads to, and a pair that
is not in the table is an error (`IllegalTransition`) that changes nothing. `next_state` is the one
function that reads the table; `Session` applies its result and never assigns its state otherwise.

What each role may send or receive in a state (spec 2.3 and 2.4) is `ALLOWED_REQUESTS`; the session
checks it before it fires a trigger, so input from the peer never makes an illegal transition.
"""

from enum import Enum

from smscore.constants import CommandId as C
from smscore.errors import SMPPError


class State(Enum):
    OPEN = "open"
    BINDING = "binding"  # a bind is on its way or being authenticated: no second bind
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"  # our unbind is outstanding: no new requests from us
    UNBOUND = "unbound"
    CLOSED = "closed"

    # Members are singletons: identity hashing in C instead of Enum's hash(name) in Python, which
    # ran several times per PDU in the state-table lookups.
    __hash__ = object.__hash__


class Role(Enum):
    ESME = "esme"
    SMSC = "smsc"

    __hash__ = object.__hash__

    @property
    def peer(self) -> "Role":
        return Role.SMSC if self is Role.ESME else Role.ESME


class Trigger(Enum):
    BIND_SENT = "bind_sent"  # ESME: our bind went out
    BIND_RECEIVED = "bind_received"  # SMSC: the peer's bind arrived, to be authenticated
    BOUND_TX = "bound_tx"  # the bind succeeded (ESME: its resp arrived; SMSC: we sent it)
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    BIND_FAILED = "bind_failed"  # refused, answered by generic_nack, or no answer in time
    UNBIND_SENT = "unbind_sent"
    UNBIND_RECEIVED = "unbind_received"
    UNBIND_RESP_RECEIVED = "unbind_resp_received"  # or no answer in time: we are done either way
    UNBIND_RESP_SENT = "unbind_resp_sent"  # the application answered an unbind itself
    CLOSE = "close"

    __hash__ = object.__hash__


class SessionError(SMPPError):
    """The local application asked for something the session cannot do in its current state."""


class IllegalTransition(SessionError):
    """A trigger that the transition table does not allow in the current state."""


_OPEN, _BINDING, _UNBINDING = State.OPEN, State.BINDING, State.UNBINDING
_TX, _RX, _TRX = State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX
_UNBOUND, _CLOSED = State.UNBOUND, State.CLOSED
T = Trigger

# Both roles, once the bind is under way: the outcome of the bind, the unbind handshake either way,
# and closing, which ends every state (closing twice is harmless: the transport may report it late).
_AFTER_BIND_STARTED: dict[tuple[State, Trigger], State] = {
    (_BINDING, T.BOUND_TX): _TX,
    (_BINDING, T.BOUND_RX): _RX,
    (_BINDING, T.BOUND_TRX): _TRX,
    (_BINDING, T.BIND_FAILED): _OPEN,
    (_TX, T.UNBIND_SENT): _UNBINDING,
    (_RX, T.UNBIND_SENT): _UNBINDING,
    (_TRX, T.UNBIND_SENT): _UNBINDING,
    (_TX, T.UNBIND_RECEIVED): _UNBOUND,
    (_RX, T.UNBIND_RECEIVED): _UNBOUND,
    (_TRX, T.UNBIND_RECEIVED): _UNBOUND,
    (_UNBINDING, T.UNBIND_RECEIVED): _UNBOUND,  # the two unbinds crossed
    (_UNBINDING, T.UNBIND_RESP_RECEIVED): _UNBOUND,
    (_TX, T.UNBIND_RESP_SENT): _UNBOUND,
    (_RX, T.UNBIND_RESP_SENT): _UNBOUND,
    (_TRX, T.UNBIND_RESP_SENT): _UNBOUND,
    (_UNBINDING, T.UNBIND_RESP_SENT): _UNBOUND,
    **{(state, T.CLOSE): _CLOSED for state in State},
}

TRANSITIONS: dict[Role, dict[tuple[State, Trigger], State]] = {
    Role.ESME: {(_OPEN, T.BIND_SENT): _BINDING, **_AFTER_BIND_STARTED},
    Role.SMSC: {(_OPEN, T.BIND_RECEIVED): _BINDING, **_AFTER_BIND_STARTED},
}


def next_state(role: Role, state: State, trigger: Trigger) -> State:
    """The state `trigger` leads to from `state`; IllegalTransition if the table has no such pair."""
    new_state = TRANSITIONS[role].get((state, trigger))
    if new_state is None:
        raise IllegalTransition(
            f"{role.value}: {trigger.value} is not allowed in state {state.value}"
        )
    return new_state


BOUND_STATES = frozenset({_TX, _RX, _TRX})
_MAY_TRANSMIT = frozenset({_TX, _TRX})
_MAY_RECEIVE = frozenset({_RX, _TRX})
# enquire_link is allowed before the bind too (spec 2.3): a bind may take a while to authenticate.
_NOT_YET_UNBINDING = BOUND_STATES | {_OPEN, _BINDING}

# Which requests each role may originate, and in which states (spec 2.3 and 2.4).
ALLOWED_REQUESTS: dict[Role, dict[int, frozenset[State]]] = {
    Role.ESME: {
        C.BIND_TRANSMITTER: frozenset({_OPEN}),
        C.BIND_RECEIVER: frozenset({_OPEN}),
        C.BIND_TRANSCEIVER: frozenset({_OPEN}),
        C.SUBMIT_SM: _MAY_TRANSMIT,
        C.SUBMIT_MULTI: _MAY_TRANSMIT,
        C.DATA_SM: _MAY_TRANSMIT,
        C.QUERY_SM: _MAY_TRANSMIT,
        C.CANCEL_SM: _MAY_TRANSMIT,
        C.REPLACE_SM: _MAY_TRANSMIT,
        C.ENQUIRE_LINK: _NOT_YET_UNBINDING,
        C.UNBIND: BOUND_STATES,
    },
    Role.SMSC: {
        C.OUTBIND: frozenset({_OPEN}),
        C.DELIVER_SM: _MAY_RECEIVE,
        C.DATA_SM: _MAY_RECEIVE,
        C.ALERT_NOTIFICATION: _MAY_RECEIVE,
        C.ENQUIRE_LINK: _NOT_YET_UNBINDING,
        C.UNBIND: BOUND_STATES,
    },
}

BIND_STATES = {
    C.BIND_TRANSMITTER: State.BOUND_TX,
    C.BIND_RECEIVER: State.BOUND_RX,
    C.BIND_TRANSCEIVER: State.BOUND_TRX,
}
# The trigger of a successful bind, by the bind's command_id.
BOUND_TRIGGERS = {
    C.BIND_TRANSMITTER: Trigger.BOUND_TX,
    C.BIND_RECEIVER: Trigger.BOUND_RX,
    C.BIND_TRANSCEIVER: Trigger.BOUND_TRX,
}
