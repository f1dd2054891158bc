"""Bank statements of the trust account, read from MT940, camt.053 or CSV into one shape.

- **MT940** (SWIFT customer statement): parsed by `mt-940` (PyPI `mt-940`, module `mt940`), every
  opt-in fix on (`Options.all()`: a reversal of a credit `RC` counts as money out). Each `:61:` is
  a line: its entry (booking) date, else its value date; its amount, signed by the D/C mark; its
  customer reference, bank reference (after `//`) and the `:86:` text as the reference text.
  `:60F:`/`:60M:` of the first block is the opening balance, `:62F:`/`:62M:` of the last the
  closing one.
- **camt.053** (ISO 20022 BankToCustomerStatement, any version pycamt knows): parsed by `pycamt`
  (PyPI `pycamt`), a maintained parser of camt.053 entries that returns amounts as the document's
  text. Each booked entry (`Sts` BOOK; PDNG and INFO entries are not on the account yet), or each
  of its `TxDtls` when an entry batches several, is a line: `BookgDt`, the amount signed by
  `CdtDbtInd`, and `EndToEndId`, the remittance text, `AddtlNtryInf` and `AcctSvcrRef` as the
  reference text. pycamt turns a debit balance into a float, so the balances (`Bal` OPBD or PRCD,
  CLBD) are read here from the document pycamt parsed, with the ISO 20022 namespace it found, as
  exact text.
- **CSV**: a header row naming `date`, `amount` and `reference` (other columns are ignored, a
  `bank_reference` column is read when present); dates are ISO 8601 (`2025-12-01`), amounts signed
  decimals with a point and at most two decimals (`50000.00`, `-1200.5`), money into the account
  positive. A CSV has no balances: give the bank's closing balance with `--bank-closing`.

Amounts are read as decimal text into integer minor units, never through a float; a third decimal
or a currency other than the service's is an error naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

MINOR_PER_MAJOR = 100
_CSV_AMOUNT = re.compile(r"[+-]?\d+(\.\d{1,2})?")


class StatementError(ValueError):
    """A statement file that cannot be read as given: one line naming the file and the problem."""


class StatementFormat(StrEnum):
    MT940 = "mt940"
    CAMT053 = "camt053"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class BankLine:
    line_no: int  # 1, 2, ... in the file's order
    booked_on: date
    amount_minor: int  # money into the trust bank account positive, out negative
    reference: str  # everything the bank tells about the line, for reference matching
    bank_reference: str = ""  # the bank's own id of the line, when it gives one


@dataclass(slots=True)
class BankStatement:
    source: str
    format: StatementFormat
    currency: str | None
    lines: list[BankLine] = field(default_factory=list)
    opening_minor: int | None = None
    opening_on: date | None = None
    closing_minor: int | None = None
    closing_on: date | None = None

    def period(self) -> tuple[date, date] | None:
        """The days the statement covers: its first line's day to its closing balance's day (or
        last line's). The opening balance stands at the start of the first day."""
        days = [line.booked_on for line in self.lines]
        if not days:
            return (self.closing_on, self.closing_on) if self.closing_on else None
        ends = [*days, self.closing_on] if self.closing_on else days
        return min(days), max(ends)


def minor_units(amount: Decimal | str, where: str) -> int:
    """Exact minor units of a decimal amount; StatementError if it has more than two decimals."""
    try:
        value = Decimal(str(amount).strip().replace(",", "."))
    except InvalidOperation:
        raise StatementError(f"{where}: not an amount: {amount!r}") from None
    minor = value * MINOR_PER_MAJOR
    if not value.is_finite() or minor != minor.to_integral_value():
        raise StatementError(f"{where}: {amount!r} has more than two decimals")
    return int(minor)


def signed_amount_minor(written: str, where: str) -> int:
    """`50000.00`, `-1200.5`, `+7`: minor units; StatementError for anything else."""
    text = written.strip()
    if not _CSV_AMOUNT.fullmatch(text):
        raise StatementError(f"{where}: amount {written!r} is not like 50000.00 or -1200.50")
    return minor_units(text, where)


def detect_format(text: str) -> StatementFormat:
    head = text.lstrip("\ufeff \r\n\t")
    if head.startswith("<"):
        return StatementFormat.CAMT053
    if re.search(r"^:20:", text, re.MULTILINE) and re.search(r"^:6[02][FM]:", text, re.MULTILINE):
        return StatementFormat.MT940
    return StatementFormat.CSV


def read_statement(path: Path, currency: str, fmt: StatementFormat | None = None) -> BankStatement:
    """The statement in `path` (its format detected unless given); StatementError if unusable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StatementError(f"{path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # MT940 files are often ISO 8859-1
    fmt = fmt or detect_format(text)
    if fmt is StatementFormat.MT940:
        from daemon.recon.statement_mt940 import read_mt940

        statement = read_mt940(text, str(path))
    elif fmt is StatementFormat.CAMT053:
        from daemon.recon.statement_camt import read_camt053

        statement = read_camt053(raw, str(path))
    else:
        statement = read_csv(text, str(path))
    if statement.currency is not None and statement.currency.upper() != currency.upper():
        raise StatementError(
            f"{path}: the statement is in {statement.currency}, the service in {currency}"
        )
    return statement


def read_csv(text: str, source: str) -> BankStatement:
    reader = csv.DictReader(io.StringIO(text))
    names = {name.strip().lower(): name for name in reader.fieldnames or []}
    missing = [wanted for wanted in ("date", "amount", "reference") if wanted not in names]
    if missing:
        raise StatementError(f"{source}: a CSV statement needs the columns date, amount, reference "
                             f"(missing: {', '.join(missing)})")  # fmt: skip
    statement = BankStatement(source, StatementFormat.CSV, None)
    for row_no, row in enumerate(reader, start=2):  # row 1 is the header
        where = f"{source} line {row_no}"
        written = row.get(names["amount"]) or ""
        statement.lines.append(
            BankLine(
                line_no=len(statement.lines) + 1,
                booked_on=_iso_day(row.get(names["date"]) or "", where),
                amount_minor=signed_amount_minor(written, where),
                reference=(row.get(names["reference"]) or "").strip(),
                bank_reference=(row.get(names.get("bank_reference", ""), "") or "").strip(),
            )
        )
    return statement


def _iso_day(written: str, where: str) -> date:
    try:
        return date.fromisoformat(written.strip())
    except ValueError:
        raise StatementError(f"{where}: date {written!r} is not like 2025-12-01") from None
