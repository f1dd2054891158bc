"""The staff's decision on a reversal (`smscore admin reversals approve|reject`), each in one
transaction with its audit entry and the SMS to both parties.

- approve: the hold posted to the reversal suspense account and a new posted REVERSAL move from there
  to the payer. An unfunded request is held (posted at once) now if the recipient has the amount by
  then; if not, nothing moves and it stays unfunded.
- reject: the hold voided (the recipient may spend the money again); an unfunded request is closed.
A decided reversal is never decided again: asking is a refusal that changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from daemon.audit import record_txn
from daemon.commands.money import format_money
from daemon.config import Config
from daemon.money.common import MoneyRefused, available_minor, short_name
from daemon.money.moves import (
    LedgerRefusal,
    Move,
    MoveState,
    get_move_txn,
    open_move_txn,
    post_move_txn,
    release_move_txn,
)
from daemon.money.notices import Notifier, local_time
from daemon.money.reversal_records import (
    Principal,
    Reversal,
    ReversalRefused,
    ReversalState,
    decide_txn,
    hold_request,
    principal_txn,
    refund_request,
    reversal_by_ref_txn,
)
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.schema import inbox
from daemon.subscribers import get_subscriber_txn


class NoSuchReversal(ReversalRefused):
    pass


class AlreadyDecided(ReversalRefused):
    pass


class StillUnfunded(ReversalRefused):
    pass


@dataclass(frozen=True, slots=True)
class Decided:
    reversal: Reversal
    original: Move
    amount_minor: int
    refund: Move | None = None  # approved: the move that gave the money back


@dataclass(frozen=True, slots=True)
class Staff:
    """Who decides, and the service's config (currency, time zone, our short code)."""

    config: Config
    actor: str

    @property
    def currency(self) -> str:
        return self.config.service.currency

    def money(self, amount_minor: int) -> str:
        return format_money(amount_minor, self.currency)


def _open_reversal_txn(conn: Connection, staff: Staff, ref: str) -> tuple[Reversal, Move]:
    found = reversal_by_ref_txn(conn, ref)
    if found is None:
        raise NoSuchReversal(f"REF {ref!r}: no reversal was asked for this transaction")
    # The payment, then its reversal: the order REVERSE locks them in (the other way, a REVERSE
    # sent again meanwhile deadlocks with this on PostgreSQL).
    original = get_move_txn(conn, found.move_id, lock=True)
    reversal = reversal_by_ref_txn(conn, ref, lock=True)
    assert reversal is not None  # a reversal row is never deleted
    if not reversal.state.open:
        assert reversal.decided_at_ns is not None
        when = local_time(reversal.decided_at_ns, staff.config.money.timezone)
        raise AlreadyDecided(
            f"the reversal of {original.ref} was already {reversal.state.value} on {when} "
            f"by {reversal.decided_by}; nothing done"
        )
    return reversal, original


def approve_txn(conn: Connection, staff: Staff, ref: str, note: str, now_ns: int) -> Decided:
    reversal, original = _open_reversal_txn(conn, staff, ref)
    principal = principal_txn(conn, original)
    hold = _posted_hold_txn(conn, staff, reversal, original, principal, now_ns)
    amount = staff.money(principal.amount_minor)
    detail = f"reversal of {original.ref}: {amount} back to {original.payer_msisdn}"
    audit_id = record_txn(
        conn,
        staff.actor,
        "reversal.approve",
        _target(original),
        detail + (f"; note: {note}" if note else ""),
        now_ns,
    )
    refund = open_move_txn(
        conn, refund_request(original, principal, audit_id), currency=staff.currency, now_ns=now_ns
    )
    if isinstance(refund, LedgerRefusal):
        raise MoneyRefused(f"reversal of {original.ref}: the refund was refused: {refund.result}")
    decide_txn(
        conn,
        reversal,
        ReversalState.APPROVED,
        actor=staff.actor,
        reason=note,
        now_ns=now_ns,
        hold=hold,
        refund=refund,
    )
    notifier = _notifier(conn, staff, reversal, now_ns)
    queue_sms_txn(conn, _approved_notices(notifier, original, hold, refund), now_ns)
    return Decided(reversal, original, principal.amount_minor, refund)


