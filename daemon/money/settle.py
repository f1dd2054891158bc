"""Settling moves that waited for their confirmation (the M-Pesa rollback) and ending those nobody
confirmed.

A move held pending has its sender's confirmation in the outbox with on_failure = HOOK and
on_failure_ref = the move id. Exactly one of two things then happens to it, each in one transaction
that also marks the outbox row's hook done (so the other never runs):
- its receipt says delivered: `settle_txn` posts the move and tells the other party; but a receipt
  stored after deliver_by_ns (the daemon was down at the deadline, so no sweep ran) is no receipt
  in time: settle voids the move there, as the sweeper would have;
- it fails, is undeliverable, or no receipt arrives by deliver_by_ns: the sweeper calls the hook
  (`void_hook`), which voids the move and tells the sender, by a later SMS, that nothing happened.

`settle_txn` also ends held and confirming moves whose time ran out, and runs the steps other
modules add (`add_step`, e.g. returning expired vouchers). A confirmation that waits for its
delivery in another way has its own hook name: its module adds the sweeper's hook for it
(`add_void_hook`, e.g. daemon.money.airtime_screen) and a step that reads its delivered rows
(`delivered_rows_txn`); the daemon registers every hook of `failure_hooks` with the sweeper.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Row, bindparam, select, update
from twisted.logger import Logger

from daemon.config import Config
from daemon.money import held
from daemon.money.common import release_txn
from daemon.money.moves import (
    MoveError,
    MoveState,
    expired_moves_txn,
    get_move_txn,
    post_moves_txn,
)
from daemon.money.notices import Notifier, posted_notices, released_notices
from daemon.money.prepared import PreparedWrite
from daemon.outbox import FINAL_STATUSES, OutboxStatus, OutgoingSms, queue_sms_txn
from daemon.schema import inbox, outbox
from daemon.subscribers import PinHasher

log = Logger()
HOOK = "move"  # outbox.on_failure of a confirmation whose move waits for its delivery


@dataclass(frozen=True, slots=True)
class SettleEnv:
    config: Config
    hasher: PinHasher  # voucher codes are made when the recipient is told
    max_rows: int = 500

    def notifier(self, conn: Connection, short_code: str, now_ns: int, inbox_id: int | None):
        return Notifier(conn, self.config, short_code, now_ns, inbox_id, self.hasher)


# step(conn, env, now_ns, limit) -> (rows handled, full)
SettleStep = Callable[[Connection, SettleEnv, int, int], tuple[int, bool]]
_STEPS: dict[str, SettleStep] = {}


def add_step(name: str) -> Callable[[SettleStep], SettleStep]:
    def add(step: SettleStep) -> SettleStep:
        if name in _STEPS:
            raise ValueError(f"a settle step {name!r} is already added")
        _STEPS[name] = step
        return step

    return add


# The sweeper's hook for an on_failure name: made from the settle environment.
FailureHook = Callable[[Connection, Row, int], None]
MakeHook = Callable[[SettleEnv], FailureHook]
_HOOKS: dict[str, MakeHook] = {}


def add_void_hook(name: str) -> Callable[[MakeHook], MakeHook]:
    """Decorator: `make(env)` is the sweeper's hook for outbox rows with on_failure = `name`."""

    def add(make: MakeHook) -> MakeHook:
        if name in _HOOKS or name == HOOK:
            raise ValueError(f"a void hook {name!r} is already added")
        _HOOKS[name] = make
        return make

    return add


def failure_hooks(env: SettleEnv) -> dict[str, FailureHook]:
    """Every on_failure hook of money confirmations, by name, for the sweeper."""
    return {HOOK: make_void_hook(env), **{name: make(env) for name, make in _HOOKS.items()}}


# What settling a delivered confirmation reads of its row (a USSD screen's text: its SMS copy).
_DELIVERED_COLUMNS = (
    "id", "on_failure_ref", "source_addr", "inbox_id", "destination_addr", "text", "ussd_op",
    "bind_name", "deliver_by_ns", "final_at_ns",
)  # fmt: skip


