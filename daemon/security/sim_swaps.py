"""SIM swaps: when a number's SIM changed, as staff record it (`smscore admin simswap MSISDN`) or a
carrier's feed file lists it (`smscore admin simswap import FILE.csv`). The sim_swap fraud rule caps
money out for a while after one. A swap is (number, when): recording it again changes nothing, so a
feed file can be imported twice.

The feed is CSV with a header row `msisdn,swapped_at`; swapped_at is ISO 8601 (2025-12-01T09:30:00,
with an offset or in [money] timezone) or Unix seconds. A bad row stops the import before anything
is written: one line naming the file, the line and the problem.
"""

from __future__ import annotations

import csv
import datetime
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, func, insert, select

from daemon.audit import SecurityEvent, record_security_event_txn
from daemon.clock import NS_PER_S
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.schema import sim_swaps

FEED_COLUMNS = ("msisdn", "swapped_at")
SOURCE_MAX_CHARS = 32


class SimSwapError(ValueError):
    """A swap or a feed file that cannot be recorded: one line for the operator."""


@dataclass(frozen=True, slots=True)
class Swap:
    msisdn: str
    swapped_at_ns: int


def iso_utc(at_ns: int) -> str:
    """An instant as the audit log writes it: ISO 8601 in UTC, to the second (2025-12-01T11:00:00Z)."""
    moment = datetime.datetime.fromtimestamp(at_ns // NS_PER_S, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time_ns(written: str, timezone: str) -> int:
    """ISO 8601 (no offset: in `timezone`) or Unix seconds, as nanoseconds; ValueError if neither."""
    text = written.strip()
    if text.isdigit():
        return int(text) * NS_PER_S
    instant = datetime.datetime.fromisoformat(text)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return int(instant.timestamp()) * NS_PER_S


def read_feed(path: Path, numbering: Numbering, timezone: str) -> list[Swap]:
    """Every swap in a carrier feed file; SimSwapError naming the first bad line."""
    try:
        with path.open(encoding="utf-8", newline="") as feed:
            rows = list(csv.reader(feed))
    except (OSError, UnicodeDecodeError) as exc:
        raise SimSwapError(f"{path}: cannot read: {exc}") from None
    except csv.Error as exc:
        raise SimSwapError(f"{path}: not CSV: {exc}") from None
    if not rows or tuple(cell.strip().lower() for cell in rows[0]) != FEED_COLUMNS:
        raise SimSwapError(f"{path}: line 1: the header must be {','.join(FEED_COLUMNS)}")
    swaps = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        swaps.append(_feed_row(path, line, row, numbering, timezone))
    return swaps


def _feed_row(path: Path, line: int, row: list[str], numbering: Numbering, timezone: str) -> Swap:
    where = f"{path}: line {line}"
    if len(row) != len(FEED_COLUMNS):
        raise SimSwapError(f"{where}: expected {len(FEED_COLUMNS)} columns, got {len(row)}")
    try:
        msisdn = normalize_msisdn(row[0], numbering)
    except MsisdnError as exc:
        raise SimSwapError(f"{where}: msisdn {row[0]!r}: {exc.reason}") from None
    try:
        at_ns = parse_time_ns(row[1], timezone)
    except ValueError:
        raise SimSwapError(
            f"{where}: swapped_at {row[1]!r}: not ISO 8601 (2025-12-01T09:30) or Unix seconds"
        ) from None
    return Swap(msisdn, at_ns)


def record_swap_txn(conn: Connection, swap: Swap, source: str, actor: str, now_ns: int) -> bool:
    """The swap recorded, with its audit entry; False if it was already (nothing written)."""
    found = conn.execute(
        select(sim_swaps.c.msisdn).where(
            sim_swaps.c.msisdn == swap.msisdn, sim_swaps.c.swapped_at_ns == swap.swapped_at_ns
        )
    ).first()
    if found is not None:
        return False
    conn.execute(
        insert(sim_swaps).values(
            msisdn=swap.msisdn,
            swapped_at_ns=swap.swapped_at_ns,
            source=source[:SOURCE_MAX_CHARS],
            recorded_at_ns=now_ns,
        )
    )
    detail = f"SIM changed at {iso_utc(swap.swapped_at_ns)}, from {source}"
    record_security_event_txn(conn, actor, SecurityEvent.SIM_SWAP, swap.msisdn, detail, now_ns)
    return True


def swaps_of_txn(conn: Connection, msisdn: str) -> list[Swap]:
    query = (
        select(sim_swaps.c.msisdn, sim_swaps.c.swapped_at_ns)
        .where(sim_swaps.c.msisdn == msisdn)
        .order_by(sim_swaps.c.swapped_at_ns.desc())
    )
    return [Swap(row.msisdn, int(row.swapped_at_ns)) for row in conn.execute(query)]


def latest_swap_txn(conn: Connection, msisdn: str, since_ns: int, now_ns: int) -> int | None:
    """When the number's SIM last changed after `since_ns` (and not after now), or None."""
    return conn.execute(
        select(func.max(sim_swaps.c.swapped_at_ns)).where(
            sim_swaps.c.msisdn == msisdn,
            sim_swaps.c.swapped_at_ns > since_ns,
            sim_swaps.c.swapped_at_ns <= now_ns,
        )
    ).scalar()
