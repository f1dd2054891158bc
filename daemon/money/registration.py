"""Registration at an agent (REG) and the subscriber's PIN (PIN).

`REG <phone> <id-number> <name...> <agent-PIN>`, sent by an agent store or its assistant, registers a
customer at KYC tier 1 with no PIN and sends the customer a one-time code; any voucher waiting for
the number moves into the new wallet. The customer's first `PIN <code> <new-PIN>` sets the PIN;
afterwards `PIN <old-PIN> <new-PIN>` changes it. Wrong codes and wrong old PINs count like wrong PINs
and lock the same way.
"""

from __future__ import annotations

import math

from sqlalchemy import select, update

from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import Role
from daemon.money import common
from daemon.money.agents import acting_store, notifier
from daemon.money.one_time import (
    FIRST_PIN,
    FIRST_PIN_DIGITS,
    delete_code_txn,
    get_code_txn,
    issue_code_txn,
    matches,
    set_failures_txn,
    wrong_guess,
)
from daemon.money.voucher_moves import claim_vouchers_txn
from daemon.schema import subscribers
from daemon.subscribers import (
    PinOutcome,
    PinPolicy,
    Subscriber,
    check_pin_txn,
    create_subscriber_txn,
    get_subscriber_txn,
    is_weak_pin,
    set_pin_txn,
)

NAME_MAX_CHARS = subscribers.c.name.type.length
CUSTOMER_TIER = 1  # at an agent; staff raise it with more documents


def good_name(name: str) -> bool:
    """Letters (any script), spaces, ' - and .: no digits (a PIN typed in the wrong place) or emoji."""
    allowed = all(c.isalpha() or c in " '-." for c in name)
    return allowed and len(name) <= NAME_MAX_CHARS and any(c.isalpha() for c in name)


def _id_registered(ctx: CommandContext, id_number: str) -> bool:
    query = select(subscribers.c.msisdn).where(subscribers.c.id_number == id_number).limit(1)
    return ctx.conn.execute(query).first() is not None


def register(ctx: CommandContext, msisdn: str, id_number: str, name: str) -> Reply:
    store = acting_store(ctx)
    if isinstance(store, Reply):
        return store
    assert ctx.subscriber is not None and ctx.hasher is not None
    if not good_name(name):
        return ctx.reply("reg_name_bad", most=NAME_MAX_CHARS)
    phone = common.display(ctx, msisdn)
    if get_subscriber_txn(ctx.conn, msisdn) is not None:
        return ctx.reply("reg_exists", phone=phone)
    if _id_registered(ctx, id_number):  # one identity per person: KYC, and limits are per person
        return ctx.reply("reg_id_exists")
    customer = create_subscriber_txn(
        ctx.conn, msisdn, pin=None, hasher=ctx.hasher, currency=ctx.config.service.currency,
        now_ns=ctx.now_ns, name=name, role=Role.CUSTOMER,
        language=ctx.config.service.default_language, kyc_tier=CUSTOMER_TIER,
        id_number=id_number, registered_by=ctx.subscriber.msisdn,
    )  # fmt: skip
    expires_at_ns = ctx.now_ns + int(ctx.config.money.first_pin_code_ttl_s * NS_PER_S)
    code = issue_code_txn(
        ctx.conn, ctx.hasher, msisdn, FIRST_PIN, digits=FIRST_PIN_DIGITS,
        expires_at_ns=expires_at_ns, now_ns=ctx.now_ns,
    )  # fmt: skip
    told = notifier(ctx)
    welcome = told.sms(
        msisdn,
        "reg_welcome",
        holds_code=True,
        name=common.short_name(customer),
        code=code,
        until=told.when(expires_at_ns),
    )
    ctx.notifications.extend([welcome, *claim_vouchers_txn(told, customer)])
    return ctx.reply("reg_done", name=common.short_name(customer), phone=phone)


# --- PIN


def _minutes(until_ns: int, now_ns: int) -> int:
    return max(1, math.ceil((until_ns - now_ns) / (60 * NS_PER_S)))


def change_pin(ctx: CommandContext, first: str, new_pin: str) -> Reply:
    """PIN <code-or-old-PIN> <new-PIN>: the first sets the PIN with the registration code; later
    ones change it, the old PIN checked (and failures counted) like any PIN."""
    reply = _change_pin(ctx, first, new_pin)
    # Handed back to the TranProc: the sender's later messages in this batch see the new PIN,
    # failure count and lock.
    ctx.subscriber = get_subscriber_txn(ctx.conn, ctx.sender)
    return reply


def _change_pin(ctx: CommandContext, first: str, new_pin: str) -> Reply:
    # Read afresh: this batch's copy of the sender may be older than a PIN set moments ago.
    subscriber = get_subscriber_txn(ctx.conn, ctx.sender)
    assert subscriber is not None and ctx.hasher is not None
    policy = PinPolicy.from_config(ctx.config.security)
    if ctx.now_ns < subscriber.locked_until_ns:
        return ctx.reply("pin_locked", minutes=_minutes(subscriber.locked_until_ns, ctx.now_ns))
    if is_weak_pin(new_pin):
        return ctx.reply("pin_weak")
    if subscriber.pin_hmac is None:
        return _first_pin(ctx, subscriber, first, new_pin, policy)
    check, subscriber = check_pin_txn(ctx.conn, subscriber, first, ctx.hasher, policy, ctx.now_ns)
    if check.outcome is PinOutcome.WRONG:
        return ctx.reply("pin_wrong", remaining=check.remaining)
    if check.outcome is not PinOutcome.OK:
        return ctx.reply("pin_locked", minutes=_minutes(check.locked_until_ns, ctx.now_ns))
    if new_pin == first:
        return ctx.reply("pin_same")
    set_pin_txn(ctx.conn, subscriber.msisdn, new_pin, ctx.hasher)
    return ctx.reply("pin_changed")


def _first_pin(
    ctx: CommandContext, subscriber: Subscriber, code: str, new_pin: str, policy: PinPolicy
) -> Reply:
    assert ctx.hasher is not None
    row = get_code_txn(ctx.conn, subscriber.msisdn, FIRST_PIN)
    if row is None or row.expires_at_ns <= ctx.now_ns:
        return ctx.reply("pin_no_code")
    if not matches(ctx.hasher, row, code):
        guess = wrong_guess(row.failures, policy, ctx.now_ns)
        set_failures_txn(ctx.conn, row, guess.failures)
        if not guess.locked_until_ns:
            return ctx.reply("pin_code_wrong", remaining=guess.remaining)
        # Locked like a PIN, on the subscriber: staff unlock it the same way.
        _lock_txn(ctx, subscriber, guess.locked_until_ns)
        return ctx.reply("pin_locked", minutes=_minutes(guess.locked_until_ns, ctx.now_ns))
    set_pin_txn(ctx.conn, subscriber.msisdn, new_pin, ctx.hasher)
    delete_code_txn(ctx.conn, subscriber.msisdn, FIRST_PIN)
    return ctx.reply("pin_set")


def _lock_txn(ctx: CommandContext, subscriber: Subscriber, until_ns: int) -> None:
    ctx.conn.execute(
        update(subscribers)
        .where(subscribers.c.msisdn == subscriber.msisdn)
        .values(pin_failures=0, locked_until_ns=until_ns)
    )
