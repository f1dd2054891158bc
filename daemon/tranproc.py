"""The TranProc: turns inbox rows into ledger postings and replies, exactly once.

One batch is one database transaction (`process_batch_txn`): claim up to batch_size 'new' inbox rows
(FOR UPDATE SKIP LOCKED on PostgreSQL, so several TranProcs share the inbox), then for each row:
parse (command registry) → authorise (role, PIN) → handler → reply. The handler and the PIN check
run in a SAVEPOINT; if the handler raises, that savepoint is rolled back, the row is marked 'failed'
and the sender gets a polite "try again later". Inbox marks and outbox rows are then written in bulk
and everything commits together: a crash before the commit leaves every row 'new' and no reply.

The `TranProc` service that runs batches on the database thread is in daemon.tranproc_service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, bindparam, literal_column, select
from twisted.logger import Logger

from daemon import replies
from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.commands.errors import ParseError
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.commands.registry import ParsedCommand, Registry, Role
from daemon.commands.types import ParseEnv
from daemon.config import Config
from daemon.db import is_transient
from daemon.lis import InboxStatus
from daemon.log_lines import mo_lines_txn
from daemon.masking import stored_form
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.outbox.claims import ClaimedSms, claim_outbox_txn
from daemon.repeats import PIN_WRONG, Earlier, RepeatIndex, Verdict
from daemon.schema import inbox
from daemon.security.app_inbox import AppMessage, AppRefusal, open_app_txn, seal_replies_txn
from daemon.subscribers import (
    PinHasher,
    PinOutcome,
    PinPolicy,
    Subscriber,
    check_pin_txn,
    get_subscriber_txn,
    load_subscribers_txn,
)
from daemon.tranproc_outcomes import REPEAT_ERROR, count_outcomes
from daemon.ussd.inbox import CHANNEL as USSD_CHANNEL
from daemon.ussd.inbox import MenuBook, UssdCommand, UssdReply, failed_turn_txn, ussd_turn_txn
from ledger.fastpath import PreparedSelect, bulk_update

log = Logger()
ERROR_MAX_CHARS = 200  # of an exception kept in inbox.error: its first line, not a dump
_SAVEPOINT = "tranproc_row"


REFUSED = "refused"  # the inbox error of a command its handler refused with nothing done


@dataclass(frozen=True, slots=True)
class TranProcEnv:
    """What a batch needs besides its connection and the time."""

    registry: Registry
    config: Config
    hasher: PinHasher
    parse_env: ParseEnv
    pin_policy: PinPolicy
    dedupe_window_ns: int  # a repeat of the same MO within this is answered as a repeat
    lease_owner: str  # whose the replies this process claims are (derived once: host, role, URL)
    menus: MenuBook | None = None  # the USSD menus (daemon.ussd.inbox); None: the stored ones

    @classmethod
    def build(cls, registry: Registry, config: Config, hasher: PinHasher) -> TranProcEnv:
        return cls(
            registry,
            config,
            hasher,
            ParseEnv(Numbering(config.service.region)),
            PinPolicy.from_config(config.security),
            int(config.inbox.dedupe_window_s * NS_PER_S),
            config.lease_owner,
        )


@dataclass(slots=True)
class BatchResult:
    claimed: int = 0
    done: int = 0  # handled and answered (including helpful answers to bad input)
    failed: int = 0  # the handler raised; answered "try again later"
    rejected: int = 0  # answered without running a handler: parse error, role, PIN
    repeats: int = 0  # the same MO again within the dedupe window (re-delivered or re-sent)
    replayed: int = 0  # repeats of a command with side effects: answered, not run again
    waiting: int = 0  # repeats left for a later batch: their first copy is being handled elsewhere
    elapsed_ms: float = 0.0
    full: bool = False  # claimed == batch size: more may be waiting
    # Outbox rows this batch also claimed for the in-process sender (in_flight once it commits).
    replies_claimed: list[ClaimedSms] = field(default_factory=list)
    by_command: dict[tuple[str, str], int] = field(default_factory=dict)  # (keyword, result)


@dataclass(slots=True)
class _Outcome:
    """How one row ends: its inbox mark and the SMS to queue."""

    row_id: int
    status: str
    messages: list[OutgoingSms]
    command: str | None = None
    error: str | None = None
    masked: tuple[str, bytes] | None = None  # (text, payload) replacing the stored ones (a PIN)

    @property
    def reply_text(self) -> str | None:
        return self.messages[0].text if self.messages else None


def process_batch_txn(
    conn: Connection, env: TranProcEnv, now_ns: int, batch_size: int, claim_replies: int = 0
) -> BatchResult:
    """Handle up to batch_size new inbox rows in one transaction. With `claim_replies`, also claim up
    to that many due outbox rows for an in-process sender: it saves the sender a commit per turn, and
    a crash before they are sent leaves them in_flight under this process's lease: its restart (or,
    if it does not come back, another sweeper once the lease expires) re-queues them.
    """
    started = time.perf_counter()
    rows = _claim(conn, batch_size)
    result = BatchResult(claimed=len(rows), full=len(rows) >= batch_size)
    if not rows:
        return result
    senders = {row.id: _normalised(row.source_addr, env.parse_env.numbering) for row in rows}
    subscribers = load_subscribers_txn(conn, senders.values(), lock=True)
    repeats = RepeatIndex.load(conn, rows, env.dedupe_window_ns)
    outcomes = []
    for row in rows:
        result.repeats += bool(repeats.earlier(row))
        outcome = _handle_row(conn, env, row, senders[row.id], subscribers, repeats, now_ns)
        if outcome is None:
            result.waiting += 1
            continue
        repeats.handled(row, outcome.status, outcome.command, outcome.error, outcome.reply_text)
        outcomes.append(outcome)
    _write_outcomes(conn, outcomes, now_ns)
    mo_lines_txn(conn, rows, outcomes)  # one line per MO, written when the batch commits
    if claim_replies > 0:
        result.replies_claimed = claim_outbox_txn(conn, claim_replies, now_ns, env.lease_owner)
    count_outcomes(result, outcomes)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


class _InboxRow(NamedTuple):
    id: int
    source_addr: str
    destination_addr: str
    bind_name: str
    text: str
    data_coding: int
    dedupe_key: str
    received_at_ns: int
    ussd_session: str | None  # the USSD columns (d0008): all NULL on an SMS
    ussd_op: int | None
    ussd_end: bool | None


def _select_new(dialect_name: str) -> Select:
    stmt = (
        select(*(inbox.c[name] for name in _InboxRow._fields))
        .where(inbox.c.status == InboxStatus.NEW)
        .order_by(inbox.c.id)
        .limit(bindparam("batch_size"))
    )
    if dialect_name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return stmt


_select_new_rows = PreparedSelect(_select_new, row=_InboxRow)


def _claim(conn: Connection, batch_size: int) -> list[_InboxRow]:
    return _select_new_rows.all(conn, {"batch_size": batch_size})


def _normalised(source_addr: str, numbering: Numbering) -> str:
    try:
        return normalize_msisdn(source_addr, numbering)
    except MsisdnError:
        return source_addr.strip()  # alphanumeric or foreign: answered as received


class _Row:
    """One message on its way through the batch: who sent it and how to answer."""

    def __init__(
        self,
        row: Any,
        sender: str,
        subscriber: Subscriber | None,
        env: TranProcEnv,
        channel: str = "plain",
    ):
        self.row = row
        self.channel = channel
        self.sender = sender
        self.subscriber = subscriber
        self.role = subscriber.role if subscriber else Role.UNREGISTERED
        self.language = subscriber.language if subscriber else env.config.service.default_language
        self.env = env

    def answer(self, text: str, reply: Reply | None = None) -> OutgoingSms:
        return OutgoingSms(
            destination_addr=self.sender,
            text=text,
            source_addr=self.row.destination_addr,
            inbox_id=self.row.id,
            bind_name=self.row.bind_name,
            on_failure=reply.on_failure if reply else None,
            on_failure_ref=reply.on_failure_ref if reply else None,
            deliver_by_ns=reply.deliver_by_ns if reply else None,
            holds_code=reply.holds_code if reply else False,
            receipt=reply.receipt if reply else None,
        )

    def render(self, key: str, **fields: object) -> str:
        return replies.render(self.language, key, service=self.env.config.service.name, **fields)

    def outcome(self, status: str, text: str, **fields: Any) -> _Outcome:
        return _Outcome(self.row.id, status, [self.answer(text)], **fields)


def _handle_row(
    conn: Connection,
    env: TranProcEnv,
    row: Any,
    sender: str,
    subscribers: dict[str, Subscriber],
    repeats: RepeatIndex,
    now_ns: int,
) -> _Outcome | None:
    """How the row ends, or None when it must wait for its first copy (see daemon.repeats)."""
    try:
        ussd = None  # an SMS: no turn, and no savepoint around nothing (two statements a row)
        if row.ussd_op is not None:
            with _row_savepoint(conn):
                ussd = ussd_turn_txn(conn, env, row, sender, subscribers.get(sender), now_ns)
    except Exception as exc:
        if is_transient(exc):
            raise  # the whole batch is retried
        # As a failing SMS command: the row failed, "try later" shown, the session ended.
        log.warn("inbox {id}: ussd turn failed: {why}", id=row.id, why=error_reason(exc))
        failed = failed_turn_txn(conn, env, row, sender, subscribers.get(sender), now_ns)
        return _Outcome(
            row.id, InboxStatus.FAILED, [], error=error_reason(exc), masked=failed.masked
        )
    if isinstance(ussd, UssdReply):  # a screen of the menu (queued), or a released dialogue
        return _Outcome(row.id, InboxStatus.DONE, [], error=ussd.error, masked=ussd.masked)
    if ussd is not None:  # the menu's completed path: its command runs as the same SMS would
        return _ussd_command(conn, ussd, row, sender, subscribers, now_ns)
    app = open_app_txn(conn, env.config, row, sender)  # None: a plain SMS
    if isinstance(app, AppMessage):
        row = row._replace(text=app.text)  # the same command as the plain-text path, from here
    channel = "app" if isinstance(app, AppMessage) else "plain"
    message = _Row(row, sender, subscribers.get(sender), env, channel)
    if isinstance(app, AppRefusal):
        return _refused_app_message(message, app)
    outcome, masked_text = _answer(conn, message, subscribers, repeats, now_ns)
    if outcome is None:
        return None
    if app is not None:
        outcome.messages = seal_replies_txn(conn, env.config, app, outcome.messages, sender)
    outcome.masked = stored_form(row, masked_text, env.config.binds)
    return outcome


def _ussd_command(
    conn: Connection, ussd: UssdCommand, row: Any, sender: str,
    subscribers: dict[str, Subscriber], now_ns: int,
) -> _Outcome:  # fmt: skip
    source = ussd.env.config.ussd_sms_source(row.bind_name)  # the SMS it brings come from there
    row = row._replace(text=ussd.text, destination_addr=source)
    message = _Row(row, sender, subscribers.get(sender), ussd.env, USSD_CHANNEL)
    no_repeats = RepeatIndex(ussd.env.dedupe_window_ns)  # the session makes its steps once
    outcome, masked_text = _answer(conn, message, subscribers, no_repeats, now_ns)
    assert outcome is not None  # only a repeat waits
    outcome.messages = ussd.final_screen_txn(outcome.messages)
    outcome.masked = stored_form(row, masked_text, ussd.env.config.binds)
    return outcome


def _refused_app_message(message: _Row, refusal: AppRefusal) -> _Outcome:
    text = refusal.sealed_reply or message.render(refusal.catalogue_key)
    error = f"app:{type(refusal.error).__name__}"
    return message.outcome(InboxStatus.DONE, text, error=error)


def _answer(
    conn: Connection,
    message: _Row,
    subscribers: dict[str, Subscriber],
    repeats: RepeatIndex,
    now_ns: int,
) -> tuple[_Outcome | None, str]:
    """How the row ends, and its text as it may be stored (normalised, every PIN masked)."""
    env, row = message.env, message.row
    try:
        parsed = env.registry.parse(row.text, env.parse_env)
    except ParseError as exc:
        text = env.registry.explain(exc, message.language)
        return message.outcome(InboxStatus.DONE, text, error=exc.code), exc.masked_text
    masked = parsed.masked_text
    keyword = parsed.command.keyword
    if message.role not in parsed.command.roles:
        key = "not_registered" if message.role is Role.UNREGISTERED else "not_allowed"
        text = message.render(key, keyword=keyword)
        return message.outcome(InboxStatus.DONE, text, command=keyword, error=key), masked
    if parsed.command.pin_arg is not None and (refused := repeats.refused_pin(row, keyword)):
        return _replay(conn, message, repeats, refused, keyword), masked
    if parsed.command.side_effects:
        verdict, earlier = repeats.verdict(row, keyword)
        if verdict is Verdict.WAIT:
            return None, masked
        if verdict is Verdict.REPLAY:
            assert earlier is not None
            return _replay(conn, message, repeats, earlier, keyword), masked
    try:
        with _row_savepoint(conn):
            outcome = _authorise_and_run(conn, message, parsed, subscribers, now_ns)
    except Exception as exc:
        if is_transient(exc):
            raise  # the whole batch is retried; this message did nothing wrong
        reason = error_reason(exc)
        log.warn(
            "inbox {id}: {command} failed: {reason}", id=row.id, command=keyword, reason=reason
        )
        _reload_subscriber(conn, message, subscribers)
        text = message.render("try_later")
        return message.outcome(InboxStatus.FAILED, text, command=keyword, error=reason), masked
    return outcome, masked


def _replay(
    conn: Connection, message: _Row, repeats: RepeatIndex, earlier: Earlier, keyword: str
) -> _Outcome:
    """The repeat of a command that ran: its first reply again, saying so; nothing runs."""
    log.info(
        "inbox {id}: repeat of inbox {earlier} ({command}): earlier reply sent again",
        id=message.row.id,
        earlier=earlier.id,
        command=keyword,
    )
    first = repeats.first_reply(conn, earlier, message.sender)
    if first and earlier.error == REPEAT_ERROR:
        text = first  # a repeat's own answer: the first reply already, marked as a repeat
    else:
        text = message.render("repeat", reply=first) if first else message.render("repeat_no_reply")
    return message.outcome(InboxStatus.DONE, text, command=keyword, error=REPEAT_ERROR)


@contextmanager
def _row_savepoint(conn: Connection) -> Iterator[None]:
    """A SAVEPOINT around one message, sent straight to the driver's cursor. SQLAlchemy tracks
    neither this nor an exec_driver_sql savepoint, but begin_nested() costs ~6x more per row
    (measured 440 vs 73 us on SQLite) and exec_driver_sql still builds an execution context and a
    result per statement (~2/3 of its cost). Handlers may still nest their own begin_nested()."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            yield
        except BaseException:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            raise
        cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    finally:
        cursor.close()


