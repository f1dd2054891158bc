"""`smscore admin audit`: the audit log, newest first (also `audit list`), and `audit verify`, which
walks its hash chain and prints OK or the first broken entry (exit 1)."""

from __future__ import annotations

import click
from sqlalchemy import Connection

from daemon.admin.env import CONFIG_OPTION, DB_OPTION, AdminEnv, admin_options
from daemon.admin.views import audit_table, console
from daemon.audit import AuditError, list_txn
from daemon.audit_chain import AuditVerdict, audit_verdict_txn
from daemon.run_cli import state_dir_option

TARGET_OPTION = click.option(
    "--target", metavar="MSISDN", help="Only what was done to this number."
)
LIMIT_OPTION = click.option(
    "--limit", type=click.IntRange(1, 10_000), default=50, show_default=True
)


@click.group("audit", invoke_without_command=True)
@TARGET_OPTION
@LIMIT_OPTION
@CONFIG_OPTION
@DB_OPTION
@state_dir_option
@click.pass_context
def audit(ctx: click.Context, **options: object) -> None:
    """The audit log, newest first: who did what to whom, when (`audit verify`: its hash chain)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(audit_list, **options)


@audit.command("list")
@TARGET_OPTION
@LIMIT_OPTION
@admin_options(audited=False)
def audit_list(target: str | None, limit: int, env: AdminEnv) -> None:
    """The audit log, newest first (the default of `admin audit`)."""
    number = env.msisdn(target) if target is not None else None
    entries = env.run(lambda conn: list_txn(conn, number, limit), write=False)
    console().print(audit_table(entries, env.config.money.timezone))


@audit.command("verify")
@admin_options(audited=False)
def verify(env: AdminEnv) -> None:
    """Check the audit log's hash chain: OK, or the first entry edited, deleted or moved (exit 1)."""

    def work(conn: Connection) -> AuditVerdict:
        verdict = audit_verdict_txn(conn)
        if verdict is None:
            raise AuditError("the audit log is not chained yet: run `smscore db upgrade`")
        return verdict

    verdict = env.run(work, write=False)
    click.echo(verdict.describe())
    if not verdict.ok:
        raise SystemExit(1)
