"""The declarations of the payment commands: PAY (a bill, or a request to pay), TILL, BUY, REQ and
REVERSE. Handlers are in the module of each subject: daemon.money.bills, tills, airtime,
pay_requests and reversals."""

from __future__ import annotations

from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import Arg, Args, Registry, Role
from daemon.commands.types import MONEY, MSISDN, PIN, REFERENCE, TEXT
from daemon.money import airtime, bills, pay_requests, reversals, tills
from daemon.money.payment_types import AIRTIME_ORDER, PAY_TARGET, TILL, BillTarget

CUSTOMERS = frozenset({Role.CUSTOMER})
REQUESTERS = frozenset({Role.CUSTOMER, Role.BILLER})  # a customer or a merchant


def register_payment_commands(registry: Registry) -> Registry:
    @registry.command(
        "PAY",
        args=[Arg("target", PAY_TARGET), Arg("pin", PIN)],
        aliases=["LIPA"],
        roles=CUSTOMERS,
        example="PAY KPLC 12345678 1500 1234",
        side_effects=True,
    )
    def pay(ctx: CommandContext, args: Args) -> Reply:
        target = args.target
        if isinstance(target, BillTarget):
            return bills.pay_bill(ctx, target.biller, target.account, target.amount_minor)
        return pay_requests.pay_request(ctx, target.code)

    @registry.command(
        "TILL",
        args=[Arg("till", TILL), Arg("amount", MONEY), Arg("pin", PIN)],
        aliases=["DUKA"],
        roles=CUSTOMERS,
        example="TILL 123456 350 1234",
        side_effects=True,
    )
    def till(ctx: CommandContext, args: Args) -> Reply:
        return tills.pay_till(ctx, args.till, args.amount)

    @registry.command(
        "BUY",
        args=[Arg("order", AIRTIME_ORDER), Arg("pin", PIN)],
        aliases=["AIRTIME", "NUNUA"],
        roles=CUSTOMERS,
        example="BUY 100 0712345678 1234",
        side_effects=True,
    )
    def buy(ctx: CommandContext, args: Args) -> Reply:
        return airtime.buy(ctx, args.order.amount_minor, args.order.msisdn)

    @registry.command(
        "REQ",
        args=[Arg("phone", MSISDN), Arg("amount", MONEY), Arg("note", TEXT, optional=True)],
        aliases=["REQUEST", "OMBA"],
        roles=REQUESTERS,
        example="REQ 0712345678 500 lunch",
        side_effects=True,
    )
    def req(ctx: CommandContext, args: Args) -> Reply:
        return pay_requests.request(ctx, args.phone, args.amount, args.note or "")

    @registry.command(
        "REVERSE",
        args=[Arg("ref", REFERENCE)],
        aliases=["REVERSAL", "RUDISHA"],
        roles=CUSTOMERS,
        example="REVERSE QK7A2B9XYZ",
        side_effects=True,
    )
    def reverse(ctx: CommandContext, args: Args) -> Reply:
        return reversals.reverse(ctx, args.ref)

    return registry
