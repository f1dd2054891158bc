"""Virtual USSD subscribers: a phone dials a service code and walks the ESME's screens over SMPP.

network = UssdNetwork(reactor, config, delivery, next_message_id)   # the Simulator builds it
session = network.start("254712000001", "*334#")   # deliver_sm: PSSR indication, a new session
network.wait(session, 3.0)                         # Deferred: fires once a screen came (or 3 s)
network.answer(session.id, "1")                    # deliver_sm: USSR confirm with the text
network.abort(session.id)                          # deliver_sm: the dialect's release

Each account (its system_id) speaks one dialect (`ussd_dialect` in its config); the codec of each is
smscore.ussd_dialects, the same the daemon uses. The ESME's submit_sm in a session is the next
screen: a USSR request waits for the subscriber's answer, a PSSR response or the end flag ends the
dialogue. It is answered with submit_sm_resp and a message_id like any submit, and never gets a
delivery receipt (USSD has none).

The network's timers, as a carrier's USSD gateway has them ([ussd] in the simulator's config):
the dialogue is released `session_timeout_s` after the dial, and each screen must come within
`answer_timeout_s` of the subscriber's dial or answer. On either timer the session is dropped
(state timed_out) and the ESME told with the dialect's release. A screen for a session the network
no longer has (late, unknown, already ended) is answered ESME_RSUBMITFAIL, as USSD gateways
refuse a submit into a dialogue that is gone: a permanent failure (a retry cannot reach a closed
dialogue), so the ESME voids what waited on it.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from simulators.config import SimulatorConfig
from simulators.ussd_pdus import ScreenRefused, dialogue_pdu, read_screen, release_op
from smscore.pdu import PDU
from smscore.status import CommandStatus
from smscore.ussd import Dialect, UssdMessage, UssdOp

if TYPE_CHECKING:
    from simulators.delivery import DeliveryQueue

log = Logger()

# A submit into a dialogue the network no longer has (see the module docstring).
GONE_STATUS = CommandStatus.ESME_RSUBMITFAIL
MAX_WAITERS = 100  # clients waiting on one session's next screen; more are answered at once
# Session keys per dialect: its_session_info has one octet, user_message_reference two, the
# dialog id four. Key 0 is left out: some gateways read it as "no session".
KEY_LIMIT = {Dialect.SMPP34: 0xFF, Dialect.UMR: 0xFFFF, Dialect.DIALOG: 0xFFFF_FFFF}


class UssdState(StrEnum):
    WAITING_SCREEN = "waiting_screen"  # the ESME owes the next screen
    WAITING_ANSWER = "waiting_answer"  # the phone shows a question
    ENDED = "ended"  # the ESME's last screen came, or the ESME released or refused it
    ABORTED = "aborted"  # the subscriber hung up
    TIMED_OUT = "timed_out"  # the network's timer ran out


OPEN_STATES = frozenset({UssdState.WAITING_SCREEN, UssdState.WAITING_ANSWER})


class UssdError(Exception):
    """A request about USSD sessions that cannot be done; one line."""


class UnknownSession(UssdError):
    pass


class SessionConflict(UssdError):
    """The session (or the phone) is not in a state that allows it."""


class NoUssdRoute(UssdError):
    """No account speaks USSD (or not the one asked for)."""


class TooManySessions(UssdError):
    pass


@dataclass(frozen=True, slots=True)
class Screen:
    text: str
    final: bool
    at_s: float

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "final": self.final, "at": self.at_s}


@dataclass(eq=False, slots=True)
class UssdSession:
    """One dialogue. What the subscriber typed is not kept (an answer may be a PIN)."""

    id: str
    msisdn: str
    code: str
    system_id: str | None  # None: open mode, any receiver; set by the first screen
    dialect: Dialect
    session_key: str
    started_at_s: float
    state: UssdState = UssdState.WAITING_SCREEN
    end_reason: str | None = None
    answers: int = 0
    screens: list[Screen] = field(default_factory=list)
    timers: dict[str, IDelayedCall] = field(default_factory=dict)
    waiters: list[Deferred] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def as_json(self) -> dict[str, Any]:
        last = self.screens[-1] if self.screens else None
        return {
            "id": self.id,
            "msisdn": self.msisdn,
            "code": self.code,
            "system_id": self.system_id,
            "dialect": str(self.dialect),
            "session_key": self.session_key,
            "state": str(self.state),
            "end_reason": self.end_reason,
            "waiting": self.state is UssdState.WAITING_SCREEN,
            "screen": last.text if last is not None else None,
            "final": last.final if last is not None else False,
            "answers": self.answers,
            "screens": [screen.as_json() for screen in self.screens],
            "started_at": self.started_at_s,
        }


class UssdNetwork:
    """The USSD subscribers and the network's side of their dialogues; sessions in memory."""

    def __init__(
        self,
        reactor: IReactorTime,
        config: SimulatorConfig,
        delivery: DeliveryQueue,
        next_message_id: Callable[[], str],
        bound_system_ids: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.reactor = reactor
        self.config = config.ussd
        self.delivery = delivery
        self.next_message_id = next_message_id
        self.bound_system_ids = bound_system_ids
        self.open_mode = not config.account
        self.dialects = {a.system_id: a.ussd_dialect for a in config.account if a.ussd_dialect}
        self._sessions: OrderedDict[str, UssdSession] = OrderedDict()
        self._live: dict[str, UssdSession] = {}  # by MSISDN: a phone has one dialogue at a time
        self._ids = itertools.count(1)
        self._keys = itertools.count(0)
        self.counters = {
            "ussd_started": 0,
            "ussd_screens": 0,
            "ussd_screens_refused": 0,
            "ussd_answers": 0,
            "ussd_aborted": 0,
            "ussd_timed_out": 0,
        }

    # --- what a subscriber does ---

    def start(self, msisdn: str, code: str, system_id: str | None = None) -> UssdSession:
        """The subscriber dials `code`; raises UssdError (or InvalidMO for a bad address)."""
        live = self._live.get(msisdn)
        if live is not None:
            raise SessionConflict(f"{msisdn} is already in USSD session {live.id}")
        route, dialect = self._route(system_id)
        self._make_room()
        session = UssdSession(
            id=str(next(self._ids)),
            msisdn=msisdn,
            code=code,
            system_id=route,
            dialect=dialect,
            session_key=self._next_key(dialect),
            started_at_s=self.reactor.seconds(),
        )
        message = UssdMessage(UssdOp.PSSR_INDICATION, session.session_key, False)
        pdu = dialogue_pdu(dialect, msisdn, code, code, message)  # InvalidMO before anything
        self._sessions[session.id] = self._live[msisdn] = session
        self.counters["ussd_started"] += 1
        session.timers["session"] = self.reactor.callLater(
            self.config.session_timeout_s, self._time_out, session, "session_timeout"
        )
        self._send(session, pdu, watched=True)
        return session

    def answer(self, session_id: str, text: str) -> UssdSession:
        session = self.get(session_id)
        if session.state is not UssdState.WAITING_ANSWER:
            raise SessionConflict(f"session {session_id} is {session.state}, not waiting_answer")
        message = UssdMessage(UssdOp.USSR_CONFIRM, session.session_key, False)
        pdu = dialogue_pdu(session.dialect, session.msisdn, session.code, text, message)
        session.state = UssdState.WAITING_SCREEN
        session.answers += 1
        self.counters["ussd_answers"] += 1
        self._send(session, pdu, watched=True)
        return session

    def abort(self, session_id: str) -> UssdSession:
        """The subscriber hangs up: the ESME gets the dialect's release."""
        session = self.get(session_id)
        if not session.is_open:
            raise SessionConflict(f"session {session_id} is already {session.state}")
        self.counters["ussd_aborted"] += 1
        self._release(session, UssdState.ABORTED, "aborted by the subscriber")
        return session

    def get(self, session_id: str) -> UssdSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(f"no USSD session {session_id}")
        return session

    def sessions(self) -> list[UssdSession]:
        return list(self._sessions.values())

    @property
    def open_count(self) -> int:
        return len(self._live)

    def wait(self, session: UssdSession, wait_s: float) -> Deferred:
        """Fires with `session` once it no longer waits for a screen, or after wait_s."""
        if session.state is not UssdState.WAITING_SCREEN or wait_s <= 0:
            return succeed(session)
        if len(session.waiters) >= MAX_WAITERS:
            return succeed(session)
        waiter: Deferred = Deferred()
        session.waiters.append(waiter)
        timer = self.reactor.callLater(wait_s, self._stop_waiting, session, waiter)
        waiter.addBoth(_cancelling(timer))
        return waiter

    # --- what the ESME sends ---

    def on_submit(self, system_id: str, pdu: PDU) -> PDU | None:
        """The answer to a USSD submit_sm of `system_id`; None: no USSD, an SMS like any other."""
        dialect = self._dialect_of(system_id)
        if dialect is None:
            return None
        try:
            screen = read_screen(dialect, pdu)
        except ScreenRefused as exc:
            return self._refused(pdu, exc.status, str(exc))
        if screen is None:
            return None
        message, text = screen
        session = self._live.get(pdu.destination_addr)
        if session is None or session.session_key != message.session_key:
            return self._refused(pdu, GONE_STATUS, "no such dialogue (ended, late or unknown)")
        if session.system_id not in (None, system_id):
            return self._refused(pdu, GONE_STATUS, f"dialogue belongs to {session.system_id}")
        final = message.end or message.op == UssdOp.PSSR_RESPONSE
        if not final and message.op != UssdOp.USSR_REQUEST:
            return self._refused(pdu, CommandStatus.ESME_RINVOPTPARAMVAL, f"op {message.op}")
        if not final and session.state is UssdState.WAITING_ANSWER:
            return self._refused(pdu, GONE_STATUS, "a screen nobody answered yet is shown")
        self._show(session, system_id, Screen(text, final, self.reactor.seconds()))
        return pdu.make_response(message_id=self.next_message_id())

    # --- inside ---

    def _show(self, session: UssdSession, system_id: str, screen: Screen) -> None:
        self.counters["ussd_screens"] += 1
        session.system_id = system_id
        session.screens.append(screen)
        _cancel(session.timers.pop("answer", None))
        if screen.final:
            self._finish(session, UssdState.ENDED, "final screen")
        else:
            session.state = UssdState.WAITING_ANSWER
            self._wake(session)

    def _refused(self, pdu: PDU, status: int, why: str) -> PDU:
        self.counters["ussd_screens_refused"] += 1
        log.info(
            "USSD screen to {msisdn} refused with {status}: {why}",
            msisdn=pdu.destination_addr,
            status=CommandStatus.describe(status),
            why=why,
        )
        return pdu.make_response(status)

    def _send(self, session: UssdSession, pdu: PDU, watched: bool) -> None:
        route = None if session.system_id is None else (session.system_id,)
        done = self.delivery.deliver(pdu, route, "ussd")
        if watched:
            timer = self.reactor.callLater(
                self.config.answer_timeout_s, self._time_out, session, "screen_timeout"
            )
            _cancel(session.timers.pop("answer", None))
            session.timers["answer"] = timer
            done.addErrback(self._not_delivered, session, pdu)
        done.addErrback(lambda failure: log.warn("USSD release lost: {e}", e=failure.value))

    def _not_delivered(self, failure: Failure, session: UssdSession, pdu: PDU) -> None:
        if session.is_open and session.state is UssdState.WAITING_SCREEN:
            self._finish(session, UssdState.ENDED, f"not delivered: {failure.getErrorMessage()}")

    def _time_out(self, session: UssdSession, reason: str) -> None:
        session.timers.pop("answer" if reason == "screen_timeout" else "session", None)
        if session.is_open:
            self.counters["ussd_timed_out"] += 1
            self._release(session, UssdState.TIMED_OUT, reason)

    def _release(self, session: UssdSession, state: UssdState, reason: str) -> None:
        op = release_op(session.dialect)
        message = UssdMessage(op, session.session_key, True)
        pdu = dialogue_pdu(session.dialect, session.msisdn, session.code, "", message)
        self._finish(session, state, reason)
        self._send(session, pdu, watched=False)

    def _finish(self, session: UssdSession, state: UssdState, reason: str) -> None:
        session.state, session.end_reason = state, reason
        for timer in session.timers.values():
            _cancel(timer)
        session.timers.clear()
        if self._live.get(session.msisdn) is session:
            del self._live[session.msisdn]
        self._wake(session)

    def _wake(self, session: UssdSession) -> None:
        waiters, session.waiters = session.waiters, []
        for waiter in waiters:
            waiter.callback(session)

    def _stop_waiting(self, session: UssdSession, waiter: Deferred) -> None:
        if waiter in session.waiters:
            session.waiters.remove(waiter)
            waiter.callback(session)

    def _route(self, system_id: str | None) -> tuple[str | None, Dialect]:
        if self.open_mode:
            if self.config.dialect is None:
                raise NoUssdRoute("no account is configured and [ussd] dialect is not set")
            return system_id, self.config.dialect
        if system_id is not None:
            dialect = self.dialects.get(system_id)
            if dialect is None:
                raise NoUssdRoute(f"account {system_id!r} has no ussd_dialect")
            return system_id, dialect
        if not self.dialects:
            raise NoUssdRoute("no account has a ussd_dialect")
        bound = set(self.bound_system_ids())
        chosen = next((s for s in self.dialects if s in bound), next(iter(self.dialects)))
        return chosen, self.dialects[chosen]

    def _dialect_of(self, system_id: str) -> Dialect | None:
        if self.open_mode:
            return self.config.dialect
        return self.dialects.get(system_id)

    def _next_key(self, dialect: Dialect) -> str:
        return str(next(self._keys) % KEY_LIMIT[dialect] + 1)

    def _make_room(self) -> None:
        while len(self._sessions) >= self.config.max_sessions:
            ended = next((s for s in self._sessions.values() if not s.is_open), None)
            if ended is None:
                raise TooManySessions(f"{len(self._sessions)} USSD sessions are open")
            del self._sessions[ended.id]


def _cancel(timer: IDelayedCall | None) -> None:
    if timer is not None and timer.active():
        timer.cancel()


def _cancelling(timer: IDelayedCall) -> Callable[[Any], Any]:
    def cancel(result: Any) -> Any:
        _cancel(timer)
        return result

    return cancel
