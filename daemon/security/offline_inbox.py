"""The server's side of offline transfers (the format: daemon.security.offline).

A Kind.OFFLINE app message reaches the registry as `OFFLINE <base64 of the signed transfer>`
(daemon.security.app_inbox), so it runs in the TranProc's savepoint with the sender's subscriber
locked, like any command. The handler checks, in order: it came through the app channel (a plain
SMS cannot carry one), the signing device is the sender's and the signature verifies, the counter
was not posted before (the same content: the first answer again; other content: a forgery), the
device is still active, the validity window; then posts it ONCE as a SEND (daemon.money.send:
the same limits, fee and notices; no double-send guard and no YES code, the signature is the
consent). The offline_transfers row is inserted in the same transaction, before the posting and in
its own savepoint: of two deliveries racing, the loser's insert fails on (device_id, counter), its
savepoint rolls back and it answers with the winner's result.

A transfer arriving while the payer's PIN is locked (wrong PINs guessed to a lockout) is refused,
not posted and not held: the lockout says someone is attacking the account right now, and the
device that signed may be in the attacker's hands (the app unlocks its key with the same PIN), so
the payer's consent is in doubt exactly while the lock lasts. The lock answers as it answers an
online SEND ("PIN locked"), whether or not the fraud rules are on, and without waiting for staff: a
hold would leave a payee who was shown an offline payment waiting an unknown time, where a refusal
tells the payer at once to pay again once the lock is over. The refusal is recorded (state
refused, reason pin_locked) like any other, so a re-delivery, even after the lock, gets the same
answer: a signed transfer must not post at a later, unpredictable time. After the lock the
pin_failures fraud rule still counts the lockout (daemon.security.fraud_rules) and may hold the
next transfer for review.

No PIN: the device's Ed25519 signature is the payer's consent. A PIN-derived tag in the transfer
would sit in the device's queue beside the transfer it authenticates, so anyone holding the file
could search the 10^4 PINs offline against it: it would leak the PIN, not protect it. The app
should instead unlock its signing key locally (PIN or biometrics) before it signs.

Every answer ends with `#O1:<counter>:<outcome>` (OUTCOME_TOKEN), the part the device reads.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.commands.msisdn import MsisdnError, normalize_msisdn
from daemon.commands.registry import REGISTERED, Arg, Args, Registry
from daemon.commands.types import ArgType, ParseEnv
from daemon.money import send
from daemon.money.moves import Move, MoveState
from daemon.money.notices import numbering
from daemon.schema import inbox, offline_transfers
from daemon.security.app_inbox import frame_of
from daemon.security.devices import DeviceState, get_device_txn
from daemon.security.fraud_holds import screen_move
from daemon.security.offline import (
    KEYWORD,
    ForgedSignature,
    OfflineFormatError,
    OfflineTransfer,
    SignedTransfer,
    decode,
)

OUTCOME_TOKEN = "#O1"  # in every answer: #O1:<counter>:<outcome>
CLOCK_SKEW_NS = 300 * NS_PER_S  # a device clock this far ahead still signs a usable transfer
PIN_LOCKED = "pin_locked"  # offline_transfers.reason of one refused during a PIN lockout


class Outcome(StrEnum):
    POSTED = "posted"  # accepted: posted, or pending until the confirmation is delivered
    REFUSED = "refused"  # as SEND refuses (funds, limits, recipient): final, answered again
    FORGED = "forged"  # the signature does not verify, or the transfer is damaged
    EXPIRED = "expired"  # outside its validity window
    REVOKED = "revoked"  # the signing device is revoked
    REUSED = "reused"  # its counter was posted before with other content
    APP_ONLY = "app_only"  # not delivered through the app channel


class SignedTransferType(ArgType):
    """The base64 of a signed transfer, taken as it is (decoded by the handler, so a damaged one
    is answered like a forgery, with its outcome token)."""

    label = "arg_offline_transfer"
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[object, int]:
        return words[pos], pos + 1


def register_offline_commands(registry: Registry) -> Registry:
    @registry.command(
        KEYWORD,
        args=[Arg("transfer", SignedTransferType())],
        roles=REGISTERED,
        example="OFFLINE <transfer>",
        side_effects=True,
        listed=False,
    )
    def offline(ctx: CommandContext, args: Args) -> Reply:
        return accept_offline_txn(ctx, args.transfer)

    return registry


def accept_offline_txn(ctx: CommandContext, text: str) -> Reply:
    if not _came_through_app(ctx):
        return _answer(ctx, "offline_app_only", 0, Outcome.APP_ONLY)
    try:
        signed = decode(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, OfflineFormatError):
        return _answer(ctx, "offline_forged", 0, Outcome.FORGED)
    transfer = signed.transfer
    device = get_device_txn(ctx.conn, transfer.device_id)
    try:
        if device is None or device.msisdn != ctx.sender:
            raise ForgedSignature("not a device of the sender")
        signed.verify(device.signing_public_key or b"")
    except ForgedSignature:
        return _answer(ctx, "offline_forged", transfer.counter, Outcome.FORGED)
    earlier = _earlier_txn(ctx.conn, transfer)
    if earlier is not None:
        return _again(ctx, signed, earlier)
    if device.state != DeviceState.ACTIVE:
        return _answer(ctx, "offline_revoked", transfer.counter, Outcome.REVOKED)
    if not _in_window(ctx, transfer):
        return _answer(ctx, "offline_expired", transfer.counter, Outcome.EXPIRED)
    return _claim_and_post_txn(ctx, signed)


def _came_through_app(ctx: CommandContext) -> bool:
    row = ctx.conn.execute(
        select(inbox.c.text, inbox.c.data_coding).where(inbox.c.id == ctx.inbox_id)
    ).one_or_none()
    try:
        return row is not None and frame_of(row) is not None
    except ValueError:
        return False


def _in_window(ctx: CommandContext, transfer: OfflineTransfer) -> bool:
    """The device asks for its window; the server caps it at [app] offline_max_validity_s."""
    max_ns = int(ctx.config.app.offline_max_validity_s * NS_PER_S)
    valid_ns = min(transfer.valid_for_s * NS_PER_S, max_ns)
    signed_at = transfer.signed_at_ns
    return signed_at - CLOCK_SKEW_NS <= ctx.now_ns <= signed_at + valid_ns


def _token(counter: int, outcome: Outcome) -> str:
    return f"{OUTCOME_TOKEN}:{counter}:{outcome.value}"


def _answer(
    ctx: CommandContext, key: str, counter: int, outcome: Outcome, **fields: object
) -> Reply:
    return ctx.reply(key, token=_token(counter, outcome), **fields)


def _earlier_txn(conn: Connection, transfer: OfflineTransfer):
    query = select(offline_transfers).where(
        offline_transfers.c.device_id == transfer.device_id,
        offline_transfers.c.counter == transfer.counter,
    )
    return conn.execute(query).one_or_none()


def _again(ctx: CommandContext, signed: SignedTransfer, earlier) -> Reply:
    counter = signed.transfer.counter
    if earlier.digest != signed.digest:
        return _answer(ctx, "offline_reused", counter, Outcome.REUSED)
    outcome = Outcome.POSTED if earlier.state == Outcome.POSTED else Outcome.REFUSED
    return _answer(ctx, "offline_repeat", counter, outcome, reply=earlier.reply)


def _claim_and_post_txn(ctx: CommandContext, signed: SignedTransfer) -> Reply:
    """Claim the counter (a unique row), then post; a claim lost to a racing delivery answers
    with that delivery's result."""
    transfer = signed.transfer
    try:
        with ctx.conn.begin_nested():
            claim = ctx.conn.execute(
                insert(offline_transfers).values(
                    device_id=transfer.device_id,
                    counter=transfer.counter,
                    state="claimed",
                    reason="",
                    digest=signed.digest,
                    reply="",
                    signed_at_ns=transfer.signed_at_ns,
                    received_at_ns=ctx.now_ns,
                )
            ).inserted_primary_key[0]
    except IntegrityError:
        winner = _earlier_txn(ctx.conn, transfer)
        assert winner is not None  # the unique constraint failed on it
        return _again(ctx, signed, winner)
    if _pin_locked(ctx):
        reply, move, reason = ctx.reply("offline_pin_locked"), None, PIN_LOCKED
    else:
        reply, move = _post_txn(ctx, transfer)
        reason = "" if move is not None else "refused"
    state = Outcome.POSTED if move is not None else Outcome.REFUSED
    ctx.conn.execute(
        update(offline_transfers)
        .where(offline_transfers.c.id == claim)
        .values(
            state=state.value,
            move_id=move.id if move is not None else None,
            reason=reason,
            reply=reply.text,
        )
    )
    text = ctx.text("offline_result", reply=reply.text, token=_token(transfer.counter, state))
    return Reply(
        text, reply.on_failure, reply.on_failure_ref, reply.deliver_by_ns, receipt=reply.receipt
    )


def _pin_locked(ctx: CommandContext) -> bool:
    payer = ctx.subscriber
    return payer is not None and ctx.now_ns < payer.locked_until_ns


def _post_txn(ctx: CommandContext, transfer: OfflineTransfer) -> tuple[Reply, Move | None]:
    """The SEND of the transfer (its reply and move), or the reply refusing it."""
    if transfer.currency != ctx.config.service.currency:
        return ctx.reply("offline_currency", currency=transfer.currency), None
    try:
        payee = normalize_msisdn("+" + transfer.payee_msisdn, numbering(ctx.config.service.region))
    except MsisdnError:
        payee = ""
    if payee != transfer.payee_msisdn:
        return ctx.reply("offline_bad_payee"), None
    priced = send.quote(ctx, payee, transfer.amount_minor)
    if isinstance(priced, Reply):
        return priced, None
    # Screened like an online SEND (SIM swap, velocity...): a hit holds it for staff, once.
    if (screened := screen_move(ctx, priced.request(ctx.inbox_id))) is not None:
        return screened, None
    move = send.open_send_txn(ctx, priced)
    if not isinstance(move, Move):
        return move, None
    return send.committed(ctx, move, move.state is MoveState.PENDING), move
