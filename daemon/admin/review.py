"""`smscore admin review list|release|reject ID` (the fraud review queue) and `smscore admin simswap
MSISDN [--at TIME]` / `simswap import FILE.csv` (SIM changes, which the sim_swap rule reads).

A decision is one transaction with its audit entry and the SMS to the payer
(daemon.security.review); deciding a hold already decided is refused, changing nothing: one line,
exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection

from daemon.admin.env import (
    AdminCliError,
    AdminEnv,
    admin_options,
    now_ns,
    numbering,
    pin_hasher_txn,
)
from daemon.admin.views import console, local_time
from daemon.money.moves import get_move_txn
from daemon.security.fraud_holds import Hold, HoldState, holds_txn
from daemon.security.review import Reviewer, ReviewError, reject_txn, release_txn
from daemon.security.sim_swaps import SimSwapError, Swap, parse_time_ns, read_feed, record_swap_txn

_STATES = {**{state.value: (state,) for state in HoldState}, "all": tuple(HoldState)}


@click.group()
def review() -> None:
    """Money commands a fraud rule held for review: the queue; release or reject one.

    \b
    A held payment (SEND, PAY, TILL, BUY, WITHDRAW) moved nothing yet. Release checks
    it again (funds, limits, the bill, till or request) and makes it (the payer gets the
    usual confirmation); reject ends it, nothing moved, and the payer is told. A hold not
    decided within [fraud] hold_expiry_hours expires by itself (the "expires" column).
    ID is the hold's number in `review list`.
    """


def _rows_txn(conn: Connection, states: tuple[HoldState, ...]) -> list[tuple[Hold, str, str, int]]:
    rows = []
    for hold in holds_txn(conn, states):
        move = get_move_txn(conn, hold.move_id) if hold.move_id is not None else None
        ref = move.ref if move else ""
        payee = (move.payee_msisdn or move.detail or "") if move else ""
        rows.append((hold, ref, payee, move.amount_minor if move else 0))
    return rows


@review.command("list")
@click.option("--state", type=click.Choice(list(_STATES)), default="held", show_default=True)
@admin_options(audited=False)
def list_command(state: str, env: AdminEnv) -> None:
    """The holds in STATE, oldest first."""
    rows = env.run(lambda conn: _rows_txn(conn, _STATES[state]), write=False)
    if not rows:
        click.echo(f"no {state} holds")
        return
    table = Table(box=box.SIMPLE_HEAD, title=f"fraud holds: {state}")
    headings = ("id", "ref", "held", "expires", "payer", "payee", "amount", "rule", "why", "state")
    for heading in headings:
        table.add_column(heading, justify="right" if heading in ("id", "amount") else "left")
    timezone = env.config.money.timezone
    for hold, ref, payee, amount_minor in rows:
        expires = local_time(hold.expires_at_ns(env.config), timezone)
        values = (hold.id, ref, local_time(hold.created_at_ns, timezone), expires, hold.msisdn,
                  payee, env.money(amount_minor), hold.rule, hold.detail, hold.state.value)  # fmt: skip
        table.add_row(*(Text(str(value)) for value in values))  # stored text, never markup
    console().print(table)


def _decide(env: AdminEnv, decide) -> object:
    def work(conn: Connection):
        at_ns = now_ns()
        reviewer = Reviewer(env.config, env.actor, pin_hasher_txn(conn, env.config, at_ns))
        return decide(conn, reviewer, at_ns)

    try:
        return env.run(work)
    except ReviewError as exc:
        raise AdminCliError(str(exc)) from None


@review.command("release")
@click.argument("hold_id", metavar="ID", type=int)
@admin_options()
def release(hold_id: int, env: AdminEnv) -> None:
    """Send the held payment ID now (funds and limits checked again); the payer is told."""
    decided = _decide(env, lambda conn, who, at: release_txn(conn, who, hold_id, at))
    move = decided.move  # type: ignore[attr-defined]
    click.echo(
        f"released hold {hold_id}: {move.ref} {env.money(move.amount_minor)} is {move.state.value}"
    )


@review.command("reject")
@click.argument("hold_id", metavar="ID", type=int)
@click.option("--reason", default="", help="Why, for the audit log.")
@admin_options()
def reject(hold_id: int, reason: str, env: AdminEnv) -> None:
    """Refuse the held payment ID: nothing moves; the payer is told."""
    decided = _decide(env, lambda conn, who, at: reject_txn(conn, who, hold_id, reason.strip(), at))
    move = decided.move  # type: ignore[attr-defined]
    click.echo(f"rejected hold {hold_id}: {move.ref} {env.money(move.amount_minor)}, nothing moved")


# --- SIM swaps


@click.command("simswap")
@click.argument("target", metavar="MSISDN|import")
@click.argument("feed", metavar="[FILE.csv]", required=False, type=click.Path(path_type=Path))
@click.option("--at", "at_text", metavar="TIME", help="When the SIM changed (default now): "
              "ISO 8601 like 2025-12-01T09:30 (in [money] timezone unless it has an offset).")  # fmt: skip
@admin_options()
def simswap(target: str, feed: Path | None, at_text: str | None, env: AdminEnv) -> None:
    """Record a SIM change of MSISDN, or `import FILE.csv` (msisdn,swapped_at) from a carrier.

    For [fraud.sim_swap] cooldown_hours after it, the number can move at most max_minor;
    larger payments wait for review (smscore admin review).
    """
    at_ns = now_ns()
    if target == "import":
        if feed is None or at_text is not None:
            raise AdminCliError("simswap import FILE.csv: give the feed file (and no --at)")
        _import(env, feed, at_ns)
        return
    if feed is not None:
        raise AdminCliError(f"simswap {target}: one number at a time (or: simswap import FILE.csv)")
    msisdn = env.msisdn(target)
    swapped_ns = at_ns
    if at_text is not None:
        try:
            swapped_ns = parse_time_ns(at_text, env.config.money.timezone)
        except ValueError:
            raise AdminCliError(f"--at {at_text!r}: not ISO 8601 (2025-12-01T09:30)") from None
    source = f"staff:{env.actor}"
    new = env.run(
        lambda conn: record_swap_txn(conn, Swap(msisdn, swapped_ns), source, env.actor, at_ns)
    )
    when = local_time(swapped_ns, env.config.money.timezone)
    click.echo(f"{msisdn}: SIM change at {when} " + ("recorded" if new else "was recorded already"))


def _import(env: AdminEnv, feed: Path, at_ns: int) -> None:
    try:
        swaps = read_feed(feed, numbering(env.config), env.config.money.timezone)
    except SimSwapError as exc:
        raise AdminCliError(str(exc)) from None
    source = f"feed:{feed.name}"

    def work(conn: Connection) -> int:
        return sum(record_swap_txn(conn, swap, source, env.actor, at_ns) for swap in swaps)

    new = env.run(work)
    click.echo(
        f"{feed}: {len(swaps)} SIM change(s), {new} new, {len(swaps) - new} already recorded"
    )
