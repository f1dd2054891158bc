"""REQ <phone> <amount> [note]: a customer or a merchant asks a customer to pay (Daraja's STK push, by
SMS); the payer answers PAY <code> <PIN> or NO <code>, or lets it expire (money.request_expiry_s).

A request paid is a SEND to a customer requester or a TILL payment to a merchant requester, quoted,
limited, charged and committed by the same code as those commands (daemon.money.send, tills), with
the move linked to the request in the same savepoint. The requester hears of the payment as any
recipient does, once it is posted (SEND's "received", TILL's merchant SMS naming the request); of a
refusal at once; of an expiry when the settle step ends it.

Every queue is bounded (requests still open): MAX_OPEN_PER_PAIR from one requester to one payer,
MAX_OPEN_PER_PAYER waiting for one payer from anyone (no one can bury a payer in requests, and codes
stay easy to tell apart), MAX_OPEN_PER_REQUESTER asked by one requester.

A payment above [security] otp_amount_above_minor waits HELD for YES <one-time password>
(daemon.security.amount_otp), and a fraud rule's hit holds it for staff: the held SEND or TILL
move's detail names the request ("request R4821"), and `_recommit` (daemon.money.held) pays it as
PAY <code> would now: the request found again (still open, the same one), quoted again, and the
move linked to it in the same savepoint. Until then the request stays open: the payer may still
refuse it, and it expires as any.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import Connection

from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.commands.normalise import mask_pins
from daemon.commands.registry import Role
from daemon.config import Config
from daemon.money import common, held, request_rows, send, tills
from daemon.money.limits import check_amount
from daemon.money.moves import Move, MoveKind, MoveRequest, MoveState
from daemon.money.notices import Notifier
from daemon.money.request_rows import PayRequest, RequestState
from daemon.money.settle import SettleEnv, _short_code, add_step
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.security import amount_otp
from daemon.security.fraud_holds import screen_move
from daemon.subscribers import Subscriber, get_subscriber_txn
from smscore.text import TextEncodingError, gsm7_septet_length

COMMAND = "REQUEST"  # its minimum in the tariff
MAX_OPEN_PER_PAIR = 3
MAX_OPEN_PER_PAYER = 10
MAX_OPEN_PER_REQUESTER = 100
NOTE_MAX_CHARS = 20  # GSM-7 septets: the note is in the payer's SMS


def _expiry_ns(config: Config) -> int:
    return int(config.money.request_expiry_s * NS_PER_S)


def requester_label(conn: Connection, requester: Subscriber) -> str:
    """How the payer sees who asks: a merchant by its till's name, a customer as `JOHN K.`."""
    if requester.role is Role.BILLER:
        till = tills.till_of_merchant_txn(conn, requester.msisdn)
        if till is not None:
            return till.name.upper()
    return common.short_name(requester)


def _clean_note(note: str) -> str | None:
    """The note as the payer will read it, or None if it is too long or not plain GSM-7 text.
    Anything that looks like a PIN is masked, as in the stored MO: people end every command with
    theirs, and this text goes to somebody else."""
    cleaned = mask_pins(" ".join(note.split()))
    try:
        septets = gsm7_septet_length(cleaned)
    except TextEncodingError:
        return None
    return cleaned if septets <= NOTE_MAX_CHARS else None


