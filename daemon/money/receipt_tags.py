"""The tag on a money confirmation: `Sig K3-7QX3M2A` after the text of every SMS that says money
moved (the sender's confirmation, the other party's notice), signed over the move's reference,
amount, parties and the minute the SMS shows (daemon.security.receipts).

A move's parties are its payer and payee MSISDNs; a payee that is not a wallet (a bill, airtime) is
the move's detail ("KPLC 12345678"). A sender's confirmation is tagged when its move is posted or
pending on that confirmation's delivery; a notice to anyone else only when its move is posted (a
notice that nothing happened, or that money is held, carries none).
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.config import Config
from daemon.money.moves import Move, MoveState
from daemon.security.receipts import ReceiptFields
from daemon.security.signing import receipt_tag

TAG_KEY = "receipt_tag"  # "Sig {tag}" in the catalogue (receipts.po)
# The replies that carry a tag (each must fit 160 characters with it: tests/daemon/
# test_receipt_replies.py measures these; test_receipt_tags.py checks the flows tag no other).
TAGGED_KEYS = frozenset(
    {
        # the sender's confirmation (daemon.money.common.confirmation)
        "sent", "sent_voucher", "deposit_done", "withdraw_done", "collect_done", "bill_paid",
        "bill_paid_part", "till_paid",
        # notices of a posted move (Notifier.about)
        "received", "voucher_received", "deposit_received", "withdraw_give_cash",
        "voucher_collected", "till_received", "till_received_request", "airtime_bought",
        "airtime_received", "airtime_charged", "reversal_approved_payer",
        "reversal_approved_recipient",
    }
)  # fmt: skip
CONFIRMED = frozenset({MoveState.POSTED, MoveState.PENDING})  # the sender's confirmation
POSTED = frozenset({MoveState.POSTED})  # a notice


def move_fields(move: Move, currency: str, at_ns: int) -> ReceiptFields:
    payee = move.payee_msisdn or move.detail or ""
    return ReceiptFields.at(
        move.ref, move.amount_minor, currency, move.payer_msisdn or "", payee, at_ns
    )


def tagged(
    text: str,
    render: Callable[..., str],
    config: Config,
    move: Move,
    at_ns: int,
    states: frozenset[MoveState] = POSTED,
) -> tuple[str, ReceiptFields | None]:
    """`text` and the move's tag (rendered by `render(TAG_KEY, tag=...)`), with the fields the tag
    signs (which an encrypted reply signs too: daemon.security.app_receipt); `text` alone and None
    when the move is not in `states` or nothing signs in this process."""
    if move.state not in states:
        return text, None
    fields = move_fields(move, config.service.currency, at_ns)
    tag = receipt_tag(config, fields)
    if tag is None:
        return text, None
    return f"{text} {render(TAG_KEY, tag=tag)}", fields


def with_tag(
    text: str,
    render: Callable[..., str],
    config: Config,
    move: Move,
    at_ns: int,
    states: frozenset[MoveState] = POSTED,
) -> str:
    """`tagged`'s text alone."""
    return tagged(text, render, config, move, at_ns, states)[0]
