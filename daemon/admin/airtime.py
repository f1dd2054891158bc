"""`smscore admin airtime list|resolve`: airtime orders, and the late successes staff resolve."""

from __future__ import annotations

import click
from rich import box
from rich.table import Table
from rich.text import Text

from daemon.admin.env import AdminCliError, AdminEnv, admin_options, now_ns
from daemon.admin.views import console, local_time
from daemon.money.airtime_orders import Order, OrderState, orders_txn
from daemon.money.airtime_resolve import Resolution, ResolveRefused, resolve_txn

_COLUMNS = ("id", "ref", "state", "buyer", "for", "amount", "queries", "provider ref", "created",
            "last error")  # fmt: skip


@click.group()
def airtime() -> None:
    """Airtime orders (BUY); late successes, resolved by --charge or --write-off."""


@airtime.command("list")
@click.option("--late", is_flag=True, help="Only late successes (staff to resolve).")
@click.option("--state", "states", multiple=True, type=click.Choice([s.value for s in OrderState]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@admin_options(audited=False)
def list_orders(late: bool, states: tuple[str, ...], limit: int, env: AdminEnv) -> None:
    """The latest airtime orders, newest first."""
    wanted = (OrderState.LATE_SUCCESS,) if late else tuple(OrderState(s) for s in states)
    found = env.run(lambda conn: orders_txn(conn, wanted, limit), write=False)
    if not found:
        click.echo("no late successes" if late else "no airtime orders")
        return
    console().print(_table(found, env))


def _table(found: list[Order], env: AdminEnv) -> Table:
    table = Table(box=box.SIMPLE, title="airtime orders")
    for heading in _COLUMNS:
        table.add_column(heading, no_wrap=heading != "last error")
    timezone = env.config.money.timezone
    for order in found:
        values = (order.id, order.ref, order.state.value, order.payer_msisdn,
                  order.recipient_msisdn, env.money(order.amount_minor), order.queries,
                  order.provider_ref or "", local_time(order.created_at_ns, timezone),
                  order.last_error)  # fmt: skip
        table.add_row(*(Text(str(value)) for value in values))
    return table


@airtime.command("resolve")
@click.argument("order_id", type=int)
@click.option("--charge", is_flag=True, help="Take it from the buyer.")
@click.option("--write-off", is_flag=True, help="The service bears it.")
@admin_options()
def resolve(order_id: int, charge: bool, write_off: bool, env: AdminEnv) -> None:
    """Resolve late success ORDER_ID: charge the buyer, or write it off (audited)."""
    if charge == write_off:  # neither, or both: which one was meant is not for us to guess
        raise AdminCliError("give one of --charge or --write-off")
    how = Resolution.CHARGE.value if charge else Resolution.WRITE_OFF.value

    def work(conn):
        try:
            return resolve_txn(conn, env.config, env.actor, order_id, Resolution(how), now_ns())
        except ResolveRefused as exc:
            raise AdminCliError(str(exc)) from None

    order, move = env.run(work)
    click.echo(
        f"airtime order {order.id} ({order.ref}): {order.state.value}, "
        f"{env.money(move.amount_minor)}, move {move.ref}"
    )