def _posted_hold_txn(
    conn: Connection,
    staff: Staff,
    reversal: Reversal,
    original: Move,
    principal: Principal,
    now_ns: int,
) -> Move:
    """The hold, posted: the pending one, or (an unfunded request) one made and posted now."""
    if reversal.hold_move_id is not None:
        pending = get_move_txn(conn, reversal.hold_move_id, lock=True)
        return post_move_txn(conn, pending, staff.currency, now_ns)
    hold = open_move_txn(
        conn, hold_request(original, principal, None), currency=staff.currency, now_ns=now_ns
    )
    if isinstance(hold, LedgerRefusal):
        if not hold.insufficient_funds:
            raise MoneyRefused(f"reversal hold of {original.ref}: {hold.result.value}")
        recipient = original.payee_msisdn or original.detail or "the recipient"
        has_minor = available_minor(conn, principal.recipient_account_id)
        raise StillUnfunded(
            f"the reversal of {original.ref} still cannot be held: {recipient} has "
            f"{staff.money(has_minor)} of {staff.money(principal.amount_minor)}; "
            "nothing moved, it stays unfunded"
        )
    return hold


def reject_txn(conn: Connection, staff: Staff, ref: str, reason: str, now_ns: int) -> Decided:
    reversal, original = _open_reversal_txn(conn, staff, ref)
    hold = None
    if reversal.hold_move_id is not None:
        pending = get_move_txn(conn, reversal.hold_move_id, lock=True)
        hold = release_move_txn(conn, pending, MoveState.DECLINED, staff.currency, now_ns)
    amount_minor = (
        hold.amount_minor if hold is not None else principal_txn(conn, original).amount_minor
    )
    amount = staff.money(amount_minor)
    detail = f"reversal of {original.ref} ({amount}) rejected: {reason}"
    record_txn(conn, staff.actor, "reversal.reject", _target(original), detail, now_ns)
    decide_txn(
        conn, reversal, ReversalState.REJECTED, actor=staff.actor, reason=reason, now_ns=now_ns
    )
    notifier = _notifier(conn, staff, reversal, now_ns)
    queue_sms_txn(conn, _rejected_notices(notifier, original, hold, amount_minor), now_ns)
    return Decided(reversal, original, amount_minor)


def _target(original: Move) -> str:
    return original.payer_msisdn or original.ref  # the audit log lists a subscriber's entries


def _notifier(conn: Connection, staff: Staff, reversal: Reversal, now_ns: int) -> Notifier:
    """SMS from the number the payer wrote REVERSE to; not tied to that message (inbox_id None):
    a re-delivery of it must get its own first reply back, not the staff's decision."""
    short_code = None
    if reversal.inbox_id is not None:
        query = select(inbox.c.destination_addr).where(inbox.c.id == reversal.inbox_id)
        short_code = conn.execute(query).scalar()
    return Notifier(conn, staff.config, short_code or staff.config.sender.source_addr, now_ns)


def _recipient(notifier: Notifier, original: Move) -> str | None:
    """The recipient's number if they have a phone with us (a biller's account has not)."""
    found = original.payee_msisdn
    if found is None or get_subscriber_txn(notifier.conn, found) is None:
        return None
    return found


def _approved_notices(
    notifier: Notifier, original: Move, hold: Move, refund: Move
) -> list[OutgoingSms]:
    assert original.payer_msisdn is not None
    refund_account = notifier.balance(principal_txn(notifier.conn, original).payer_account_id)
    notices = [
        notifier.about(
            original.payer_msisdn,
            "reversal_approved_payer",
            refund,
            sent_ref=original.ref,
            balance=refund_account,
        )
    ]
    recipient = _recipient(notifier, original)
    if recipient is not None:
        payer = get_subscriber_txn(notifier.conn, original.payer_msisdn)
        notices.append(
            notifier.about(
                recipient,
                "reversal_approved_recipient",
                hold,
                sent_ref=original.ref,
                name=short_name(payer),
                phone=notifier.display(original.payer_msisdn),
                balance=notifier.balance(hold_account(notifier, original)),
            )
        )
    return notices


def hold_account(notifier: Notifier, original: Move) -> int:
    return principal_txn(notifier.conn, original).recipient_account_id


def _rejected_notices(
    notifier: Notifier, original: Move, hold: Move | None, amount_minor: int
) -> list[OutgoingSms]:
    assert original.payer_msisdn is not None
    amount = notifier.money(amount_minor)
    notices = [
        notifier.sms(
            original.payer_msisdn, "reversal_rejected_payer", sent_ref=original.ref, amount=amount
        )
    ]
    recipient = _recipient(notifier, original)
    if recipient is not None and hold is not None:
        balance = notifier.balance(hold_account(notifier, original))
        notices.append(
            notifier.about(
                recipient,
                "reversal_released_recipient",
                hold,
                sent_ref=original.ref,
                balance=balance,
            )
        )
    elif recipient is not None:
        notices.append(
            notifier.sms(
                recipient, "reversal_closed_recipient", sent_ref=original.ref, amount=amount
            )
        )
    return notices
