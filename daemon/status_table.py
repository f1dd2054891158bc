"""`smscore status`: the daemon's `GET /status` JSON as tables an operator reads at a glance
(rich): the binds, the queues, the counters with their rates, security figures, the last errors.
`smscore status --json` prints the JSON itself, for scripts."""

import io
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

STATE_STYLES = {"up": "bold green", "down": "bold red"}  # refused-*: red too (_state)
LAST_ERRORS_SHOWN = 5


def status_view(data: dict[str, Any]) -> Group:
    """Everything `smscore status` shows, as one renderable; a part with nothing in it is left out."""
    parts: list[RenderableType] = [_heading(data), _binds(data.get("binds", []))]
    parts += [table for table in (_queues(data), _counters(data), _security(data)) if table]
    errors = _last_errors(data)
    if errors:
        parts.append(Text("Last errors", style="bold"))
        parts += [Text(f"  {error}", style="red") for error in errors]
    return Group(*parts)


def _last_errors(data: dict[str, Any]) -> list[str]:
    """Every bind's last error (a narrow terminal has no column for them), then the newest
    LAST_ERRORS_SHOWN of the components'."""
    binds = [
        f"{b.get('name')}: {b['last_error']}" for b in data.get("binds", []) if b.get("last_error")
    ]
    others = [error for error in data.get("last_errors", []) if error not in binds]
    return binds + others[-LAST_ERRORS_SHOWN:]


def print_status(data: dict[str, Any], console: Console) -> None:
    console.print(status_view(data))


def format_status(data: dict[str, Any], width: int = 120) -> str:
    """The same as plain text (no colour), `width` columns wide."""
    out = io.StringIO()
    print_status(data, Console(file=out, width=width, color_system=None, force_terminal=False))
    return out.getvalue()


def _heading(data: dict[str, Any]) -> Text:
    heading = Text("smscore ", style="bold")
    heading.append(f"role {data.get('role') or '?'}   uptime {_duration(data.get('uptime_s', 0))}")
    heading.append(f"   http://{data.get('status_listen') or '?'}/status")
    return heading


def _duration(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# A narrower terminal gets short headings and no "Last error" column: the bind's last error
# is the first of "Last errors" below the tables.
WIDE_COLUMNS = 120
BIND_COLUMNS = (  # (wide heading, narrow heading, numeric)
    ("Name", "Name", False),
    ("State", "State", False),
    ("Host", "Host", False),
    ("Connects", "Conn", True),
    ("Drops", "Drop", True),
    ("Received", "Recv", True),
    ("Outstanding", "Outst", True),
    ("Last error", None, False),
)


def _table(title: str, columns: list[tuple[str, bool]]) -> Table:
    table = Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for heading, numeric in columns:
        if numeric:
            table.add_column(heading, justify="right", no_wrap=True)
        else:  # a narrow terminal folds text (a bind's name, its last error): nothing is cut off
            table.add_column(heading, overflow="fold")
    return table


class _Binds:
    """The binds' table, laid out for the width it is rendered in."""

    def __init__(self, binds: list[dict[str, Any]]) -> None:
        self.binds = binds

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = options.max_width >= WIDE_COLUMNS
        columns = [
            (heading if wide else narrow, numeric)
            for heading, narrow, numeric in BIND_COLUMNS
            if wide or narrow is not None
        ]
        table = _table("Binds", columns)
        for bind in self.binds:
            table.add_row(*_bind_cells(bind)[: len(columns)])
        yield table


def _binds(binds: list[dict[str, Any]]) -> RenderableType:
    if not binds:
        return Text("Binds: none (role tranproc, or no [[binds]] configured)", style="bold")
    return _Binds(binds)


def _bind_cells(bind: dict[str, Any]) -> list[str | Text]:
    return [
        bind.get("name", "?"),
        _state(bind),
        bind.get("host") or "",
        _count(bind.get("connects")),
        _count(bind.get("drops")),
        _count(bind.get("messages_received")),
        _count(bind.get("outstanding")),
        Text(bind.get("last_error") or "-", style="red" if bind.get("last_error") else ""),
    ]


def _state(bind: dict[str, Any]) -> Text:
    state = bind.get("state") or ("up" if bind.get("bound") else "down")
    return Text(state.upper(), style=STATE_STYLES.get(state, "bold red"))


def _count(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _queues(data: dict[str, Any]) -> Table | None:
    queues = data.get("queues", {})
    if not queues:
        return None
    table = _table("Queues", [("Queue", False), ("State", False), ("Rows", True)])
    for name, rows in sorted(queues.items()):
        queue, _, state = name.partition("_")  # inbox_pending, outbox_in_flight
        table.add_row(queue, state, _count(rows))
    return table


def _counters(data: dict[str, Any]) -> Table | None:
    """Totals since start with their current rates; zeros left out but the inbox's (whose
    refused_queue_full is the SMSC being told to deliver again)."""
    rates = data.get("rates", {})
    shown = sorted(
        (name, total)
        for name, total in data.get("counters", {}).items()
        if total or name.startswith("inbox.")
    )
    if not shown:
        return None
    table = _table("Counters", [("Counter", False), ("Total", True), ("Rate/s", True)])
    for name, total in shown:
        rate = rates.get(name)
        table.add_row(name, _count(total), "-" if rate is None else f"{rate:,.1f}")
    return table


def _security(data: dict[str, Any]) -> Table | None:
    security = data.get("security", {})
    if not security:  # refusals and lockouts since start, holds waiting now
        return None
    table = _table("Security", [("Figure", False), ("Now", True)])
    for name, value in sorted(security.items()):
        table.add_row(name, _count(value))
    return table