def _authorise_and_run(
    conn: Connection,
    message: _Row,
    parsed: ParsedCommand,
    subscribers: dict[str, Subscriber],
    now_ns: int,
) -> _Outcome:
    command = parsed.command
    if command.pin_arg is not None:
        refusal = _check_pin(conn, message, parsed.args[command.pin_arg], subscribers, now_ns)
        if refusal is not None:
            return message.outcome(
                InboxStatus.DONE, refusal[1], command=command.keyword, error=refusal[0]
            )
    env = message.env
    ctx = CommandContext(
        conn=conn,
        now_ns=now_ns,
        config=env.config,
        registry=env.registry,
        sender=message.sender,
        subscriber=message.subscriber,
        role=message.role,
        language=message.language,
        inbox_id=message.row.id,
        short_code=message.row.destination_addr,
        bind_name=message.row.bind_name,
        hasher=env.hasher,
        channel=message.channel,
    )
    reply = command.handler(ctx, parsed.args)
    if ctx.subscriber is not message.subscriber:  # the handler changed the sender (a new PIN)
        subscribers[message.sender] = message.subscriber = ctx.subscriber
    messages = [message.answer(reply.text, reply), *ctx.notifications]
    error = REFUSED if reply.refused else None  # nothing done: a repeat of it runs (repeats)
    return _Outcome(
        message.row.id, InboxStatus.DONE, messages, command=command.keyword, error=error
    )


