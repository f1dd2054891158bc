"""Repeats: the same MO again (same bind, sender, destination, coding and payload) within the dedupe window.

SMPP gives an MO no id, so the inbox cannot tell an SMSC re-delivering a deliver_sm whose resp it did not
see from a person sending the same text twice; both are stored (daemon.lis), and neither may end in
silence. The TranProc asks this module what a row is:
- a repeat of a command without side effects (HELP, BAL, PING) is answered afresh, like any message;
- a repeat of a command with side effects whose earlier copy ran is never run again: it gets the earlier
  reply once more, saying it is a repeat (Mojaloop's rule for a resent transfer);
- an earlier copy that did not run (refused: wrong PIN, parse error; or failed) does not count: the repeat
  runs, since nothing happened the first time;
- an earlier copy still waiting (another TranProc holds it, PostgreSQL) makes the repeat wait for it;
- a repeat of a message refused for a wrong PIN gets that refusal again and is not counted as another
  failure: one typo re-delivered three times must not lock the account;
- a copy answered as a repeat counts as the copy it repeated: a chain of re-deliveries, each within
  the window of the one before, never runs the command again once its first copy has left it.
The window is `inbox.dedupe_window_s`; the key is the LIS's keyed digest, so no PIN is ever compared in
clear.

A USSD answer is never a repeat here: the same "1" typed on two screens is two answers. Its session
(daemon.ussd.sessions) makes each step once, and a PIN answer delivered again after the session
ended gets "session ended", running nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from sqlalchemy import Connection, String, bindparam, select

from daemon.lis import InboxStatus
from daemon.schema import inbox, outbox
from ledger.fastpath import PreparedSelect, in_parameter, in_parameter_value


class Earlier(NamedTuple):
    """An earlier inbox row with the same key: how it ended."""

    id: int
    dedupe_key: str
    received_at_ns: int
    status: str
    command: str | None
    error: str | None


PIN_WRONG = "pin_wrong"  # the inbox error of a message refused for a wrong PIN
REPEAT_ERROR = "repeat"  # the inbox error of a repeat answered with its first copy's reply


class Verdict(Enum):
    RUN = "run"  # no earlier copy ran: handle the row as any message
    REPLAY = "replay"  # an earlier copy ran: answer with its reply, run nothing
    WAIT = "wait"  # an earlier copy is still being handled elsewhere: leave the row for later


_earlier_rows = PreparedSelect(
    lambda dialect_name: (
        select(
            inbox.c.id,
            inbox.c.dedupe_key,
            inbox.c.received_at_ns,
            inbox.c.status,
            inbox.c.command,
            inbox.c.error,
        )
        # Exactly the shape of ix_inbox_dedupe (key, then time): a condition on id here made
        # SQLite walk the primary key instead, the whole inbox per batch. Newer rows are dropped
        # in Python.
        .where(
            in_parameter(inbox.c.dedupe_key, "keys", dialect_name, String),
            inbox.c.received_at_ns >= bindparam("since_ns"),
        )
    ),
    row=Earlier,
)
_first_reply = PreparedSelect(
    lambda dialect_name: (
        select(outbox.c.text)
        .where(
            outbox.c.inbox_id == bindparam("inbox_id"),
            outbox.c.destination_addr == bindparam("destination"),
        )
        .order_by(outbox.c.id)
        .limit(1)
    )
)


@dataclass
class RepeatIndex:
    """The earlier copies of a batch's rows: loaded in one query, then kept up to date as the batch
    handles its rows in order (so a repeat inside the batch sees how its first copy ended)."""

    window_ns: int
    by_key: dict[str, list[Earlier]] = field(default_factory=lambda: defaultdict(list))
    replies: dict[int, str] = field(default_factory=dict)  # this batch's rows: id -> first reply

    @classmethod
    def load(cls, conn: Connection, rows: Sequence, window_ns: int) -> RepeatIndex:
        index = cls(window_ns)
        rows = [row for row in rows if not _is_ussd(row)]
        if not rows:
            return index
        keys = sorted({row.dedupe_key for row in rows})
        params = {
            "keys": in_parameter_value(conn.dialect.name, keys),
            "since_ns": min(row.received_at_ns for row in rows) - window_ns,
        }
        # The batch's own rows join as it handles them; rows another TranProc holds may sit between.
        batch_ids = {row.id for row in rows}
        below_id = max(batch_ids)
        found = [
            e for e in _earlier_rows.all(conn, params) if e.id < below_id and e.id not in batch_ids
        ]
        for earlier in sorted(found):
            index.by_key[earlier.dedupe_key].append(earlier)
        return index

    def earlier(self, row) -> list[Earlier]:
        """Rows with the row's key, received at most window_ns before it, older than it."""
        if _is_ussd(row):
            return []
        since_ns = row.received_at_ns - self.window_ns
        return [
            e
            for e in self.by_key.get(row.dedupe_key, ())
            if e.id < row.id and e.received_at_ns >= since_ns
        ]

    def verdict(self, row, keyword: str) -> tuple[Verdict, Earlier | None]:
        """For a command with side effects: run it, replay an earlier copy's reply, or wait."""
        copies = [e for e in self.earlier(row) if e.command in (keyword, None)]
        ran = next((e for e in copies if e.status == InboxStatus.DONE and e.error is None), None)
        ran = ran or self.replayed(row, keyword)
        if ran is not None:
            return Verdict.REPLAY, ran
        if any(e.status == InboxStatus.NEW for e in copies):
            return Verdict.WAIT, None
        return Verdict.RUN, None

    def refused_pin(self, row, keyword: str) -> Earlier | None:
        """The earlier copy refused for a wrong PIN, if any: the same text carries the same PIN."""
        refused = (e for e in self.earlier(row) if e.command == keyword and e.error == PIN_WRONG)
        return next(refused, None) or self.replayed(row, keyword)

    def replayed(self, row, keyword: str) -> Earlier | None:
        """The latest copy answered as a repeat: the copy it repeated ran (or was refused for a
        wrong PIN), and may have left the window since; an SMSC whose deliver_sm_resp keeps getting
        lost re-delivers for longer than any window. Its answer is the one to give again."""
        replays = (
            e
            for e in reversed(self.earlier(row))
            if e.command == keyword and e.status == InboxStatus.DONE and e.error == REPEAT_ERROR
        )
        return next(replays, None)

    def handled(self, row, status: str, command: str | None, error: str | None, reply: str | None):
        """The batch has handled `row`: later rows of the batch see it as an earlier copy."""
        if _is_ussd(row):
            return
        self.by_key[row.dedupe_key].append(
            Earlier(row.id, row.dedupe_key, row.received_at_ns, status, command, error)
        )
        if reply is not None:
            self.replies[row.id] = reply

    def first_reply(self, conn: Connection, earlier: Earlier, destination: str) -> str | None:
        """The first reply the earlier copy's sender got (its text, as stored: PINs masked)."""
        if earlier.id in self.replies:
            return self.replies[earlier.id]
        found = _first_reply.all(conn, {"inbox_id": earlier.id, "destination": destination})
        return found[0].text if found else None


def _is_ussd(row) -> bool:
    return getattr(row, "ussd_op", None) is not None
