"""MT940 statements through the `mt-940` library (see daemon.recon.statement for the mapping)."""

from __future__ import annotations

from datetime import date
from typing import Any

import mt940

from daemon.recon.statement import (
    BankLine,
    BankStatement,
    StatementError,
    StatementFormat,
    minor_units,
)


def read_mt940(text: str, source: str) -> BankStatement:
    try:
        blocks = mt940.parse_statements(text, options=mt940.Options.all())
    except Exception as exc:  # the library raises plain ValueError/RuntimeError on bad tags
        raise StatementError(f"{source}: not a readable MT940 statement: {exc}") from None
    blocks = [block for block in blocks if block.data.get("final_closing_balance") is not None]
    if not blocks:
        raise StatementError(f"{source}: no MT940 statement with a closing balance (:62F:)")
    statement = BankStatement(source, StatementFormat.MT940, _currency(blocks))
    opening = blocks[0].data.get("final_opening_balance")
    if opening is not None:
        statement.opening_minor = _balance_minor(opening, f"{source} :60F:")
        statement.opening_on = _day(opening.date)
    closing = blocks[-1].data["final_closing_balance"]
    statement.closing_minor = _balance_minor(closing, f"{source} :62F:")
    statement.closing_on = _day(closing.date)
    for block in blocks:
        for transaction in block:
            statement.lines.append(_line(transaction.data, len(statement.lines) + 1, source))
    return statement


def _currency(blocks: list[Any]) -> str | None:
    balance = blocks[-1].data["final_closing_balance"]
    return balance.amount.currency


def _balance_minor(balance: Any, where: str) -> int:
    return minor_units(balance.amount.amount, where)


def _day(found: date) -> date:
    return date(found.year, found.month, found.day)  # mt940's Date is a date subclass


def _line(data: dict[str, Any], line_no: int, source: str) -> BankLine:
    where = f"{source} :61: line {line_no}"
    booked = data.get("entry_date") or data.get("date")
    if booked is None:
        raise StatementError(f"{where}: no date")
    texts = (data.get("customer_reference"), data.get("transaction_details"),
             data.get("extra_details"))  # fmt: skip
    reference = " ".join(str(text).strip() for text in texts if text and text != "NONREF")
    return BankLine(
        line_no=line_no,
        booked_on=_day(booked),
        amount_minor=minor_units(data["amount"].amount, where),
        reference=" ".join(reference.split()),
        bank_reference=(data.get("bank_reference") or "").strip(),
    )
