"""`smscore admin business …`: businesses that call the business API, and their keys.

`add` registers the business with its merchant subscriber and wallet; `key-add` prints a new key
ONCE (only its digest is kept); `key-revoke`, `suspend`, `reinstate`, `allow-ip` and `rate` change
how it may call. Each change is one transaction with its audit entry; a refusal is one line and
exit code 2, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection

from daemon.admin.business_funds import business_deposit
from daemon.admin.callbacks_cli import secret
from daemon.admin.env import (
    AdminCliError,
    AdminEnv,
    admin_options,
    now_ns,
    one_line_refusals,
    pin_hasher_txn,
)
from daemon.admin.views import console, local_time
from daemon.api.businesses import (
    ApiKey,
    BusinessError,
    BusinessRecord,
    add_key_txn,
    create_business_txn,
    keys_of_txn,
    list_businesses_txn,
    normal_code,
    require_business_txn,
    revoke_key_txn,
    set_allowed_ips_txn,
    set_rate_limit_txn,
    set_state_txn,
)
from daemon.api.principal import BusinessState, KeyScope
from daemon.chart import wallet_account_id
from ledger import get_balance

T = TypeVar("T")


def _run(env: AdminEnv, work: Callable[[Connection], T], write: bool = True) -> T:
    return env.run(one_line_refusals(work, (BusinessError,)), write)


def _code(written: str) -> str:
    try:
        return normal_code(written)
    except BusinessError as exc:
        raise AdminCliError(str(exc)) from None


def _rate(business: BusinessRecord, env: AdminEnv) -> str:
    if business.rate_limit_per_s is None:
        api = env.config.api
        return f"{api.rate_limit_per_s:g}/s, burst {api.rate_limit_burst} (the default)"
    return f"{business.rate_limit_per_s:g}/s, burst {business.rate_limit_burst}"


def _balance_txn(conn: Connection, business: BusinessRecord) -> int:
    found = get_balance(conn, wallet_account_id(business.msisdn))
    return found.available if found is not None else 0


@click.group()
def business() -> None:
    """Businesses calling the business API (GSMA Mobile Money API): their keys, limits, addresses."""


@business.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The business's name, up to 64 characters.")
@click.option("--msisdn", required=True, help="Its merchant number: its account (a wallet).")
@click.option("--rate", type=float, help="Requests per second (default: [api] rate_limit_per_s).")
@click.option("--burst", type=int, help="Requests at once above the rate (with --rate).")
@click.option("--allow-ip", "allow_ips", multiple=True, metavar="CIDR",
              help="An address or network it may call from (repeat; none: any).")  # fmt: skip
@admin_options()
def business_add(code: str, name: str, msisdn: str, rate: float | None, burst: int | None,
                 allow_ips: tuple[str, ...], env: AdminEnv) -> None:  # fmt: skip
    """Register business CODE (ACME) with its merchant account; then give it a key (key-add)."""
    code = _code(code)
    number = env.msisdn(msisdn)

    def work(conn: Connection):
        at_ns = now_ns()
        return create_business_txn(
            conn, code=code, name=name, msisdn=number, currency=env.currency, now_ns=at_ns,
            hasher=pin_hasher_txn(conn, env.config, at_ns), actor=env.actor,
            rate_limit_per_s=rate, rate_limit_burst=burst, allowed_ips=allow_ips,
        )  # fmt: skip

    added = _run(env, work)
    click.echo(f"business {added.code} ({added.name}): account {added.msisdn}; no key yet")


@business.command("list")
@admin_options(audited=False)
def business_list(env: AdminEnv) -> None:
    """Every business with its state, account, balance and active keys."""

    def work(conn: Connection):
        return [
            (b, _balance_txn(conn, b), sum(k.state == "active" for k in keys_of_txn(conn, b.id)))
            for b in list_businesses_txn(conn)
        ]

    found = _run(env, work, write=False)
    if not found:
        click.echo("no businesses yet")
        return
    table = Table(box=box.SIMPLE_HEAD, title="businesses")
    for heading in ("code", "name", "account", "state", "balance", "keys", "rate"):
        table.add_column(heading, justify="right" if heading in ("balance", "keys") else "left")
    for item, balance_minor, keys in found:
        cells = (item.code, item.name, item.msisdn, item.state.value, env.money(balance_minor),
                 keys, _rate(item, env))  # fmt: skip
        table.add_row(*(Text(str(cell)) for cell in cells))
    console().print(table)


@business.command("show")
@click.argument("code")
@admin_options(audited=False)
def business_show(code: str, env: AdminEnv) -> None:
    """One business: account, balance, limits, allowed addresses and its keys (never the secrets)."""
    code = _code(code)

    def work(conn: Connection):
        found = require_business_txn(conn, code)
        return found, _balance_txn(conn, found), keys_of_txn(conn, found.id)

    found, balance_minor, keys = _run(env, work, write=False)
    timezone = env.config.money.timezone
    table = Table(box=box.SIMPLE, show_header=False, title=f"business {found.code}")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    rows = {
        "name": found.name, "account": found.msisdn, "state": found.state.value,
        "balance": env.money(balance_minor), "rate limit": _rate(found, env),
        "allowed IPs": ", ".join(found.allowed_ips) or "any",
        "created": local_time(found.created_at_ns, timezone),
    }  # fmt: skip
    for field, value in rows.items():
        table.add_row(field, Text(str(value)))
    out = console()
    out.print(table)
    out.print(
        _keys_table(keys, timezone) if keys else "no keys yet: smscore admin business key-add"
    )


def _keys_table(keys: list[ApiKey], timezone: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="keys")
    for heading in ("key id", "label", "scope", "state", "created", "last used"):
        table.add_column(heading)
    for key in keys:
        used = local_time(key.last_used_at_ns, timezone) if key.last_used_at_ns else "never"
        cells = (key.key_id, key.label, key.scope.value, key.state.value,
                 local_time(key.created_at_ns, timezone), used)  # fmt: skip
        table.add_row(*(Text(cell) for cell in cells))
    return table


@business.command("key-add")
@click.argument("code")
@click.option("--label", default="", help="What the key is for (payroll server, shop till...).")
@click.option("--scope", type=click.Choice([s.value for s in KeyScope]), default="both",
              show_default=True, help="Bulk batches: a maker creates, a checker (another key) "
              "approves.")  # fmt: skip
@admin_options()
def key_add(code: str, label: str, scope: str, env: AdminEnv) -> None:
    """A new API key for CODE, printed once: only its digest is kept, it cannot be shown again."""
    code = _code(code)

    def work(conn: Connection) -> tuple[str, str]:
        found = require_business_txn(conn, code)
        return add_key_txn(conn, found.id, label, KeyScope(scope), now_ns(), actor=env.actor)

    key_text, key_id = _run(env, work)
    click.echo(f"business {code}: key {key_id} ({scope}) added. The key, shown this once:")
    click.echo(key_text)


@business.command("key-revoke")
@click.argument("key_id")
@admin_options()
def key_revoke(key_id: str, env: AdminEnv) -> None:
    """Refuse the key KEY_ID from its next request on."""
    revoked = _run(env, lambda conn: revoke_key_txn(conn, key_id.strip(), now_ns(), env.actor))
    click.echo(f"key {revoked.key_id}: revoked")


def _state_command(name: str, state: BusinessState, help_text: str) -> click.Command:
    @click.argument("code")
    @admin_options()
    def change(code: str, env: AdminEnv) -> None:
        code = _code(code)
        changed = _run(env, lambda conn: set_state_txn(conn, code, state, now_ns(), env.actor))
        click.echo(f"business {changed.code}: {changed.state.value}")

    change.__doc__ = help_text
    return business.command(name)(change)


_state_command("suspend", BusinessState.SUSPENDED, "Refuse every request of CODE (audited).")
_state_command("reinstate", BusinessState.ACTIVE, "Let CODE call the API again (audited).")


@business.command("allow-ip")
@click.argument("code")
@click.argument("cidrs", nargs=-1, metavar="[CIDR]...")
@click.option("--clear", is_flag=True, help="Any address may call again.")
@admin_options()
def allow_ip(code: str, cidrs: tuple[str, ...], clear: bool, env: AdminEnv) -> None:
    """The addresses CODE may call from (replacing the list), or --clear for any."""
    code = _code(code)
    if bool(cidrs) == clear:
        raise AdminCliError("give the addresses (CIDR ...) or --clear, not both or neither")
    changed = _run(env, lambda conn: set_allowed_ips_txn(conn, code, cidrs, now_ns(), env.actor))
    click.echo(f"business {changed.code}: allowed IPs {', '.join(changed.allowed_ips) or 'any'}")


@business.command("rate")
@click.argument("code")
@click.argument("rate", type=float, required=False)
@click.argument("burst", type=int, required=False)
@click.option("--default", "use_default", is_flag=True, help="Back to [api] rate_limit_*.")
@admin_options()
def rate(code: str, rate: float | None, burst: int | None, use_default: bool,
         env: AdminEnv) -> None:  # fmt: skip
    """CODE's rate limit: RATE requests per second, BURST at once (or --default)."""
    code = _code(code)
    if use_default == (rate is not None or burst is not None):
        raise AdminCliError("give RATE and BURST, or --default")
    if not use_default and (rate is None or burst is None):
        raise AdminCliError("give RATE and BURST, or --default")
    changed = _run(
        env, lambda conn: set_rate_limit_txn(conn, code, rate, burst, now_ns(), env.actor)
    )
    click.echo(f"business {changed.code}: rate limit {_rate(changed, env)}")


# `business secret CODE [--rotate]`: the callback signing secret (daemon.admin.callbacks_cli).
business.add_command(secret)
# `business deposit CODE AMOUNT`: e-money for what it paid into the trust account.
business.add_command(business_deposit)
