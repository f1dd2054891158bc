"""How staff commands print: rich tables, times in the service's time zone. Stored text (names,
details) is printed as text, never read as rich markup."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from daemon.admin.accounts import PinState, Profile
from daemon.audit import AuditEntry
from daemon.clock import NS_PER_S
from daemon.commands.money import format_money
from daemon.commands.registry import Role
from daemon.money.moves import Move, MoveKind

_PIPE_COLUMNS = 200  # output to a file or a pipe (a script's) is not wrapped at 80 columns
# Narrower, rich would cut refs and numbers short; a terminal wrapping long lines loses nothing.
_MIN_TERMINAL_COLUMNS = 120
_WRAPPED = ("detail", "name", "value")  # free text wraps; numbers, refs and times stay whole


def console() -> Console:
    """A console on the current stdout (click's, under its test runner)."""
    if not sys.stdout.isatty():
        return Console(file=sys.stdout, highlight=False, width=_PIPE_COLUMNS)
    terminal = Console(file=sys.stdout, highlight=False)
    if terminal.width < _MIN_TERMINAL_COLUMNS:
        terminal = Console(file=sys.stdout, highlight=False, width=_MIN_TERMINAL_COLUMNS)
    return terminal


def _add_columns(table: Table, headings: Iterable[str], right: Iterable[str] = ()) -> None:
    right = set(right)
    for heading in headings:
        justify = "right" if heading in right else "left"
        table.add_column(heading, justify=justify, no_wrap=heading not in _WRAPPED)


def local_time(at_ns: int, timezone: str) -> str:
    moment = datetime.fromtimestamp(at_ns // NS_PER_S, ZoneInfo(timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _cells(*values: object) -> list[Text]:
    return [Text("" if value is None else str(value)) for value in values]


def profile_table(
    profile: Profile,
    currency: str,
    timezone: str,
    now_ns: int,
    extra: Iterable[tuple[str, str]] = (),
) -> Table:
    found = profile.subscriber
    table = Table(box=box.SIMPLE, show_header=False, title=f"subscriber {found.msisdn}")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    pin = profile.pin_state(now_ns)
    if pin is PinState.LOCKED:
        pin_text = f"locked until {local_time(found.locked_until_ns, timezone)}"
    elif pin is PinState.OK and found.pin_failures:
        pin_text = f"ok ({found.pin_failures} wrong since the last good one)"
    else:
        pin_text = pin.value
    balance = profile.balance_minor
    rows = [
        ("name", found.name),
        ("role", found.role.value),
        ("KYC tier", found.kyc_tier),
        ("state", found.state),
        ("PIN", pin_text),
        ("balance", "-" if balance is None else format_money(balance, currency)),
        ("language", found.language),
        ("id number", profile.masked_id_number or "-"),
        ("registered", local_time(found.created_at_ns, timezone)),
        ("registered by", found.registered_by or "-"),
    ]
    if found.role is Role.AGENT:
        rows.append(("agent number", found.agent_number or "-"))
    if found.role is Role.ASSISTANT:
        rows.append(("store", found.store_msisdn or "-"))
    for name, value in [*rows, *extra]:
        table.add_row(*_cells(name, value))
    return table


# The system account on the side of a move that has no subscriber, by kind.
_SYSTEM_PARTY = {
    MoveKind.REVERSAL: "reversal suspense",
    MoveKind.REVERSAL_HOLD: "reversal suspense",
    MoveKind.VOUCHER: "voucher",
    MoveKind.VOUCHER_CLAIM: "voucher",
    MoveKind.VOUCHER_RETURN: "voucher",
    MoveKind.COLLECT: "voucher",
    MoveKind.AIRTIME: "airtime",
}


def _system_party(move: Move) -> str:
    return _SYSTEM_PARTY.get(move.kind, "trust")


def moves_table(moves: Iterable[Move], currency: str, timezone: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="last moves")
    headings = ("time", "ref", "kind", "state", "from", "to", "amount", "fee")
    _add_columns(table, headings, right=("amount", "fee"))
    for move in moves:
        table.add_row(
            *_cells(
                local_time(move.created_at_ns, timezone),
                move.ref,
                move.kind.value,
                move.state.value,
                move.payer_msisdn or _system_party(move),
                move.payee_msisdn or move.detail or _system_party(move),
                format_money(move.amount_minor, currency),
                format_money(move.fee_minor, currency) if move.fee_minor else "",
            )
        )
    return table


def audit_table(entries: Iterable[AuditEntry], timezone: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="audit log, newest first")
    headings = ("id", "time", "actor", "action", "target", "detail", "move")
    _add_columns(table, headings, right=("id",))
    for entry in entries:
        table.add_row(
            *_cells(
                entry.id,
                local_time(entry.at_ns, timezone),
                entry.actor,
                entry.action,
                entry.target,
                entry.detail,
                entry.move_ref,
            )
        )
    return table
