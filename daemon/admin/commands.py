"""The staff commands under `smscore admin`: agent stores, assistants, e-float, subscribers (the audit
log's are in daemon.admin.audit_cli). Arguments are checked before the PIN is asked for; each change is one transaction with its audit
entry; a refusal is one line and exit code 2."""

from __future__ import annotations

import click
from sqlalchemy import Connection

from daemon.admin.accounts import (
    KYC_TIERS,
    Profile,
    profile_txn,
    set_state_txn,
    set_tier_txn,
    unlock_txn,
)
from daemon.admin.env import (
    PIN_OPTION,
    AdminCliError,
    AdminEnv,
    admin_options,
    now_ns,
    parse_amount,
    read_pin,
)
from daemon.admin.security_view import SecurityView, security_rows, security_view_txn
from daemon.admin.stores import NewIdentity, add_agent_txn, add_assistant_txn, issue_float_txn
from daemon.admin.views import console, moves_table, profile_table
from daemon.chart import wallet_account_id
from daemon.replies import LANGUAGES
from daemon.subscribers import SubscriberState
from ledger import get_balance

NAME_OPTION = click.option("--name", required=True, help="The name people know it by.")
LANGUAGE_OPTION = click.option(
    "--language", type=click.Choice(LANGUAGES), default="en", show_default=True
)


def _available_txn(conn: Connection, account_id: int) -> int:
    balance = get_balance(conn, account_id)
    return balance.available if balance is not None else 0


@click.group()
def agent() -> None:
    """Agent stores: the float wallet cash is exchanged against."""


@agent.command("add")
@click.argument("msisdn")
@NAME_OPTION
@click.option("--float", "float_amount", metavar="AMOUNT", help="Initial e-float, e.g. 50,000.")
@PIN_OPTION
@LANGUAGE_OPTION
@admin_options()
def agent_add(
    msisdn: str,
    name: str,
    float_amount: str | None,
    pin: str | None,
    language: str,
    env: AdminEnv,
) -> None:
    """Register MSISDN as an agent store with its float and a new short agent number."""
    number = env.msisdn(msisdn)
    float_minor = parse_amount(float_amount, "--float") if float_amount else 0
    identity = NewIdentity(number, name, read_pin(pin), language)

    def work(conn: Connection) -> tuple[str, str]:
        store, move = add_agent_txn(conn, env, identity, float_minor, now_ns())
        issued = f", ref {move.ref}" if move is not None else ""
        return store.agent_number or "", env.money(_available_txn(conn, store.account_id)) + issued

    agent_number, float_text = env.run(work)
    click.echo(f"agent store {number} ({name}): agent number {agent_number}, float {float_text}")


@click.group()
def assistant() -> None:
    """Assistants: work at a store, on its float, with their own PIN."""


@assistant.command("add")
@click.argument("store_msisdn")
@click.argument("msisdn")
@NAME_OPTION
@PIN_OPTION
@LANGUAGE_OPTION
@admin_options()
def assistant_add(
    store_msisdn: str, msisdn: str, name: str, pin: str | None, language: str, env: AdminEnv
) -> None:
    """Register MSISDN as an assistant at the agent store STORE_MSISDN."""
    store = env.msisdn(store_msisdn)
    number = env.msisdn(msisdn)
    identity = NewIdentity(number, name, read_pin(pin), language)
    env.run(lambda conn: add_assistant_txn(conn, env, store, identity, now_ns()))
    click.echo(f"assistant {number} ({name}) at agent store {store}")


@click.command("float")
@click.argument("store_msisdn")
@click.argument("amount")
@admin_options()
def float_command(store_msisdn: str, amount: str, env: AdminEnv) -> None:
    """Issue AMOUNT of e-float from the trust account into STORE_MSISDN's float."""
    store = env.msisdn(store_msisdn)
    amount_minor = parse_amount(amount, "AMOUNT")

    def work(conn: Connection) -> tuple[str, int]:
        move = issue_float_txn(conn, env, store, amount_minor, now_ns())
        return move.ref, _available_txn(conn, wallet_account_id(store))

    ref, float_minor = env.run(work)
    click.echo(
        f"issued {env.money(amount_minor)} e-float to {store}, ref {ref}; "
        f"float now {env.money(float_minor)}"
    )


@click.group()
def subscriber() -> None:
    """See a subscriber; freeze, unfreeze, unlock its PIN, set its KYC tier."""


@subscriber.command("show")
@click.argument("msisdn")
@admin_options(audited=False)
def show(msisdn: str, env: AdminEnv) -> None:
    """Role, tier, state, PIN state, balance, store or agent number, an active SIM-swap
    cooldown, the app devices, the last moves."""
    number = env.msisdn(msisdn)
    at_ns = now_ns()

    def read(conn: Connection) -> tuple[Profile, SecurityView]:
        view = security_view_txn(conn, number, env.config.fraud, at_ns)
        return profile_txn(conn, number), view

    profile, view = env.run(read, write=False)
    timezone = env.config.money.timezone
    out = console()
    extra = security_rows(view, env.currency, timezone)
    out.print(profile_table(profile, env.currency, timezone, at_ns, extra))
    if profile.moves:
        out.print(moves_table(profile.moves, env.currency, timezone))
    else:
        out.print("no moves yet")


def _state_command(name: str, state: SubscriberState, done: str) -> click.Command:
    @subscriber.command(name)
    @click.argument("msisdn")
    @admin_options()
    def change(msisdn: str, env: AdminEnv) -> None:
        number = env.msisdn(msisdn)
        changed = env.run(lambda conn: set_state_txn(conn, env, number, state, now_ns()))
        click.echo(f"{number} {done}" if changed else f"{number} was already {state.value}")

    change.help = f"{name.capitalize()} MSISDN (recorded in the audit log)."
    return change


freeze = _state_command("freeze", SubscriberState.FROZEN, "frozen: no money moves from or to it")
unfreeze = _state_command("unfreeze", SubscriberState.ACTIVE, "active again")


@subscriber.command("unlock")
@click.argument("msisdn")
@admin_options()
def unlock(msisdn: str, env: AdminEnv) -> None:
    """Clear MSISDN's wrong-PIN count and PIN lock."""
    number = env.msisdn(msisdn)
    changed = env.run(lambda conn: unlock_txn(conn, env, number, now_ns()))
    click.echo(f"{number} unlocked" if changed else f"{number} was not locked")


@subscriber.command("tier")
@click.argument("msisdn")
@click.argument("tier")
@admin_options()
def tier(msisdn: str, tier: str, env: AdminEnv) -> None:
    """Set MSISDN's KYC tier (1, 2 or 3): its limits follow the tier."""
    number = env.msisdn(msisdn)
    wanted = int(tier) if tier.isascii() and tier.isdigit() else 0
    if wanted not in KYC_TIERS:
        raise AdminCliError(
            f"TIER {tier!r}: a KYC tier is {KYC_TIERS.start} to {KYC_TIERS.stop - 1}"
        )
    changed = env.run(lambda conn: set_tier_txn(conn, env, number, wanted, now_ns()))
    click.echo(
        f"{number} is now tier {wanted}" if changed else f"{number} was already tier {wanted}"
    )
