"""`smscore admin reversals list|approve|reject`: the staff's queue of payments asked back by SMS
(REVERSE) and their decision. Each decision is one transaction with its audit entry and the SMS to
both parties (daemon.money.reversal_decisions); deciding one already decided is refused, changing
nothing (one line, exit code 2)."""

from __future__ import annotations

from dataclasses import dataclass

import click
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection

from daemon.admin.env import AdminCliError, AdminEnv, admin_options, now_ns
from daemon.admin.views import console, local_time
from daemon.clock import NS_PER_S
from daemon.money.common import MoneyRefused
from daemon.money.moves import get_move_txn
from daemon.money.reversal_decisions import Decided, Staff, approve_txn, reject_txn
from daemon.money.reversal_records import (
    OPEN_STATES,
    Reversal,
    ReversalRefused,
    ReversalState,
    principal_txn,
    reversals_txn,
)

_STATE_CHOICES = {
    "open": OPEN_STATES,
    **{state.value: (state,) for state in ReversalState},
    "all": tuple(ReversalState),
}


@dataclass(frozen=True, slots=True)
class QueueRow:
    reversal: Reversal
    ref: str  # the payment asked back
    payer: str
    recipient: str
    amount_minor: int


@click.group()
def reversals() -> None:
    """Payments asked back by SMS (REVERSE): the queue; approve or reject one.

    \b
    A request is `held` (the amount is held from the recipient until you decide) or `unfunded`
    (the recipient had spent it: a dispute; approving it holds and gives the amount back if the
    recipient has it by then). REF is the reference of the payment asked back (or of its hold).
    """


def _queue_txn(conn: Connection, states: tuple[ReversalState, ...]) -> list[QueueRow]:
    rows = []
    for found in reversals_txn(conn, states):
        original = get_move_txn(conn, found.move_id)
        if found.hold_move_id is not None:
            amount_minor = get_move_txn(conn, found.hold_move_id).amount_minor
        else:
            amount_minor = principal_txn(conn, original).amount_minor
        recipient = original.payee_msisdn or original.detail or ""
        payer = original.payer_msisdn or ""
        rows.append(QueueRow(found, original.ref, payer, recipient, amount_minor))
    return rows


def age(since_ns: int, now_ns: int) -> str:
    """`2d 3h`, `5h 12m`, `4m`: how long a request has waited."""
    minutes = max(0, now_ns - since_ns) // (60 * NS_PER_S)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def queue_table(rows: list[QueueRow], env: AdminEnv, title: str, at_ns: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title)
    for heading in ("id", "ref", "asked", "payer", "recipient", "amount", "state", "age"):
        justify = "right" if heading in ("id", "amount", "age") else "left"
        table.add_column(heading, justify=justify, no_wrap=heading != "recipient")
    timezone = env.config.money.timezone
    for row in rows:
        found = row.reversal
        waited = age(found.created_at_ns, found.decided_at_ns or at_ns)
        values = (found.id, row.ref, local_time(found.created_at_ns, timezone), row.payer,
                  row.recipient, env.money(row.amount_minor), found.state.value, waited)  # fmt: skip
        table.add_row(*(Text(str(value)) for value in values))  # stored text, never markup
    return table


@reversals.command("list")
@click.option(
    "--state",
    type=click.Choice(list(_STATE_CHOICES)),
    default="open",
    show_default=True,
    help="open: held and unfunded, waiting for a decision.",
)
@admin_options(audited=False)
def list_command(state: str, env: AdminEnv) -> None:
    """The reversals in STATE, oldest first."""
    rows = env.run(lambda conn: _queue_txn(conn, _STATE_CHOICES[state]), write=False)
    if not rows:
        click.echo(f"no {state} reversals")
        return
    console().print(queue_table(rows, env, f"reversals: {state}", now_ns()))


def _decide(env: AdminEnv, decide, ref: str, text: str) -> Decided:
    staff = Staff(env.config, env.actor)
    try:
        return env.run(lambda conn: decide(conn, staff, ref.strip().upper(), text, now_ns()))
    except (ReversalRefused, MoneyRefused) as exc:
        raise AdminCliError(str(exc)) from None


@reversals.command("approve")
@click.argument("ref")
@click.option("--note", default="", help="Why, for the audit log and the queue.")
@admin_options()
def approve(ref: str, note: str, env: AdminEnv) -> None:
    """Give the amount of REF back to its payer (a new transfer); both parties get an SMS."""
    decided = _decide(env, approve_txn, ref, note)
    assert decided.refund is not None
    click.echo(
        f"approved: {env.money(decided.amount_minor)} of {decided.original.ref} back to "
        f"{decided.original.payer_msisdn}, ref {decided.refund.ref}; both parties told by SMS"
    )


@reversals.command("reject")
@click.argument("ref")
@click.option("--reason", required=True, help="Why, for the audit log and the queue.")
@admin_options()
def reject(ref: str, reason: str, env: AdminEnv) -> None:
    """Refuse the reversal of REF: the hold is released to the recipient; both get an SMS."""
    if not reason.strip():
        raise AdminCliError("--reason: say why the reversal is refused")
    decided = _decide(env, reject_txn, ref, reason.strip())
    click.echo(
        f"rejected: the reversal of {decided.original.ref} "
        f"({env.money(decided.amount_minor)}); both parties told by SMS"
    )