def delivered_rows_txn(conn: Connection, limit: int, hook: str = HOOK) -> list[Row]:
    """Delivered rows with on_failure = `hook` whose hook is not done (locked, skipping locked)."""
    query = (
        select(*(outbox.c[name] for name in _DELIVERED_COLUMNS))
        .where(
            outbox.c.on_failure == hook,
            outbox.c.on_failure_done_at_ns.is_(None),
            outbox.c.status == OutboxStatus.DELIVERED,
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


_mark_hook_done = PreparedWrite(
    lambda _: (
        update(outbox)
        .where(outbox.c.id == bindparam("outbox_id"))
        .values(on_failure_done_at_ns=bindparam("now_ns"))
        .returning(outbox.c.id)
    )
)


def hook_done_txn(conn: Connection, outbox_id: int, now_ns: int, note: str | None = None) -> None:
    """The row's hook settled: the sweeper never calls it (the other way never runs)."""
    if note is None:
        _mark_hook_done.run(conn, {"outbox_id": outbox_id, "now_ns": now_ns})
        return
    values = {"on_failure_done_at_ns": now_ns, "last_error": note}
    conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(values))


def post_delivered_txn(
    conn: Connection, env: SettleEnv, now_ns: int, limit: int
) -> tuple[int, bool]:
    """Post every pending move whose confirmation was delivered; tell the other party. All of them
    in one ledger batch; if any cannot be posted, that is undone and they go one by one, so that
    the one that fails is recorded and the others still post."""
    rows = delivered_rows_txn(conn, limit)
    try:
        with conn.begin_nested():
            posted = _post_all(conn, env, rows, now_ns)
    except MoveError:
        posted = 0
        for row in rows:
            try:
                with conn.begin_nested():
                    posted += _post_all(conn, env, [row], now_ns)
            except MoveError as exc:  # recorded for operators, never retried: it would fail again
                log.error("outbox {id}: {error}", id=row.id, error=str(exc))
                hook_done_txn(conn, row.id, now_ns, f"settle failed: {exc}"[:200])
    return posted, len(rows) >= limit


def _post_all(conn: Connection, env: SettleEnv, rows: list[Row], now_ns: int) -> int:
    waiting = []
    for row in rows:
        move = get_move_txn(conn, row.on_failure_ref, lock=True)
        hook_done_txn(conn, row.id, now_ns)
        if move.state is not MoveState.PENDING:  # voided first (the receipt came after the
            continue  # deadline): the sender was told
        if _came_late(row):  # the sweeper did not run in between (the daemon was down)
            make_void_hook(env)(conn, row, now_ns)
            continue
        waiting.append((row, move))
    found = [move for _, move in waiting]
    posted = post_moves_txn(conn, found, env.config.service.currency, now_ns)
    notices = []
    for (row, _), move in zip(waiting, posted, strict=True):
        notifier = env.notifier(conn, sms_source(env, row), now_ns, row.inbox_id)
        notices.extend(posted_notices(notifier, move))
        notices.extend(ussd_confirmation_sms(env, row))
    queue_sms_txn(conn, notices, now_ns)
    return len(posted)


def _came_late(row: Row) -> bool:
    """An SMS confirmation whose receipt was stored after its deadline: none came in time, so the
    move is voided, as the sweeper voids it when it runs first. (A USSD screen still in flight at
    its deadline waits for its submit_sm_resp by design: it is not late.)"""
    deadline_ns, stored_ns = row.deliver_by_ns, row.final_at_ns
    return row.ussd_op is None and None not in (deadline_ns, stored_ns) and stored_ns > deadline_ns


def ussd_confirmation_sms(env: SettleEnv, row: Row) -> list[OutgoingSms]:
    """A move posted by its USSD last screen's submit (daemon.ussd): a screen is gone from the phone
    once read, so its text, receipt tag and all, also comes as the SMS confirmation an SMS command
    gets. Nothing for a confirmation that was an SMS."""
    if row.ussd_op is None:
        return []
    sms = OutgoingSms(row.destination_addr, row.text, sms_source(env, row), row.inbox_id)
    return [sms]


def sms_source(env: SettleEnv, row: Row) -> str:
    """Where the SMS about a confirmation come from: its own source, but for a USSD screen's (sent
    from the dialled code), the configured sender."""
    return row.source_addr if row.ussd_op is None else env.config.ussd_sms_source(row.bind_name)


def make_void_hook(env: SettleEnv) -> FailureHook:
    """The sweeper's on_failure hook HOOK: the confirmation will not be delivered in time."""

    def void_hook(conn: Connection, row: Row, now_ns: int) -> None:
        move = get_move_txn(conn, row.on_failure_ref, lock=True)
        if move.state is not MoveState.PENDING:
            return  # already posted (delivered first) or released: nothing to undo
        move = release_txn(conn, move, MoveState.VOIDED, env.config, now_ns)
        log.info("move {ref}: confirmation not delivered; voided", ref=move.ref)
        notifier = env.notifier(conn, sms_source(env, row), now_ns, row.inbox_id)
        queue_sms_txn(conn, released_notices(notifier, move), now_ns)

    return void_hook


def expire_unconfirmed_txn(
    conn: Connection, env: SettleEnv, now_ns: int, limit: int
) -> tuple[int, bool]:
    """Held and confirming moves nobody confirmed in time: released; the payer of a confirming one,
    or of one held for its one-time password, told (a repeat SEND's is not: its first went)."""
    found = expired_moves_txn(conn, (MoveState.HELD, MoveState.CONFIRMING), now_ns, limit)
    for move in found:
        otp_held = held.waits_for_otp(move)
        was = move.state
        move = release_txn(conn, move, MoveState.EXPIRED, env.config, now_ns)
        if (was is MoveState.CONFIRMING or otp_held) and move.payer_msisdn:
            short_code = _short_code(conn, move.inbox_id, env.config)
            notifier = env.notifier(conn, short_code, now_ns, move.inbox_id)
            if otp_held:
                payee = held.payee_label(conn, env.config, move)
                sms = notifier.about(move.payer_msisdn, "otp_expired", move, payee=payee)
            else:
                sms = notifier.about(move.payer_msisdn, "confirm_expired", move)
            queue_sms_txn(conn, [sms], now_ns)
    return len(found), len(found) >= limit


def _short_code(conn: Connection, inbox_id: int | None, config: Config) -> str:
    """The number the subscriber wrote to (replies come from it), else the configured sender."""
    if inbox_id is not None:
        found = conn.execute(
            select(inbox.c.destination_addr).where(inbox.c.id == inbox_id)
        ).scalar()
        if found:
            return found
    return config.sender.source_addr


def settle_txn(conn: Connection, env: SettleEnv, now_ns: int) -> tuple[dict[str, int], bool]:
    """One settle run: (counts, full). Each step in a savepoint: one failing does not undo others."""
    counts: dict[str, int] = {}
    more = False
    steps = {"posted": post_delivered_txn, "expired": expire_unconfirmed_txn, **_STEPS}
    for name, step in steps.items():
        try:
            with conn.begin_nested():
                counts[name], full = step(conn, env, now_ns, env.max_rows)
        except MoveError as exc:
            log.error("settle step {name} failed: {error}", name=name, error=str(exc))
            counts[f"{name}_errors"] = 1
            continue
        more = more or full
    return counts, more


def settle_work(env: SettleEnv) -> Callable[[Connection, int], tuple[dict[str, int], bool]]:
    """settle_txn as a daemon.periodic job."""
    return lambda conn, now_ns: settle_txn(conn, env, now_ns)


# --- one-time codes do not stay readable in the outbox

# A whole word of 4 to 8 digits: the codes we send (YES 4821, first PIN and voucher codes of 8).
# Amounts are never caught (they are written with a separator: 1,000.00); phone-number groups are.
_CODE_WORD = re.compile(r"(?<![\w.,])\d{4,8}(?![\w.,])")
CODE_MASK = "****"


def mask_codes(text: str) -> str:
    return _CODE_WORD.sub(CODE_MASK, text)


@add_step("codes_masked")
def mask_sent_codes_txn(conn: Connection, env: SettleEnv, now_ns: int, limit: int):
    """The text of final outbox rows that carried a one-time code, with the code masked: the code
    was needed until the SMS was sent (a retry re-sends the text); after that it is only a risk."""
    query = (
        select(outbox.c.id, outbox.c.text)
        .where(outbox.c.holds_code.is_(True), outbox.c.status.in_(sorted(FINAL_STATUSES)))
        .limit(limit)
    )
    rows = conn.execute(query).all()
    for row in rows:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(text=mask_codes(row.text), holds_code=False)
        )
    return len(rows), len(rows) >= limit
