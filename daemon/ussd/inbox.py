"""The TranProc's USSD step: an inbox row with `ussd_op` set is a turn of a USSD dialogue.

`ussd_turn_txn` finds (or opens) the row's session (daemon.ussd.sessions), runs the menu engine
(daemon.ussd.engine) on it and either answers with the next screen itself (`UssdReply`: the screen
is queued here, so the session knows the outbox row it went in) or hands the TranProc the command
the completed path runs (`UssdCommand`). The TranProc runs that text through the SAME parse, role,
PIN check and handler as an SMS (like daemon.security.app_inbox's decrypted text), with a config
whose money.post_on_delivery lists every money command: the money is reserved PENDING, and
`UssdCommand.final_screen_txn` turns the command's reply into the last screen, carrying the
confirmation's on_failure hook. So the move posts only when that screen's submit is accepted
(daemon.money.settle), and is voided when it fails, goes late, or the dialogue was released first.

Every answer gets a screen: one for no open session says the session ended and how to dial again.
A release from the user or network (`ussd_end`) gets none: the dialogue is gone.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, get_args

from sqlalchemy import Connection
from twisted.logger import Logger

from daemon import replies
from daemon.clock import NS_PER_S
from daemon.commands.normalise import PIN_MASK
from daemon.commands.registry import Role
from daemon.config import Config, MoneyConfig
from daemon.db import is_transient
from daemon.masking import stored_form
from daemon.outbox import OutgoingSms, UssdScreen, queue_one_sms_txn
from daemon.subscribers import Subscriber, get_subscriber_txn
from daemon.ussd import copies, engine
from daemon.ussd.arg_kinds import KINDS
from daemon.ussd.menu import Kind, Menu
from daemon.ussd.menu_store import current_menu_txn, menu_of_version_txn
from daemon.ussd.render import fits, septets
from daemon.ussd.sessions import (
    Session,
    SessionMoved,
    SessionStatus,
    Step,
    Where,
    end_session_txn,
    latest_session_txn,
    open_session_txn,
    resent_screen_txn,
    save_step_txn,
    set_last_screen_txn,
    stop_unsent_screen_txn,
)
from daemon.ussd.sweep import REASON as TIMEOUT  # importing it adds the timeout settle step
from smscore.ussd import UssdOp

if TYPE_CHECKING:
    from daemon.tranproc import TranProcEnv

log = Logger()
NO_MENU_CODE = "*334#"  # what the screens name before any menu was loaded (the shipped one's)
LATE = "answer_timeout"  # end_reason of a session whose command was reached after its deadline
REDIALLED = "redialled"  # end_reason of a session whose key a new dial took over
FAILED_TURN = "turn_failed"  # end_reason of a session whose turn raised
CHANNEL = "ussd"  # CommandContext.channel of a command a menu ran (daemon.security.fraud.Channel)
# Every command money.post_on_delivery may list: on USSD, all of them wait for the last screen.
MONEY_COMMANDS = get_args(get_args(MoneyConfig.model_fields["post_on_delivery"].annotation)[0])


class MenuBook(Protocol):
    """The menus a TranProc can run: the current one for a dialled code, any version a running
    session started on, and the code to dial for the menu."""

    def for_code(self, conn: Connection, code: str) -> Menu | None: ...
    def version(self, conn: Connection, version: str) -> Menu | None: ...
    def main_code(self, conn: Connection) -> str: ...


class StoredMenus:
    """The daemon's MenuBook: the versions in the `menus` table (daemon.ussd.menu_store), which
    the menu watcher fills and every TranProc reads, so all of them start sessions on the same one."""

    def for_code(self, conn: Connection, code: str) -> Menu | None:
        menu = current_menu_txn(conn)
        return menu if menu is not None and code in menu.codes else None

    def version(self, conn: Connection, version: str) -> Menu | None:
        return menu_of_version_txn(conn, version)

    def main_code(self, conn: Connection) -> str:
        menu = current_menu_txn(conn)
        return menu.codes[0] if menu is not None else NO_MENU_CODE


@dataclass(frozen=True, slots=True)
class UssdReply:
    """The turn is answered: its screen is queued (or, for a release, nothing is sent)."""

    error: str | None = None  # inbox.error: why nothing ran, when nothing did
    masked: tuple[str, bytes] | None = None  # the row's text and payload as stored (a PIN hidden)


@dataclass(frozen=True, slots=True)
class UssdCommand:
    """The completed path's command, for the TranProc to run as an SMS of this text."""

    env: TranProcEnv  # the TranProc's, with every money command posting on delivery
    text: str
    masked_text: str
    turn: Turn
    session: Session

    def final_screen_txn(self, messages: list[OutgoingSms]) -> list[OutgoingSms]:
        """The command's reply (the first message) queued as the last screen, with the hook that
        posts or voids its money; the other messages (notices to others) go as SMS."""
        if not messages:
            return []
        reply, others = messages[0], messages[1:]
        self.turn.final_sms_txn(self.session, reply)
        if reply.holds_code and reply.on_failure is None:
            # A question to answer later ("reply YES 0977"): the screen is gone once read, so
            # the same text comes as an SMS to answer (masked in the outbox once final).
            others = [dataclasses.replace(reply, ussd=None), *others]
        return others


