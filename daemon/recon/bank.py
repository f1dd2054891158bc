"""Report 2, `smscore recon bank STATEMENT`: the trust account against the bank's statement.

Each bank line is matched to at most one trust-account posting (daemon.recon.book), one to one:

1. **by reference**: the same signed amount, booked within `window_days` of each other, and the
   bank line's text (its reference, narrative and the bank's own id, compared in upper case with
   everything but letters and digits left out) contains one of the posting's references: the bank
   reference staff gave with `admin business deposit --reference`, or the move's ref that
   `admin float`, `admin business deposit` and `subscriber add --deposit` print. A reference
   shorter than 4 characters is never used (it would match by chance);
2. **by amount and date**, for the lines still unmatched: the same signed amount within
   `window_days`.

In both passes, the bank lines are taken in the statement's order and each is given the closest
posting in time (then the earliest). Whatever is left is listed: a bank line with no posting
(money the bank holds that no e-money stands for, or a charge) or a posting with no bank line
(e-money issued that the bank never received). The opening and closing balances are compared
too: the trust account's balance at the start of the first day and at the end of the last day of
the statement (service time zone) against the statement's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from daemon.recon.book import BookLine, book_lines_txn, trust_balance_txn
from daemon.recon.report import Report, day_bounds_ns, local_day
from daemon.recon.statement import BankLine, BankStatement

COLUMNS = ("status", "basis", "bank_line", "bank_date", "bank_amount_minor", "bank_reference",
           "book_date", "book_amount_minor", "book_reference", "transfer_id")  # fmt: skip
MIN_REFERENCE_CHARS = 4
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


@dataclass(frozen=True, slots=True)
class Match:
    bank: BankLine
    book: BookLine
    basis: str  # "reference" | "amount+date"


def _normal(text: str) -> str:
    return _NOT_ALNUM.sub("", text.upper())


def _quotes(bank: BankLine, book: BookLine) -> bool:
    text = _normal(f"{bank.reference} {bank.bank_reference}")
    refs = (_normal(ref) for ref in book.references)
    return any(len(ref) >= MIN_REFERENCE_CHARS and ref in text for ref in refs)


def match_lines(
    bank_lines: list[BankLine], book_lines: list[BookLine], timezone: str, window_days: int
) -> tuple[list[Match], list[BankLine], list[BookLine]]:
    """Matches, bank lines left, postings left (see the module's docstring for the rules)."""
    days = {book.transfer_id: local_day(book.at_ns, timezone) for book in book_lines}
    left = list(book_lines)
    matches: list[Match] = []
    unmatched = [line for line in bank_lines if line.amount_minor != 0]
    for basis in ("reference", "amount+date"):
        still: list[BankLine] = []
        for bank in unmatched:
            candidates = [
                book for book in left
                if book.amount_minor == bank.amount_minor
                and abs((days[book.transfer_id] - bank.booked_on).days) <= window_days
                and (basis != "reference" or _quotes(bank, book))
            ]  # fmt: skip
            if not candidates:
                still.append(bank)
                continue
            best = min(candidates, key=lambda b: (_distance(days[b.transfer_id], bank), b.seq))
            left.remove(best)
            matches.append(Match(bank, best, basis))
        unmatched = still
    return matches, unmatched, left


def _distance(day: date, bank: BankLine) -> int:
    return abs((day - bank.booked_on).days)


def bank_report_txn(
    conn: Connection,
    statement: BankStatement,
    timezone: str,
    *,
    window_days: int = 2,
    period: tuple[date, date] | None = None,
    bank_closing_minor: int | None = None,
) -> Report:
    report = Report("bank", f"Trust account against the bank statement {statement.source}", COLUMNS)
    period = period or statement.period()
    if period is None:
        report.problems.append("the statement has no lines and no closing balance: no period")
        return report
    first, last = period
    from_ns, _ = day_bounds_ns(first, timezone)
    _, to_ns = day_bounds_ns(last, timezone)
    book = book_lines_txn(conn, from_ns, to_ns)
    in_period = [line for line in statement.lines if first <= line.booked_on <= last]
    matches, bank_left, book_left = match_lines(in_period, book, timezone, window_days)
    for found in matches:
        report.rows.append(_row("matched", found.basis, found.bank, found.book, timezone))
    report.rows += [_row("bank only", None, line, None, timezone) for line in bank_left]
    report.rows += [_row("book only", None, None, line, timezone) for line in book_left]
    opening, closing = trust_balance_txn(conn, from_ns), trust_balance_txn(conn, to_ns)
    bank_closing = statement.closing_minor if bank_closing_minor is None else bank_closing_minor
    report.summary += [
        ("period", f"{first.isoformat()} to {last.isoformat()} ({timezone})"),
        ("matched", len(matches)), ("bank_only", len(bank_left)), ("book_only", len(book_left)),
        ("book_opening_minor", opening), ("bank_opening_minor", statement.opening_minor),
        ("book_closing_minor", closing), ("bank_closing_minor", bank_closing),
    ]  # fmt: skip
    _balance_problems(report, opening, statement.opening_minor, closing, bank_closing)
    if bank_left:
        report.problems.append(f"{len(bank_left)} bank line(s) match no trust-account posting")
    if book_left:
        report.problems.append(f"{len(book_left)} trust-account posting(s) match no bank line")
    return report


def _balance_problems(
    report: Report, opening: int, bank_opening: int | None, closing: int, bank_closing: int | None
) -> None:
    if bank_opening is not None and bank_opening != opening:
        report.problems.append(
            f"opening balances differ: book {opening}, bank {bank_opening} (minor units)"
        )
    if bank_closing is None:
        report.summary.append(("closing_compared", "no: the statement has no closing balance"))
    elif bank_closing != closing:
        report.problems.append(
            f"closing balances differ: book {closing}, bank {bank_closing} (minor units)"
        )


def _row(status, basis, bank: BankLine | None, book: BookLine | None, timezone: str) -> tuple:
    bank_cells = (
        (bank.line_no, bank.booked_on.isoformat(), bank.amount_minor,
         " ".join(part for part in (bank.reference, bank.bank_reference) if part))
        if bank else (None, None, None, None)
    )  # fmt: skip
    book_cells = (
        (local_day(book.at_ns, timezone).isoformat(), book.amount_minor,
         " ".join(part for part in (book.move_ref, book.bank_reference, book.source) if part),
         book.transfer_id)
        if book else (None, None, None, None)
    )  # fmt: skip
    return (status, basis, *bank_cells, *book_cells)


def parse_period(written_from: str | None, written_to: str | None) -> tuple[date, date] | None:
    if written_from is None and written_to is None:
        return None
    first = date.fromisoformat(written_from or written_to or "")
    last = date.fromisoformat(written_to or written_from or "")
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return first, last
