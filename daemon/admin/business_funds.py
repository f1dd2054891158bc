"""`smscore admin business deposit CODE AMOUNT`: e-money issued into a business's wallet for what it
paid into the trust account's bank (how a payroll business funds its disbursements). One ISSUE move
from the trust account, with its audit entry naming the bank reference, in one transaction."""

from __future__ import annotations

import click
from sqlalchemy import Connection

from daemon.admin.env import (
    AdminCliError,
    AdminEnv,
    admin_options,
    now_ns,
    one_line_refusals,
    parse_amount,
)
from daemon.api.businesses import BusinessError, normal_code, require_business_txn
from daemon.audit import record_txn
from daemon.chart import wallet_account_id
from daemon.money.issue import Issue, IssueRefused, issue_txn
from daemon.money.moves import MoveKind
from ledger import get_balance

REFERENCE_MAX_CHARS = 64


@click.command("deposit")
@click.argument("code")
@click.argument("amount")
@click.option(
    "--reference", default="", help="The bank deposit's reference (kept in the audit log)."
)
@admin_options()
def business_deposit(code: str, amount: str, reference: str, env: AdminEnv) -> None:
    """Issue AMOUNT of e-money into business CODE's wallet (what it paid into the trust account)."""
    amount_minor = parse_amount(amount, "AMOUNT")
    if len(reference) > REFERENCE_MAX_CHARS or not reference.isprintable():
        raise AdminCliError(f"--reference: at most {REFERENCE_MAX_CHARS} printable characters")

    def work(conn: Connection) -> tuple[str, str, int]:
        business = require_business_txn(conn, normal_code(code))
        at_ns = now_ns()
        bank = f", bank reference {reference}" if reference else ""
        detail = f"e-money {env.money(amount_minor)} paid into the trust account{bank}"
        target = f"business:{business.code}"
        audit_id = record_txn(conn, env.actor, "business.deposit", target, detail, at_ns)
        account_id = wallet_account_id(business.msisdn)
        issue = Issue(MoveKind.ISSUE, business.msisdn, account_id, amount_minor, audit_id)
        move = issue_txn(conn, issue, env.currency, at_ns)
        balance = get_balance(conn, account_id)
        return business.code, move.ref, balance.available if balance is not None else 0

    business_code, ref, balance_minor = env.run(
        one_line_refusals(work, (BusinessError, IssueRefused))
    )
    click.echo(
        f"issued {env.money(amount_minor)} into {business_code}'s wallet, ref {ref}; "
        f"balance now {env.money(balance_minor)}"
    )
