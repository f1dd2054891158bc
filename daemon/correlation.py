"""Correlation ids: one id per message chain, written on every log line about it, so one
`jq 'select(.correlation_id == "mo-42")'` shows an MO's whole life: the MO line, the ledger
postings it caused, the submit_sm_resp of each reply and notice, and their delivery receipts.

The id is derived from rows the daemon already keeps, so no column is added and any process
(LIS, TranProc, sender, settler, sweeper: scale-out runs them apart) derives the same id:

- `mo-<inbox id>`: an MO and everything it caused; outbox rows and moves carry `inbox_id`.
- `mt-<outbox id>`: an SMS no MO asked for (a notice from the settler, an API SMS, a staff
  notice): the outbox row is its own origin.
- `mv-<move ref>`: a posting no MO caused (an API transaction, staff e-float, a sweeper's void
  of a move opened by the API). The ref is the one the parties see in their SMS.

Like Kannel's and Jasmin's logs, the SMSC's own message_id is logged beside the id on the MT and
receipt lines (field `message_id`), since that is what the carrier quotes.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from daemon.schema import outbox

MO_PREFIX = "mo-"
MT_PREFIX = "mt-"
MOVE_PREFIX = "mv-"


def for_inbox(inbox_id: int) -> str:
    return f"{MO_PREFIX}{inbox_id}"


def for_outbox(outbox_id: int, inbox_id: int | None) -> str:
    """An outbox row's id: its MO's when an MO caused it, else its own."""
    return for_inbox(inbox_id) if inbox_id is not None else f"{MT_PREFIX}{outbox_id}"


def for_move(ref: str, inbox_id: int | None) -> str:
    return for_inbox(inbox_id) if inbox_id is not None else f"{MOVE_PREFIX}{ref}"


def outbox_correlations_txn(conn: Connection, outbox_ids: Iterable[int]) -> dict[int, str]:
    """The correlation id of each outbox row (one query for all of them)."""
    wanted = sorted(set(outbox_ids))
    if not wanted:
        return {}
    rows = conn.execute(select(outbox.c.id, outbox.c.inbox_id).where(outbox.c.id.in_(wanted))).all()
    return {row.id: for_outbox(row.id, row.inbox_id) for row in rows}
