"""camt.053 statements through `pycamt` (see daemon.recon.statement for the mapping)."""

from __future__ import annotations

from datetime import date
from typing import Any

from lxml import etree
from pycamt.parser import Camt053ParseError, Camt053Parser

from daemon.recon.statement import (
    BankLine,
    BankStatement,
    StatementError,
    StatementFormat,
    minor_units,
)

_OPENING_TYPES = ("OPBD", "PRCD")  # opening booked; previous closing booked
_CLOSING_TYPES = ("CLBD",)
_BOOKED = ("BOOK", None)  # a camt.053.001.02 entry may leave Sts out
_REFERENCE_KEYS = ("EndToEndId", "RemittanceInformationFull", "AdditionalRemittanceInformation",
                   "AdditionalEntryInformation", "MandateId")  # fmt: skip


def read_camt053(raw: bytes, source: str) -> BankStatement:
    try:
        parser = Camt053Parser(raw)
        transactions = parser.get_transactions()
    except (etree.XMLSyntaxError, Camt053ParseError, AttributeError) as exc:
        raise StatementError(f"{source}: not a readable camt.053 statement ({exc})") from None
    if "camt.05" not in parser.tree.tag:
        raise StatementError(f"{source}: not a camt.053 document (root {parser.tree.tag})")
    statement = BankStatement(source, StatementFormat.CAMT053, None)
    _read_balances(parser, statement)
    for found in transactions:
        if found.get("Status") not in _BOOKED:
            continue
        line = _line(found, len(statement.lines) + 1, source)
        statement.lines.append(line)
        currency = found.get("Currency")
        if currency and statement.currency and currency != statement.currency:
            raise StatementError(f"{source} entry {line.line_no}: in {currency}, the statement "
                                 f"in {statement.currency}")  # fmt: skip
        statement.currency = statement.currency or currency
    if statement.closing_minor is None:
        raise StatementError(f"{source}: no closing booked balance (Bal CLBD)")
    return statement


def _line(found: dict[str, Any], line_no: int, source: str) -> BankLine:
    where = f"{source} entry {line_no}"
    amount, indicator = found.get("Amount"), found.get("CreditDebitIndicator")
    if amount is None or indicator not in ("CRDT", "DBIT"):
        raise StatementError(f"{where}: no amount or no CdtDbtInd")
    minor = minor_units(amount, where)
    day = found.get("BookingDate") or found.get("ValueDate")
    if day is None:
        raise StatementError(f"{where}: no BookgDt")
    texts = [str(found[key]).strip() for key in _REFERENCE_KEYS if found.get(key)]
    texts = [text for text in texts if text.upper() != "NOTPROVIDED"]
    return BankLine(
        line_no=line_no,
        booked_on=_iso_day(day, where),
        amount_minor=minor if indicator == "CRDT" else -minor,
        reference=" ".join(" ".join(texts).split()),
        bank_reference=(found.get("TransactionID") or "").strip(),
    )


def _read_balances(parser: Camt053Parser, statement: BankStatement) -> None:
    """OPBD (or PRCD) of the first statement and CLBD of the last, as exact text."""
    namespaces = parser.namespaces
    for stmt in parser.tree.findall(".//Stmt", namespaces):
        account_currency = stmt.find("./Acct/Ccy", namespaces)
        if account_currency is not None and statement.currency is None:
            statement.currency = (account_currency.text or "").strip() or None
        for balance in stmt.findall("./Bal", namespaces):
            kind = balance.findtext("./Tp/CdOrPrtry/Cd", None, namespaces)
            minor, day = _balance(balance, namespaces, statement.source)
            if kind in _OPENING_TYPES and statement.opening_minor is None:
                statement.opening_minor, statement.opening_on = minor, day
            elif kind in _CLOSING_TYPES:
                statement.closing_minor, statement.closing_on = minor, day


def _balance(balance: Any, namespaces: dict, source: str) -> tuple[int, date]:
    where = f"{source} Bal"
    amount = balance.find("./Amt", namespaces)
    if amount is None or not (amount.text or "").strip():
        raise StatementError(f"{where}: no Amt")
    minor = minor_units(amount.text, where)
    if balance.findtext("./CdtDbtInd", None, namespaces) == "DBIT":
        minor = -minor
    day = balance.findtext("./Dt/Dt", None, namespaces) or balance.findtext(
        "./Dt/DtTm", None, namespaces
    )
    if not day:
        raise StatementError(f"{where}: no Dt")
    return minor, _iso_day(day, where)


def _iso_day(written: str, where: str) -> date:
    try:
        return date.fromisoformat(written.strip()[:10])
    except ValueError:
        raise StatementError(f"{where}: date {written!r} is not ISO 8601") from None