def _check_pin(
    conn: Connection,
    message: _Row,
    pin: str,
    subscribers: dict[str, Subscriber],
    now_ns: int,
) -> tuple[str, str] | None:
    """None if the PIN is right; else (error code, reply text)."""
    assert message.subscriber is not None  # PIN commands are for registered roles only
    env = message.env
    check, updated = check_pin_txn(
        conn, message.subscriber, pin, env.hasher, env.pin_policy, now_ns
    )
    subscribers[message.sender] = message.subscriber = updated
    if check.outcome is PinOutcome.OK:
        return None
    if check.outcome is PinOutcome.WRONG:
        return PIN_WRONG, message.render("pin_wrong", remaining=check.remaining)
    if check.outcome is PinOutcome.LOCKED:
        minutes = max(1, math.ceil((check.locked_until_ns - now_ns) / (60 * NS_PER_S)))
        return "pin_locked", message.render("pin_locked", minutes=minutes)
    return "pin_not_set", message.render("pin_not_set")


def _reload_subscriber(conn: Connection, message: _Row, subscribers: dict[str, Subscriber]) -> None:
    # The savepoint rollback undid any PIN-state change; forget what we cached from it.
    if message.sender in subscribers:
        found = get_subscriber_txn(conn, message.sender)
        if found is not None:
            subscribers[message.sender] = found