def request(ctx: CommandContext, payer_msisdn: str, amount_minor: int, note: str) -> Reply:
    requester = ctx.subscriber
    assert requester is not None
    if requester.frozen:
        return common.frozen_reply(ctx)
    if payer_msisdn == requester.msisdn:
        return ctx.reply("req_to_self")
    cleaned = _clean_note(note)
    if cleaned is None:
        return ctx.reply("req_note_too_long", most=NOTE_MAX_CHARS)
    phone = common.display(ctx, payer_msisdn)
    payer = get_subscriber_txn(ctx.conn, payer_msisdn)
    if payer is None:
        return ctx.reply("req_payer_unregistered", phone=phone)
    if payer.role is not Role.CUSTOMER or payer.frozen:
        return ctx.reply("req_payer_cannot_pay", phone=phone)
    if requester.role is Role.BILLER:
        till = tills.till_of_merchant_txn(ctx.conn, requester.msisdn)
        if till is None or till.state is not tills.TillState.ACTIVE:
            return ctx.reply("req_till_suspended")
    refused = _refusal(ctx, requester, payer, amount_minor)
    if refused is not None:
        return refused
    expiry_ns = _expiry_ns(ctx.config)
    code = request_rows.new_code_txn(ctx.conn, payer.msisdn, ctx.now_ns - 2 * expiry_ns)
    if code is None:
        return ctx.reply("req_payer_busy", phone=phone)
    request_rows.insert_txn(
        ctx.conn,
        code=code,
        requester_msisdn=requester.msisdn,
        payer_msisdn=payer.msisdn,
        amount_minor=amount_minor,
        note=cleaned,
        inbox_id=ctx.inbox_id,
        created_at_ns=ctx.now_ns,
        expires_at_ns=ctx.now_ns + expiry_ns,
    )
    ctx.notifications.append(_tell_payer(ctx, requester, payer, code, amount_minor, cleaned))
    return ctx.reply(
        "req_asked",
        name=common.short_name(payer),
        phone=phone,
        amount=ctx.money(amount_minor),
        code=code,
        minutes=max(1, round(ctx.config.money.request_expiry_s / 60)),
    )


def _refusal(
    ctx: CommandContext, requester: Subscriber, payer: Subscriber, amount_minor: int
) -> Reply | None:
    """The amount against the payer's tier and the tariff's minimum; the open-request bounds."""
    tariff = common.money_env(ctx.config).tariff
    phone = common.display(ctx, payer.msisdn)
    limit = check_amount(amount_minor, tariff.limits(payer.kyc_tier), tariff.minimum_minor(COMMAND))
    if limit is not None and limit.limit == "minimum":
        return common.limit_reply(ctx, limit)
    if limit is not None:
        return ctx.reply("req_over_limit", phone=phone, allowed=ctx.money(limit.allowed_minor))
    pair, by_payer, by_requester = request_rows.open_counts_txn(
        ctx.conn, requester.msisdn, payer.msisdn, ctx.now_ns
    )
    if pair >= MAX_OPEN_PER_PAIR:
        return ctx.reply("req_too_many", phone=phone, count=pair)
    if by_payer >= MAX_OPEN_PER_PAYER:
        return ctx.reply("req_payer_busy", phone=phone)
    if by_requester >= MAX_OPEN_PER_REQUESTER:
        return ctx.reply("req_requester_busy", count=by_requester)
    return None


def _tell_payer(
    ctx: CommandContext, requester: Subscriber, payer: Subscriber, code: str, amount_minor: int,
    note: str,
) -> OutgoingSms:  # fmt: skip
    notifier = Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id)
    clause = notifier.text(payer.msisdn, "req_note_clause", note=note) if note else ""
    until_ns = ctx.now_ns + _expiry_ns(ctx.config)
    return notifier.sms(
        payer.msisdn,
        "req_incoming",
        name=requester_label(ctx.conn, requester),
        phone=notifier.display(requester.msisdn),
        amount=notifier.money(amount_minor),
        note=clause,
        code=code,
        when=notifier.when(until_ns),
    )


# --- PAY <code> <PIN> and NO <code>


def _decided_reply(ctx: CommandContext, found: PayRequest | None, code: str) -> Reply | None:
    """The answer when the request cannot be paid or refused now; None when it is open."""
    if found is None:  # one answer for no such code and somebody else's: a code is no secret
        return ctx.reply("req_no_such", code=code)  # but says nothing to strangers either
    standing, move = request_rows.standing_txn(ctx.conn, found, ctx.now_ns)
    if standing is RequestState.OPEN:
        return None
    requester = get_subscriber_txn(ctx.conn, found.requester_msisdn)
    name = requester_label(ctx.conn, requester) if requester is not None else ""
    if standing is RequestState.PAID:
        assert move is not None
        return ctx.reply("req_already_paid", code=found.code, ref=move.ref)
    if standing is RequestState.REFUSED:
        return ctx.reply("req_you_refused", code=found.code, name=name)
    return ctx.reply("req_expired", code=found.code, name=name)