def ussd_turn_txn(
    conn: Connection, env: TranProcEnv, row: Any, sender: str, subscriber: Subscriber | None,
    now_ns: int,
) -> UssdReply | UssdCommand | None:  # fmt: skip
    """None for an SMS; else the turn answered, or the command it completes."""
    if row.ussd_op is None:
        return None
    turn = Turn(
        conn, env, row, Where(row.bind_name, sender, row.ussd_session or ""), subscriber, now_ns
    )
    reply = _turn(turn)
    if isinstance(reply, UssdReply) and reply.masked is None:
        return dataclasses.replace(reply, masked=turn.masked)
    return reply


def failed_turn_txn(
    conn: Connection, env: TranProcEnv, row: Any, sender: str, subscriber: Subscriber | None,
    now_ns: int,
) -> UssdReply:  # fmt: skip
    """After a turn raised (its savepoint rolled back; the TranProc logged why): its session, if
    open, aborted, and a "try later" last screen, so one broken turn (say a stored menu version
    today's checks refuse, after an upgrade) ends that dialogue instead of failing every batch."""
    turn = Turn(
        conn, env, row, Where(row.bind_name, sender, row.ussd_session or ""), subscriber, now_ns
    )
    session = latest_session_txn(conn, turn.where)
    if session is not None and session.status is SessionStatus.OPEN:
        try:
            end_session_txn(conn, session, SessionStatus.ABORTED, FAILED_TURN, now_ns)
        except SessionMoved:
            session = None  # answered by another TranProc meanwhile: it shows its screen
    if not row.ussd_end:
        turn._screen(turn.render("try_later"), final=True, session=session)
    return UssdReply(masked=turn.masked)


def _turn(turn: Turn) -> UssdReply | UssdCommand:
    row = turn.row
    try:
        session = latest_session_txn(turn.conn, turn.where)
        if row.ussd_end:
            return turn.release(session)
        if row.ussd_op == UssdOp.PSSR_INDICATION:
            return turn.dial(session)
        if row.ussd_op == UssdOp.USSR_CONFIRM:
            return turn.answer(session)
    except SessionMoved as exc:  # another TranProc moved it on first: its screen is the answer
        log.info("inbox {id}: {reason}", id=row.id, reason=str(exc))
        return UssdReply(error="ussd_session_moved")
    log.info("inbox {id}: ussd_service_op {op} not handled", id=row.id, op=row.ussd_op)
    return UssdReply(error=f"ussd_op_{row.ussd_op}")


