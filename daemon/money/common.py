"""What every money command shares: the tariff, one-time codes, names and numbers as replies show
them, balances, and the replies to a refusal (frozen, too little money, over a limit)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from daemon.channels.notices import NoticeTopic, notify_txn
from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.config import Config, MoneyConfig
from daemon.money.limits import (
    LimitRefusal,
    check_limits_txn,
    give_back_usage_txn,
    record_usage_txn,
    service_day,
)
from daemon.money.moves import (
    RESERVED,
    LedgerRefusal,
    Move,
    MoveKind,
    MoveRequest,
    MoveState,
    open_move_txn,
    release_move_txn,
)
from daemon.money.notices import display_number, local_time
from daemon.money.receipt_tags import CONFIRMED, tagged
from daemon.money.tariff import Tariff, load_tariff
from daemon.subscribers import PinHasher, Subscriber
from ledger import get_balance

CODE_DIGITS = 4  # YES/NO codes: typed back at once, from the sender's own phone
# Moves that count against the payer's daily limits from the moment their money is reserved.
USES_LIMITS = frozenset(
    {MoveKind.SEND, MoveKind.VOUCHER, MoveKind.WITHDRAW, MoveKind.TILL, MoveKind.BILL}
)


@dataclass(frozen=True, slots=True)
class MoneyEnv:
    config: MoneyConfig
    currency: str
    tariff: Tariff

    @property
    def rollback_timeout_ns(self) -> int:
        return int(self.config.rollback_timeout_s * NS_PER_S)

    def posts_on_delivery(self, command: str) -> bool:
        return command in self.config.post_on_delivery


_TARIFFS: dict[Path | None, Tariff] = {}  # path -> the tariff read from it (one read per path)


def _tariff(path: Path | None) -> Tariff:
    found = _TARIFFS.get(path)
    if found is None:
        found = _TARIFFS[path] = load_tariff(path)
    return found


def install_tariff(path: Path | None, tariff: Tariff) -> bool:
    """A reload (SIGHUP): `tariff`, read and checked from `path`, is used from the next command
    on. Returns whether it differs from the one in use."""
    changed = _TARIFFS.get(path) != tariff
    _TARIFFS[path] = tariff
    return changed


def money_env(config: Config) -> MoneyEnv:
    """The money settings of `config`; the tariff file is read once per path."""
    return MoneyEnv(config.money, config.service.currency, _tariff(config.money.tariff_file))


def today(ctx: CommandContext) -> str:
    return service_day(ctx.now_ns, ctx.config.money.timezone)


def when(now_ns: int, timezone: str) -> str:
    return local_time(now_ns, timezone)


def display(ctx: CommandContext, msisdn: str) -> str:
    return display_number(ctx.config, msisdn)


def new_code(digits: int = CODE_DIGITS) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_digest(hasher: PinHasher, purpose: str, msisdn: str, code: str) -> bytes:
    """A one-time code's digest: peppered like a PIN, bound to its purpose and number."""
    return hasher.digest(f"{purpose}:{msisdn}", code)


def code_matches(hasher: PinHasher, purpose: str, msisdn: str, code: str, stored: bytes) -> bool:
    return hasher.matches(f"{purpose}:{msisdn}", code, stored)


def short_name(subscriber: Subscriber | None) -> str:
    """`JANE W.` for Jane Wanjiku: enough to recognise the person, not their full name."""
    if subscriber is None or not subscriber.name.strip():
        return ""
    words = subscriber.name.upper().split()
    return words[0] if len(words) == 1 else f"{words[0]} {words[-1][0]}."


def available_minor(conn: Connection, account_id: int) -> int:
    found = get_balance(conn, account_id)
    return found.available if found is not None else 0