def error_reason(exc: BaseException) -> str:
    # First line only: SQLAlchemy errors list the statement parameters on later lines.
    first_line = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}"[:ERROR_MAX_CHARS]


class _Mark(NamedTuple):
    """How a handled inbox row is marked (the SET columns, then its id)."""

    status: str
    processed_at_ns: int
    command: str | None
    error: str | None
    id: int


_attempts_plus_one = {"attempts": inbox.c.attempts + literal_column("1")}  # no bound parameter
_mark = bulk_update(inbox, _Mark._fields[:-1], also_set=_attempts_plus_one)
# The same, also replacing the stored text of a message that held a PIN: rows are
# (*mark[:-1], text, payload, id).
_mark_masked = bulk_update(
    inbox, (*_Mark._fields[:-1], "text", "payload"), also_set=_attempts_plus_one
)


def _write_outcomes(conn: Connection, outcomes: list[_Outcome], now_ns: int) -> None:
    plain, masked = [], []
    for outcome in outcomes:
        mark = _Mark(outcome.status, now_ns, outcome.command, outcome.error, outcome.row_id)
        if outcome.masked is None:
            plain.append(mark)
        else:
            masked.append((*mark[:-1], *outcome.masked, mark.id))
    if plain:
        _mark.executemany(conn, plain)
    if masked:
        _mark_masked.executemany(conn, masked)
    queue_sms_txn(conn, [sms for outcome in outcomes for sms in outcome.messages], now_ns)