class Turn:
    """One USSD MO on its way: its session, the engine's view of the subscriber, the screen."""

    def __init__(
        self, conn: Connection, env: TranProcEnv, row: Any, where: Where,
        subscriber: Subscriber | None, now_ns: int,
    ) -> None:  # fmt: skip
        self.conn, self.env, self.row, self.where, self.now_ns = conn, env, row, where, now_ns
        self.subscriber = subscriber
        self.role = subscriber.role if subscriber else Role.UNREGISTERED
        self.language = subscriber.language if subscriber else env.config.service.default_language
        # How the row is stored unless the screen it answers is known to ask no secret: masked
        # (any text but a dial's code may be a PIN typed on a PIN screen).
        dialled = row.ussd_op == UssdOp.PSSR_INDICATION and not row.ussd_end
        self.masked = (
            None if dialled or not row.text else stored_form(row, PIN_MASK, env.config.binds)
        )

    @property
    def config(self) -> Config:
        return self.env.config

    def menus(self) -> MenuBook:
        return self.env.menus if self.env.menus is not None else StoredMenus()

    # --- what each MO does

    def dial(self, session: Session | None) -> UssdReply | UssdCommand:
        """A PSSR indication: a new dialogue. The network's retry of the dial that began the
        key's session (daemon.ussd.copies) moves nothing; else an open dialogue on the key ends as
        for a release (its unsent money screen stopped, the move voided) and a new one starts."""
        code = self.row.text.strip()
        copy = None if session is None else copies.dial_copy_txn(
            self.conn, session, self.row, code, self.config.ussd
        )  # fmt: skip
        if copy is not None and session is not None:
            if session.status is not SessionStatus.OPEN:  # ended: a short "dial again" screen
                return dataclasses.replace(self._ended(session), error=copy.reason)
            return self._copy(session, copy)
        if session is not None:
            self._end_for(session, REDIALLED)
        menu = self.menus().for_code(self.conn, code)
        if menu is None:
            main = self.menus().main_code(self.conn)
            self._screen(self.render("ussd_unknown_code", code=code[:20], main=main), final=True)
            return UssdReply(error="ussd_unknown_code")
        session = open_session_txn(
            self.conn, self.where, code, menu.version, self.language, self.now_ns
        )
        return self._run(session, menu, lambda view: engine.start(menu, view), answered=False)

    def answer(self, session: Session | None) -> UssdReply | UssdCommand:
        """A USSR confirm: the subscriber's answer to the screen the session is on."""
        if session is None or session.status is not SessionStatus.OPEN:
            return self._ended(session)
        self.language = session.language  # a LANG change mid-dialogue would move the pages
        if self._timed_out(session):  # the network has dropped it; the sweep had not run yet
            end_session_txn(self.conn, session, SessionStatus.TIMED_OUT, TIMEOUT, self.now_ns)
            return self._ended(session)
        menu = self.menus().version(self.conn, session.menu_version)
        if menu is None:
            log.error("ussd session {id}: menu {v} is gone", id=session.id, v=session.menu_version)
            end_session_txn(self.conn, session, SessionStatus.ABORTED, "menu_gone", self.now_ns)
            return self._ended(session)
        copy = copies.answer_copy_txn(
            self.conn, session, self.row, self.env.hasher, self.config.ussd
        )
        if copy is not None:
            return self._copy(session, copy)
        state = engine.SessionState(
            session.screen, session.page, dict(session.inputs), session.back
        )
        text = self.row.text
        self.masked = self._masked_answer(menu, state)  # kept if the session moves under us
        return self._run(session, menu, lambda view: engine.answer(menu, state, text, view))

    def _timed_out(self, session: Session) -> bool:
        timeout_ns = int(self.config.ussd.session_timeout_s * NS_PER_S)
        return self.now_ns - session.started_at_ns > timeout_ns

    def _copy(self, session: Session, copy: copies.Copy) -> UssdReply:
        """A copy of an earlier MO: nothing moves; the copy is stored masked (it may be a PIN typed
        on a PIN screen). A screen that never went (and never will) goes again as the session's.

        A shown screen answered with the text of an earlier answer goes once more too, but not as
        the session's screen: the "copy" may be a fast person's real answer, who must not be left
        waiting in silence; if it was the network's copy, the phone still shows that screen and
        the SMSC refuses the second one (nothing else changes)."""
        log.info(
            "ussd session {id}: a copy of an earlier MO ({why})", id=session.id, why=copy.reason
        )
        screen = copy.screen
        if screen is not None and screen.gone:
            outbox_id = self._queue(self.screen_sms(screen.text, final=False))
            resent_screen_txn(self.conn, session, outbox_id, self.now_ns)
        elif screen is not None and copy.reason == copies.COPY and not screen.unseen:
            self._queue(self.screen_sms(screen.text, final=False))
        masked = stored_form(self.row, PIN_MASK, self.config.binds)
        return UssdReply(error=copy.reason, masked=masked)

    def release(self, session: Session | None) -> UssdReply:
        """The user or the network ended the dialogue: nothing more is sent in it. A money
        action's last screen not sent yet is stopped, so its move is voided (and the subscriber
        told by SMS) by the sweeper's hook."""
        if session is None:
            return UssdReply(error="ussd_no_session")
        self._end_for(session, "released")
        return UssdReply(error="ussd_released")

    def _end_for(self, session: Session, reason: str) -> None:
        """End a dialogue the user or the network has left (`reason`), stopping its unsent screen."""
        if session.status is SessionStatus.OPEN:
            end_session_txn(self.conn, session, SessionStatus.ABORTED, reason, self.now_ns)
            stop_unsent_screen_txn(self.conn, session.last_outbox_id, reason, self.now_ns)
        elif session.status is SessionStatus.ENDED and stop_unsent_screen_txn(
            self.conn, session.last_outbox_id, f"{reason} before the last screen", self.now_ns
        ):
            late_reason = "released_before_last_screen" if reason == "released" else reason
            end_session_txn(
                self.conn, session, SessionStatus.ABORTED, late_reason, self.now_ns,
                was=SessionStatus.ENDED,
            )  # fmt: skip

    # --- running the engine

    def _run(
        self, session: Session, menu: Any, step: Callable[[Any], Any], answered: bool = True
    ) -> UssdReply | UssdCommand:
        try:
            result = step(self._view(menu))
        except Exception as exc:
            if is_transient(exc):
                raise
            log.failure("ussd session {id}: the menu engine failed", id=session.id)
            end_session_txn(self.conn, session, SessionStatus.ABORTED, "engine_error", self.now_ns)
            self._screen(self.render("try_later"), final=True, session=session)
            return UssdReply(error=f"ussd_engine: {type(exc).__name__}")
        if isinstance(result, engine.RunCommand) and self.answer_deadline_ns() <= self.now_ns:
            # The network has dropped the dialogue: a command run now reserves money whose last
            # screen can only go late (voided), or worse, be shown nowhere and still post.
            log.info("ussd session {id}: its command came too late to run", id=session.id)
            end_session_txn(self.conn, session, SessionStatus.TIMED_OUT, LATE, self.now_ns)
            return UssdReply(error="ussd_answer_late")
        if isinstance(result, engine.RunCommand):
            end_session_txn(
                self.conn, session, SessionStatus.ENDED, "command", self.now_ns, answered=answered
            )
            env = dataclasses.replace(self.env, config=on_delivery_config(self.config))
            return UssdCommand(env, result.command_text, result.masked_text, self, session)
        return self._show(session, result, answered)

    def _show(self, session: Session, screen: Any, answered: bool) -> UssdReply:
        state = screen.state
        if screen.final:
            end_session_txn(
                self.conn, session, SessionStatus.ENDED, "final_screen", self.now_ns,
                answered=answered,
            )  # fmt: skip
        else:
            step = Step(state.screen, state.page, dict(state.inputs), answered, state.back)
            save_step_txn(self.conn, session, step, self.now_ns)
        self._screen(screen.text, final=screen.final, session=session)
        return UssdReply()

    def _view(self, menu: Any) -> engine.View:
        return engine.View(
            role=self.role,
            language=self.language,
            parse_env=self.env.parse_env,
            screen_max_chars=self.config.ussd.screen_max_chars,
            describe=self._describe,
            currency=self.config.service.currency,
        )

    def _describe(self, kind: str, value: str) -> str | None:
        """What a confirmation screen shows for a typed value: the name behind a phone number."""
        if kind != "phone":
            return None
        from daemon.money.common import short_name

        return short_name(get_subscriber_txn(self.conn, value)) or None

    def _masked_answer(self, menu: Any, state: Any) -> tuple[str, bytes] | None:
        """The stored form of an answer typed on a PIN screen: masked, right or wrong."""
        if not _asks_secret(menu, state.screen):
            return None
        return stored_form(self.row, PIN_MASK, self.config.binds)

    # --- screens

    def render(self, key: str, **fields: object) -> str:
        return replies.render(self.language, key, service=self.config.service.name, **fields)

    def _ended(self, session: Session | None) -> UssdReply:
        """An answer for no open session. What it says is never used, and may be a PIN typed
        once more (a network re-delivery of the last answer): it is stored masked."""
        code = session.service_code if session is not None else self.menus().main_code(self.conn)
        self._screen(self.render("ussd_session_ended", code=code), final=True)
        masked = stored_form(self.row, PIN_MASK, self.config.binds)
        return UssdReply(error="ussd_session_ended", masked=masked)

    def _screen(self, text: str, final: bool, session: Session | None = None) -> None:
        outbox_id = self._queue(self.screen_sms(text, final))
        if session is not None:
            set_last_screen_txn(self.conn, session, outbox_id)

    def screen_sms(self, text: str, final: bool) -> OutgoingSms:
        op = UssdOp.PSSR_RESPONSE if final else UssdOp.USSR_REQUEST
        return OutgoingSms(
            destination_addr=self.where.msisdn,
            text=text,
            source_addr=self.row.destination_addr,
            inbox_id=self.row.id,
            bind_name=self.row.bind_name,
            deliver_by_ns=self.answer_deadline_ns(),
            ussd=UssdScreen(self.where.session_key, int(op), final),
        )

    def answer_deadline_ns(self) -> int:
        """The network's timer for this step started when the MO reached the LIS, not now."""
        return self.row.received_at_ns + int(self.config.ussd.answer_timeout_s * NS_PER_S)

    def final_sms_txn(self, session: Session, reply: OutgoingSms) -> None:
        """A command's reply as the last screen: its hook, and a deadline no later than the
        network's (a confirmation may allow longer; the dialogue does not)."""
        text = fit_final_screen(reply.text, self.config.ussd.screen_max_chars)
        screen = self.screen_sms(text, final=True)
        deadline = min(d for d in (reply.deliver_by_ns, screen.deliver_by_ns) if d is not None)
        screen = dataclasses.replace(
            screen, on_failure=reply.on_failure, on_failure_ref=reply.on_failure_ref,
            deliver_by_ns=deadline, holds_code=reply.holds_code, receipt=reply.receipt,
        )  # fmt: skip
        set_last_screen_txn(self.conn, session, self._queue(screen))

    def _queue(self, sms: OutgoingSms) -> int:
        return queue_one_sms_txn(self.conn, sms, self.now_ns)


