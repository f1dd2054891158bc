"""What every reconciliation report is: one table of rows, a few summary figures and the problems
found; printed as a rich table for people, as CSV or JSON for scripts and spreadsheets.

Money is integer minor units everywhere: a column named `*_minor` holds an int, which the table shows
as `KES 1,234.50` and CSV and JSON keep as the integer. A report with no problem balances (exit 0);
one with a problem is a discrepancy (exit 1).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from daemon.clock import NS_PER_S
from daemon.commands.money import format_money

Cell = str | int | None


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@dataclass(slots=True)
class Report:
    """One report: `rows` under `columns`; `summary` (label, value) pairs; `problems` found."""

    name: str  # the subcommand: trust, bank, float, outbox, pending, sources
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    summary: list[tuple[str, Cell]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {
            "report": self.name,
            "title": self.title,
            "ok": self.ok,
            "summary": dict(self.summary),
            "rows": [dict(zip(self.columns, row, strict=True)) for row in self.rows],
            "problems": self.problems,
        }


def is_money(column: str) -> bool:
    return column.endswith("_minor")


def render(report: Report, fmt: Format, currency: str, width: int | None = None) -> str:
    if fmt is Format.CSV:
        return render_csv(report)
    if fmt is Format.JSON:
        return json.dumps(report.as_dict(), indent=2) + "\n"
    return render_table(report, currency, width)


def render_csv(report: Report) -> str:
    """The rows only, amounts in minor units: what a spreadsheet or a script reads."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(report.columns)
    writer.writerows(["" if cell is None else cell for cell in row] for row in report.rows)
    return out.getvalue()


def _shown(column: str, cell: Cell, currency: str) -> str:
    if cell is None:
        return ""
    if is_money(column) and isinstance(cell, int):
        return format_money(cell, currency)
    return str(cell)


def _heading(column: str) -> str:
    return column.removesuffix("_minor").replace("_", " ")


def table_view(report: Report, currency: str) -> Group:
    table = Table(title=report.title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in report.columns:
        table.add_column(_heading(column), justify="right" if is_money(column) else "left")
    for row in report.rows:  # stored text (references, names) is text, never rich markup
        cells = zip(report.columns, row, strict=True)
        table.add_row(*(Text(_shown(column, cell, currency)) for column, cell in cells))
    parts: list[Table | Text] = [table] if report.rows else [Text(report.title, style="bold")]
    for label, value in report.summary:
        shown = "-" if value is None else _shown(label, value, currency)
        parts.append(Text(f"{_heading(label)}: {shown}"))
    parts += [Text(f"DISCREPANCY: {problem}", style="bold red") for problem in report.problems]
    verdict = "balances" if report.ok else f"{len(report.problems)} discrepancies"
    parts.append(Text(f"{report.name}: {verdict}", style="bold green" if report.ok else "bold red"))
    return Group(*parts)


def render_table(report: Report, currency: str, width: int | None = None) -> str:
    out = io.StringIO()
    Console(file=out, width=width or 160, color_system=None, highlight=False).print(
        table_view(report, currency)
    )
    return out.getvalue()


# --- times and days, in the service's time zone


def local_day(at_ns: int, timezone: str) -> date:
    return datetime.fromtimestamp(at_ns // NS_PER_S, ZoneInfo(timezone)).date()


def local_time(at_ns: int | None, timezone: str) -> str | None:
    if at_ns is None:
        return None
    moment = datetime.fromtimestamp(at_ns // NS_PER_S, ZoneInfo(timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def day_bounds_ns(day: date, timezone: str) -> tuple[int, int]:
    """[start, end) of `day` in `timezone`, as epoch nanoseconds (a DST day is 23 or 25 hours)."""
    zone = ZoneInfo(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return int(start.timestamp()) * NS_PER_S, int(end.timestamp()) * NS_PER_S


def sum_column(rows: Sequence[tuple[Cell, ...]], index: int) -> int:
    return sum(int(row[index] or 0) for row in rows)
