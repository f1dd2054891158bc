"""Rolling parts up into their outbox row: a submitted row becomes delivered when every part's
receipt says delivered, failed as soon as one part's says it failed (a fixed number of statements
for any number of rows)."""

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Connection, select

from daemon.outbox import OutboxStatus, PartStatus
from daemon.schema import outbox, outbox_parts
from ledger.fastpath import PreparedSelect, bulk_update, id_filter, in_parameter_value


class _Finished(NamedTuple):
    """A row whose parts all have their final receipt; updated only while it is still submitted."""

    status: str
    final_at_ns: int
    last_error: str | None
    id: int
    expected_status: str = OutboxStatus.SUBMITTED.value


_finish_row = bulk_update(outbox, _Finished._fields[:3], where=("id", "status"))
# Selected by id only, the status compared here: with `status = ?` in the WHERE SQLite may pick the
# status index and scan every submitted row.
_row_totals = PreparedSelect(
    lambda dialect_name: select(outbox.c.id, outbox.c.parts_total, outbox.c.status).where(
        id_filter(dialect_name)(outbox.c.id)
    )
)


class _PartState(NamedTuple):
    outbox_id: int
    status: str
    receipt_stat: str | None
    receipt_err: str | None


_parts_of = PreparedSelect(
    lambda dialect_name: select(*(outbox_parts.c[name] for name in _PartState._fields)).where(
        id_filter(dialect_name)(outbox_parts.c.outbox_id)
    ),
    row=_PartState,
)


def rollup_txn(conn: Connection, outbox_ids: Iterable[int], now_ns: int) -> None:
    """Submitted rows become delivered when every part is delivered, failed when any part failed."""
    ids = sorted(set(outbox_ids))
    if not ids:
        return
    dialect_name = conn.dialect.name
    rows = _row_totals.all(conn, {"ids": in_parameter_value(dialect_name, ids)})
    totals = {row.id: row.parts_total for row in rows if row.status == OutboxStatus.SUBMITTED}
    if not totals:
        return
    parts: dict[int, list[_PartState]] = {}
    wanted = {"ids": in_parameter_value(dialect_name, list(totals))}
    for part in _parts_of.all(conn, wanted):
        parts.setdefault(part.outbox_id, []).append(part)
    finished = [
        done
        for outbox_id, total in totals.items()
        if (done := _row_outcome(outbox_id, total, parts.get(outbox_id, []), now_ns))
    ]
    if finished:
        _finish_row.executemany(conn, finished)


def _row_outcome(
    outbox_id: int, total: int, parts: list[_PartState], now_ns: int
) -> _Finished | None:
    """How the row finishes, or None while some part still awaits its final receipt."""
    failed = [part for part in parts if part.status == PartStatus.FAILED]
    if failed:
        first = failed[0]
        error = f"stat:{first.receipt_stat} err:{first.receipt_err}"
        return _Finished(OutboxStatus.FAILED.value, now_ns, error, outbox_id)
    delivered = sum(1 for part in parts if part.status == PartStatus.DELIVERED)
    if total and delivered >= total:
        return _Finished(OutboxStatus.DELIVERED.value, now_ns, None, outbox_id)
    return None
