"""A biller's statement: every payment posted to it in a period, as CSV (local date and time, the
move's ref, the payer's number, the account paid and the amount), then a total row.

A payment belongs to the day it was posted (when the money reached the biller's settlement account),
in the service's time zone; one still waiting for its confirmation's delivery is not on it yet.
"""

from __future__ import annotations

import csv
import datetime
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy import Connection, select

from daemon.clock import NS_PER_S
from daemon.commands.money import DECIMALS, MINOR_PER_MAJOR
from daemon.money.billers import Biller, move_detail, parse_detail
from daemon.money.moves import MoveKind, MoveState
from daemon.schema import moves

HEADER = ("date_time", "ref", "payer", "account", "amount")


@dataclass(frozen=True, slots=True)
class Payment:
    posted_at_ns: int
    ref: str
    payer_msisdn: str
    account: str
    amount_minor: int


def day_start_ns(day: datetime.date, timezone: str) -> int:
    """The first nanosecond of `day` in `timezone`."""
    start = datetime.datetime.combine(day, datetime.time(), zoneinfo.ZoneInfo(timezone))
    return int(start.timestamp()) * NS_PER_S


def payments_txn(conn: Connection, biller: Biller, from_ns: int, until_ns: int) -> list[Payment]:
    """The biller's posted payments with from_ns <= posted < until_ns, oldest first."""
    prefix = move_detail(biller.code, "")  # "KPLC ": codes are letters and digits, no wildcards
    query = (
        select(
            moves.c.decided_at_ns,
            moves.c.ref,
            moves.c.payer_msisdn,
            moves.c.detail,
            moves.c.amount_minor,
        )
        .where(
            moves.c.kind == MoveKind.BILL.value,
            moves.c.state == MoveState.POSTED.value,
            moves.c.detail.startswith(prefix, autoescape=True),
            moves.c.decided_at_ns >= from_ns,
            moves.c.decided_at_ns < until_ns,
        )
        .order_by(moves.c.decided_at_ns, moves.c.id)
    )
    return [
        Payment(
            row.decided_at_ns,
            row.ref,
            row.payer_msisdn,
            parse_detail(row.detail)[1],
            row.amount_minor,
        )
        for row in conn.execute(query)
    ]


def plain_amount(amount_minor: int) -> str:
    """`1500.00`: no grouping, no currency, as a spreadsheet reads a number."""
    whole, fraction = divmod(amount_minor, MINOR_PER_MAJOR)
    return f"{whole}.{fraction:0{DECIMALS}d}"


def write_statement(payments: Sequence[Payment], out: TextIO, timezone: str) -> int:
    """The statement as CSV on `out`; the total paid, in minor units."""
    zone = zoneinfo.ZoneInfo(timezone)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for payment in payments:
        posted = datetime.datetime.fromtimestamp(payment.posted_at_ns // NS_PER_S, zone)
        writer.writerow(
            (
                posted.strftime("%Y-%m-%d %H:%M:%S"),
                payment.ref,
                payment.payer_msisdn,
                payment.account,
                plain_amount(payment.amount_minor),
            )
        )
    total_minor = sum(payment.amount_minor for payment in payments)
    writer.writerow(("total", "", "", f"{len(payments)} payments", plain_amount(total_minor)))
    return total_minor
