"""A biller's open bills from a CSV file: account, amount, and optionally the customer's name and the
due date (YYYY-MM-DD); a first row naming the columns ("account,amount,...") is skipped.

The whole file is checked before anything is imported: the first bad row is a BillImportError, one
line naming the file, the line and the problem, and nothing is imported.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from pathlib import Path

from daemon.commands.money import MoneyError, parse_money_minor
from daemon.money.account_rules import AccountRule
from daemon.money.billers import NAME_MAX_CHARS, BillRow

MAX_BILLS = 1_000_000  # one file; more is surely a mistake (or a biller that should use an API)
_COLUMNS = ("account", "amount", "name", "due")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class BillImportError(ValueError):
    """A bills file that cannot be imported; the message is one line naming file, line, problem."""


def read_bills(path: Path, rule: AccountRule) -> list[BillRow]:
    """Every bill in the file at `path`, each account checked against the biller's `rule`."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a spreadsheet's BOM is not part of a cell
    except OSError as exc:
        raise BillImportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise BillImportError(f"{path}:{line}: not UTF-8 text") from None
    return parse_bills(text, rule, str(path))


def parse_bills(text: str, rule: AccountRule, where: str = "<bills>") -> list[BillRow]:
    found: dict[str, BillRow] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not bills
            if not found and _is_header(cells):
                continue
            bill = _row(cells, rule, f"{where}:{line}")
            if bill.account in found:
                raise BillImportError(f"{where}:{line}: account {bill.account} is listed twice")
            if len(found) >= MAX_BILLS:
                raise BillImportError(f"{where}:{line}: more than {MAX_BILLS} bills in one file")
            found[bill.account] = bill
    except csv.Error as exc:
        raise BillImportError(f"{where}:{reader.line_num}: not CSV ({exc})") from None
    if not found:
        raise BillImportError(f"{where}: no bills (columns: {', '.join(_COLUMNS)})")
    return list(found.values())


def _is_header(cells: list[str]) -> bool:
    return cells[0].strip().lower() == "account"


def _row(cells: list[str], rule: AccountRule, where: str) -> BillRow:
    if not 2 <= len(cells) <= len(_COLUMNS):
        raise BillImportError(
            f"{where}: {len(cells)} columns; write {', '.join(_COLUMNS)} (name and due optional)"
        )
    account, written_amount, name, due = (*(cell.strip() for cell in cells), "", "")[:4]
    account = account.upper()
    if not rule.accepts(account):
        raise BillImportError(f"{where}: account {account!r} does not follow the rule {rule.text}")
    try:
        amount_minor = parse_money_minor(written_amount)
    except MoneyError as exc:
        problem = exc.reason.replace("_", " ")
        raise BillImportError(f"{where}: amount {written_amount!r}: {problem}") from None
    if len(name) > NAME_MAX_CHARS or not name.isprintable():
        raise BillImportError(f"{where}: name: at most {NAME_MAX_CHARS} printable characters")
    return BillRow(account, amount_minor, name, _due_day(due, where))


def _due_day(written: str, where: str) -> str | None:
    if not written:
        return None
    if not _DAY.fullmatch(written):
        raise BillImportError(f"{where}: due date {written!r}: write YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(written).isoformat()
    except ValueError:
        raise BillImportError(f"{where}: due date {written!r}: write YYYY-MM-DD") from None
