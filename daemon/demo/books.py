"""What the demo reads from the database between steps: whether the daemon has finished with the
last message (every reply and notice delivered, every pending move settled), the balance of every
party as the ledger has it, and the ledger check at the end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.padding import Padding
from rich.table import Table
from sqlalchemy import Connection, func, select

from daemon.audit_chain import audit_verdict_txn
from daemon.chart import SystemAccount, wallet_account_id
from daemon.commands.money import format_amount
from daemon.ledger_cli import check_lines
from daemon.money.moves import MoveKind, MoveState
from daemon.money.reconcile import reconcile_txn
from daemon.money.settle import HOOK
from daemon.outbox import OutboxStatus
from daemon.schema import billers, inbox, moves, outbox
from ledger import check_ledger, get_balance

_UNFINISHED = (OutboxStatus.QUEUED, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED)
# The service's own accounts a chapter of the story may show, by their column's label.
SERVICE_ACCOUNTS = {
    "Fees": SystemAccount.FEE_INCOME,
    "Commission": SystemAccount.AGENT_COMMISSION,  # paid to agents: an expense of the service
    "Vouchers": SystemAccount.VOUCHER_SUSPENSE,
    "Airtime": SystemAccount.AIRTIME_SETTLEMENT,  # owed to the airtime provider
}


def busy_txn(conn: Connection) -> bool:
    """Something the last message set going is still under way: an MO not yet processed, an SMS
    not yet delivered (or failed), a confirmation whose receipt the settler or sweeper has not
    acted on, a move still pending (but a reversal's hold: that waits for staff, not the daemon)."""
    new_mo = select(func.count()).select_from(inbox).where(inbox.c.status == "new")
    sending = select(func.count()).select_from(outbox).where(outbox.c.status.in_(list(_UNFINISHED)))
    unsettled = (
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.on_failure == HOOK, outbox.c.on_failure_done_at_ns.is_(None))
    )
    pending = (
        select(func.count())
        .select_from(moves)
        .where(
            moves.c.state == MoveState.PENDING.value,
            moves.c.kind != MoveKind.REVERSAL_HOLD.value,
        )
    )
    return any(conn.execute(query).scalar() for query in (new_mo, sending, unsettled, pending))


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    account_id: int | None = None
    biller: str = ""  # a biller's settlement account, looked up by its code (None until added)


def party_columns(
    people: Sequence[tuple[str, str]], billers: Sequence[str], service: Sequence[str]
) -> list[Column]:
    """(label, msisdn) of each person, the billers (by code), then the service's accounts."""
    columns = [Column(label, wallet_account_id(msisdn)) for label, msisdn in people]
    columns += [Column(code, biller=code) for code in billers]
    return columns + [Column(label, int(SERVICE_ACCOUNTS[label])) for label in service]


def _account_id_txn(conn: Connection, column: Column) -> int | None:
    if not column.biller:
        return column.account_id
    query = select(billers.c.account_id).where(billers.c.code == column.biller)
    return conn.execute(query).scalar()


def balances_txn(conn: Connection, columns: Sequence[Column]) -> list[int | None]:
    """Each column's available balance; None where the account does not exist (no wallet)."""
    found = []
    for column in columns:
        account_id = _account_id_txn(conn, column)
        found.append(get_balance(conn, account_id) if account_id is not None else None)
    return [balance.available if balance is not None else None for balance in found]


def balance_table(
    columns: Sequence[Column],
    balances: Sequence[int | None],
    before: Sequence[int | None] | None,
    currency: str,
) -> Padding:
    """One row of balances, indented under the messages; those the step changed in bold."""
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), show_edge=False, pad_edge=False)
    table.add_column("", style="dim")
    for column in columns:
        table.add_column(column.label, justify="right")
    cells = []
    for index, amount in enumerate(balances):
        text = "-" if amount is None else format_amount(amount)
        changed = before is not None and before[index] != amount
        cells.append(f"[bold]{text}[/bold]" if changed else text)
    table.add_row(currency, *cells)
    return Padding(table, (0, 0, 0, 4), expand=False)


def ledger_check_txn(conn: Connection, currency: str) -> tuple[list[str], bool]:
    """`smscore ledger check`'s lines for this database, and whether everything holds."""
    return check_lines(check_ledger(conn), reconcile_txn(conn), currency, audit_verdict_txn(conn))