def pay_request(ctx: CommandContext, code: str) -> Reply:
    assert ctx.subscriber is not None
    found = request_rows.find_txn(ctx.conn, ctx.subscriber.msisdn, code)
    decided = _decided_reply(ctx, found, code)
    if decided is not None:
        return decided
    assert found is not None
    requester = get_subscriber_txn(ctx.conn, found.requester_msisdn)
    if requester is not None and requester.role is Role.BILLER:
        return _pay_till(ctx, found, requester)
    priced = send.quote(ctx, found.requester_msisdn, found.amount_minor)
    if isinstance(priced, Reply):
        return priced
    asked = _held(ctx, found, priced.request(ctx.inbox_id), priced.fee_minor)
    if asked is not None:
        return asked
    move = _linked(ctx, found, lambda: send.open_send_txn(ctx, priced))
    if not isinstance(move, Move):
        return move
    return send.committed(ctx, move, move.state is MoveState.PENDING)


def _pay_till(ctx: CommandContext, found: PayRequest, merchant: Subscriber) -> Reply:
    till = tills.till_of_merchant_txn(ctx.conn, merchant.msisdn)
    if till is None:
        return ctx.reply("req_till_suspended")
    priced = tills.quote(ctx, till, found.amount_minor)
    if isinstance(priced, Reply):
        return priced
    pending = common.money_env(ctx.config).posts_on_delivery(tills.COMMAND)
    asked = _held(ctx, found, priced.request(ctx.inbox_id, pending), priced.fee_minor)
    if asked is not None:
        return asked
    move = _linked(ctx, found, lambda: tills.open_till_txn(ctx, priced))
    if not isinstance(move, Move):
        return move
    return tills.committed(ctx, move)


# --- a payment held (for its OTP, or for review), paid later

_HELD_DETAIL = re.compile(r"request (R\d+)")


def _held(
    ctx: CommandContext, found: PayRequest, request: MoveRequest, fee_minor: int
) -> Reply | None:
    """The reply when the payment is held (a fraud hit, or above the OTP threshold), its move
    naming the request; None when it is paid now."""
    request = replace(request, detail=f"request {found.code}")
    if (screened := screen_move(ctx, request)) is not None:
        return screened
    if not amount_otp.applies(ctx, request.amount_minor):
        return None
    requester = get_subscriber_txn(ctx.conn, found.requester_msisdn)
    name = requester_label(ctx.conn, requester) if requester is not None else ""
    payee = f"{name} {common.display(ctx, found.requester_msisdn)}".strip()
    fields = {"amount": ctx.money(found.amount_minor), "payee": payee, "fee": ctx.money(fee_minor)}
    return amount_otp.hold_txn(
        ctx,
        request,
        lambda code, minutes: amount_otp.ask(ctx, "otp_pay_confirm", code, minutes, **fields),
    )


def _held_code(move: Move) -> str | None:
    found = _HELD_DETAIL.fullmatch(move.detail or "")
    return found.group(1) if found else None


@held.recommit(MoveKind.SEND, MoveKind.TILL, when=lambda move: _held_code(move) is not None)
def _recommit(ctx: CommandContext, move: Move) -> Reply:
    """A held payment of a request paid now as PAY <code> would pay it, or the refusal (left held)."""
    assert ctx.subscriber is not None and move.payee_msisdn is not None
    code = _held_code(move)
    assert code is not None
    found = request_rows.find_txn(ctx.conn, ctx.subscriber.msisdn, code)
    if found is not None and not _paid_by(found, move):
        found = None  # the code was given to a newer request: the held one's is long gone
    decided = _decided_reply(ctx, found, code)
    if decided is not None:
        return decided
    assert found is not None
    if move.kind is MoveKind.TILL:
        return _recommit_till(ctx, move, found)
    priced = send.quote(ctx, move.payee_msisdn, move.amount_minor)
    if isinstance(priced, Reply):
        return priced
    state = held.paid_state(ctx, send.COMMAND)
    payer = priced.payer.account_id
    paid = _linked(
        ctx, found, lambda: held.reserve_txn(ctx, move, priced.request(None), state, payer)
    )
    if not isinstance(paid, Move):
        return paid
    return send.committed(ctx, paid, paid.state is MoveState.PENDING)