def release_txn(
    conn: Connection, move: Move, state: MoveState, config: Config, now_ns: int
) -> Move:
    """End an open move with nothing moved; a reserved one gives back its use of the payer's daily
    limits (money that never moved is no use of a limit). Its use was recorded on the day it was
    reserved, which is the day it was made but for a repeat confirmed by YES across midnight."""
    counted = move.state in RESERVED and move.kind in USES_LIMITS
    released = release_move_txn(conn, move, state, config.service.currency, now_ns)
    if counted and move.payer_msisdn is not None:
        day = service_day(move.created_at_ns, config.money.timezone)
        give_back_usage_txn(conn, move.payer_msisdn, day, move.amount_minor)
    return released


def frozen_reply(ctx: CommandContext) -> Reply:
    return ctx.refuse("account_frozen")


def funds_reply(ctx: CommandContext, account_id: int, needed_minor: int) -> Reply:
    balance = available_minor(ctx.conn, account_id)
    return ctx.refuse(
        "insufficient_funds", needed=ctx.money(needed_minor), balance=ctx.money(balance)
    )


def ledger_reply(
    ctx: CommandContext, refusal: LedgerRefusal, account_id: int, needed: int
) -> Reply:
    if refusal.insufficient_funds:
        return funds_reply(ctx, account_id, needed)
    raise MoneyRefused(f"ledger refused leg {refusal.leg}: {refusal.result.value}")


def limit_reply(ctx: CommandContext, refusal: LimitRefusal) -> Reply:
    # The daily count limit is a number of transactions; every other limit is an amount.
    counted = refusal.limit == "daily_count"
    allowed = str(refusal.allowed_minor) if counted else ctx.money(refusal.allowed_minor)
    reply = ctx.refuse(f"limit_{refusal.limit}", allowed=allowed)
    notify_txn(ctx.conn, ctx.sender, NoticeTopic.LIMIT, reply.text, ctx.now_ns)  # the app's copy
    return reply


def payer_limits_reply(
    ctx: CommandContext, payer: Subscriber, command: str, amount_minor: int
) -> Reply | None:
    """The refusal when `amount_minor` is under the command's minimum or over one of the payer's
    tier limits (per transaction, per day, count, daily value), else None."""
    tariff = money_env(ctx.config).tariff
    refusal = check_limits_txn(
        ctx.conn, payer.msisdn, amount_minor, tariff.limits(payer.kyc_tier),
        tariff.minimum_minor(command), today(ctx),
    )  # fmt: skip
    return None if refusal is None else limit_reply(ctx, refusal)


def open_paid_move_txn(
    ctx: CommandContext, command: str, request: MoveRequest, payer: Subscriber, total_minor: int
) -> tuple[Move, bool] | Reply:
    """The payer's move posted at once, or held pending until its confirmation is delivered
    (money.post_on_delivery: the bool), its use of the daily limits recorded; or the refusal of a
    payer without `total_minor` available (nothing kept)."""
    on_delivery = money_env(ctx.config).posts_on_delivery(command)
    state = MoveState.PENDING if on_delivery else MoveState.POSTED
    move = open_move_txn(
        ctx.conn, request, currency=ctx.config.service.currency, now_ns=ctx.now_ns, state=state
    )
    if not isinstance(move, Move):
        return ledger_reply(ctx, move, payer.account_id, total_minor)
    record_usage_txn(ctx.conn, payer.msisdn, today(ctx), request.amount_minor)
    return move, on_delivery


def confirmation(ctx: CommandContext, move: Move, text: str, on_delivery: bool) -> Reply:
    """The sender's confirmation, with its receipt tag; for a move held pending, delivering it is
    what posts the move."""
    text, receipt = tagged(text, ctx.text, ctx.config, move, ctx.now_ns, CONFIRMED)
    if not on_delivery:
        return Reply(text, receipt=receipt)
    from daemon.money.settle import HOOK

    deadline = ctx.now_ns + money_env(ctx.config).rollback_timeout_ns
    return Reply(
        text, on_failure=HOOK, on_failure_ref=move.id, deliver_by_ns=deadline, receipt=receipt
    )


class MoneyRefused(Exception):
    """The ledger refused a move for a reason no subscriber can cause (a bug or corrupt data)."""