def on_delivery_config(config: Config) -> Config:
    """`config` with every money command held pending until its confirmation is delivered."""
    money = config.money.model_copy(update={"post_on_delivery": list(MONEY_COMMANDS)})
    return config.model_copy(update={"money": money})


def fit_final_screen(text: str, max_chars: int) -> str:
    """A reply as a last screen the network takes. Replies are measured in GSM-7; one that needs
    UCS-2 (a name with a letter GSM-7 lacks: "ZOË K.") may not fit UCS-2's share of a screen, and
    the sender would refuse it (the money voided). Then it goes in GSM-7 letters: each other letter
    as its base letter (Ë: E), or "?", one for one, so the receipt tag is kept as it is."""
    if fits(text, max_chars) or septets(text) is not None:
        return text
    return "".join(_gsm7_letter(char) for char in text)


def _gsm7_letter(char: str) -> str:
    if septets(char) is not None:
        return char
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if len(base) == 1 and septets(base) == 1 else "?"


def _asks_secret(menu: Menu, screen_id: str) -> bool:
    """Whether the screen asks for a PIN: whatever is typed on it is stored masked."""
    if not menu.has_screen(screen_id):
        return False
    screen = menu.screen(screen_id)
    return screen.kind is Kind.INPUT and KINDS[screen.arg or ""].secret