def _paid_by(found: PayRequest, move: Move) -> bool:
    """Whether `move` was made to pay `found` (a request's code is reused once it is long gone)."""
    same = (found.requester_msisdn, found.amount_minor) == (move.payee_msisdn, move.amount_minor)
    return same and found.created_at_ns <= move.created_at_ns


def _recommit_till(ctx: CommandContext, move: Move, found: PayRequest) -> Reply:
    assert move.payee_msisdn is not None
    till = tills.till_of_merchant_txn(ctx.conn, move.payee_msisdn)
    if till is None:
        return ctx.reply("req_till_suspended")
    priced = tills.quote(ctx, till, move.amount_minor)
    if isinstance(priced, Reply):
        return priced
    state = held.paid_state(ctx, tills.COMMAND)
    requoted = priced.request(None, state is MoveState.PENDING)
    payer = priced.payer.account_id
    paid = _linked(ctx, found, lambda: held.reserve_txn(ctx, move, requoted, state, payer))
    if not isinstance(paid, Move):
        return paid
    return tills.committed(ctx, paid)


def _linked(ctx: CommandContext, found: PayRequest, open_move) -> Move | Reply:
    """The payment's move opened and linked to the request, both or neither (a savepoint): if the
    request changed meanwhile (it expired), nothing is paid and the payer hears why."""
    with ctx.conn.begin_nested() as savepoint:
        move = open_move()
        if not isinstance(move, Move):
            savepoint.rollback()
            return move
        if request_rows.change_txn(ctx.conn, found, RequestState.PAID, ctx.now_ns, move_id=move.id):
            return move
        savepoint.rollback()
    again = request_rows.find_txn(ctx.conn, found.payer_msisdn, found.code)
    return _decided_reply(ctx, again, found.code) or ctx.reply("req_no_such", code=found.code)


def refuse(ctx: CommandContext, code: str) -> Reply:
    """NO <request code>: the request refused, the requester told."""
    assert ctx.subscriber is not None
    payer = ctx.subscriber
    found = request_rows.find_txn(ctx.conn, payer.msisdn, code)
    decided = _decided_reply(ctx, found, code)
    if decided is not None:
        return decided
    assert found is not None
    if not request_rows.change_txn(ctx.conn, found, RequestState.REFUSED, ctx.now_ns):
        again = request_rows.find_txn(ctx.conn, payer.msisdn, code)
        return _decided_reply(ctx, again, code) or ctx.reply("req_no_such", code=code)
    notifier = Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id)
    amount = ctx.money(found.amount_minor)
    ctx.notifications.append(
        notifier.sms(
            found.requester_msisdn,
            "req_refused_requester",
            name=common.short_name(payer),
            phone=notifier.display(payer.msisdn),
            code=found.code,
            amount=amount,
        )
    )
    requester = get_subscriber_txn(ctx.conn, found.requester_msisdn)
    name = requester_label(ctx.conn, requester) if requester is not None else ""
    return ctx.reply("req_refused", code=found.code, name=name, amount=amount)


# --- expiry


@add_step("requests_expired")
def expire_requests_txn(
    conn: Connection, env: SettleEnv, now_ns: int, limit: int
) -> tuple[int, bool]:
    """Requests nobody paid or refused in time: expired, each requester told (once: the guarded
    change fails for a request paid or refused meanwhile). A request made over the business API
    has no source message: its business learns of the expiry from the API (request state and
    callback), never by SMS, whether the settler or the API worker finds it first."""
    found = request_rows.expired_txn(conn, now_ns, limit)
    told = []
    for entry in found:
        if not request_rows.change_txn(conn, entry, RequestState.EXPIRED, now_ns):
            continue
        if entry.inbox_id is None:
            continue
        short_code = _short_code(conn, entry.inbox_id, env.config)
        notifier = env.notifier(conn, short_code, now_ns, entry.inbox_id)
        payer = get_subscriber_txn(conn, entry.payer_msisdn)
        told.append(
            notifier.sms(
                entry.requester_msisdn,
                "req_expired_requester",
                name=common.short_name(payer),
                phone=notifier.display(entry.payer_msisdn),
                code=entry.code,
                amount=notifier.money(entry.amount_minor),
            )
        )
    queue_sms_txn(conn, told, now_ns)
    return len(found), len(found) >= limit
