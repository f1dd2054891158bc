"""The exactly-once check of `smscore bench workload`, from the daemon's database after it stopped and
from what the simulated phones received; and the latencies it yields.

An MO's answer is the first outbox row the daemon wrote for its inbox row to its sender (a SEND's
notice to the payee, a PAY's later receipt are other rows). Each SMS on a phone is traced to its
outbox row by the message id the SMSC gave (outbox_parts.message_id), so nothing depends on what a
reply says. Every MO answered exactly once: each MO sent has exactly one inbox row (MO i of a
sender is that sender's i-th row), done, with an answer that reached the sender's phone exactly once;
and no outbox row reached a phone twice. Every posting exactly once: every move is final (posted,
voided, declined or expired: none left open), has at most one per inbox row, and the ledger holds
exactly its legs, each once (posted at once, or pending then posted once; a voided or declined move
none posted); nothing else in the moves' id range; `check_ledger` and the trust reconciliation pass.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLES = 3
OPEN_MOVE_STATES = ("held", "confirming", "pending")


@dataclass(frozen=True, slots=True)
class Delivered:
    """An SMS as a phone got it: its first part's message id, when, and (encrypted mode) whether it
    opened on the device (None: not tried)."""

    msisdn: str
    message_id: str
    at_s: float
    opened: bool | None = None


@dataclass
class Problems:
    counts: Counter = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, sample: str, count: int = 1) -> None:
        self.counts[kind] += count
        if len(self.samples[kind]) < SAMPLES:
            self.samples[kind].append(sample)

    def as_json(self) -> dict[str, Any]:
        return {
            kind: {"count": n, "samples": self.samples[kind]} for kind, n in self.counts.items()
        }


@dataclass
class Answered:
    """What the check found: per MO index its answer's arrival (None: none), and the figures."""

    answer_at_s: list[float | None]
    report: dict[str, Any]


def _inbox_by_sender(conn: sqlite3.Connection) -> dict[str, list[tuple[int, str]]]:
    rows = conn.execute(
        "SELECT id, source_addr, status FROM inbox WHERE ussd_session IS NULL ORDER BY id"
    )
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row_id, source, status in rows:
        found[source].append((row_id, status))
    return found


def _answers(conn: sqlite3.Connection) -> dict[int, int]:
    """inbox id -> the outbox id of its answer (its first row to the MO's sender)."""
    query = (
        "SELECT i.id, min(o.id) FROM inbox i JOIN outbox o ON o.inbox_id = i.id"
        " AND o.destination_addr = i.source_addr GROUP BY i.id"
    )
    return dict(conn.execute(query).fetchall())


def check_answers(
    db_path: Path, senders: Sequence[str], delivered: Sequence[Delivered], encrypted: bool = False
) -> Answered:
    """MO i was sent by senders[i]; `delivered`: every SMS the phones got, in arrival order."""
    problems = Problems()
    with sqlite3.connect(db_path) as conn:
        inbox = _inbox_by_sender(conn)
        answers = _answers(conn)
        part_of = dict(
            conn.execute("SELECT message_id, outbox_id FROM outbox_parts WHERE part_no = 1")
        )
        outbox_rows = conn.execute("SELECT count(*) FROM outbox WHERE ussd_op IS NULL").fetchone()[
            0
        ]
        parts = conn.execute("SELECT count(*) FROM outbox_parts").fetchone()[0]
    arrivals: dict[int, list[Delivered]] = defaultdict(list)
    for message in delivered:
        outbox_id = part_of.get(message.message_id)
        if outbox_id is None:
            problems.add(
                "phone_messages_of_no_outbox_row", f"{message.msisdn}: {message.message_id}"
            )
            continue
        arrivals[outbox_id].append(message)
    for outbox_id, got in arrivals.items():
        if len(got) > 1:
            problems.add("outbox_rows_delivered_twice", f"outbox {outbox_id}: {len(got)} times")
    answer_at: list[float | None] = []
    taken: Counter = Counter()
    for index, sender in enumerate(senders):
        nth = taken[sender]
        taken[sender] += 1
        rows = inbox.get(sender, [])
        if nth >= len(rows):
            problems.add("mos_without_inbox_row", f"MO {index} from {sender}")
            answer_at.append(None)
            continue
        row_id, status = rows[nth]
        if status != "done":
            problems.add("inbox_rows_not_done", f"inbox {row_id}: {status}")
        got = arrivals.get(answers.get(row_id, -1), [])
        if len(got) != 1:
            problems.add("mos_without_exactly_one_answer", f"inbox {row_id}: {len(got)}")
        if encrypted and got and not got[0].opened:
            problems.add("answers_that_do_not_open", f"inbox {row_id}")
        answer_at.append(got[0].at_s if got else None)
    for sender, rows in inbox.items():
        extra = len(rows) - taken.get(sender, 0)
        if extra > 0:
            problems.add("inbox_rows_of_no_mo", f"{sender}: {extra} more", extra)
    report = {
        "mo_count": len(senders),
        "mt_count": outbox_rows,
        "mt_parts": parts,
        "phone_messages": len(delivered),
        "problems": problems.as_json(),
        "ok": not problems.counts,
    }
    return Answered(answer_at, report)


def check_postings(db_path: Path) -> dict[str, Any]:
    """Every posting exactly once, as the ledger and the moves table hold it after the run."""
    from daemon.money.moves import MAX_LEGS, TRANSFER_ID_BASE
    from ledger import TransferFlags

    problems = Problems()
    with sqlite3.connect(db_path) as conn:
        moves = conn.execute(
            "SELECT id, ref, state, legs, transfer_id_base, inbox_id FROM moves ORDER BY id"
        ).fetchall()
        top = TRANSFER_ID_BASE + (max((m[0] for m in moves), default=0) + 1) * 2 * MAX_LEGS
        transfers = dict(conn.execute(
            "SELECT id, flags FROM ledger_transfers WHERE id >= ? AND id < ?", (TRANSFER_ID_BASE, top)
        ).fetchall())  # fmt: skip
    states = Counter(state for _, _, state, *_ in moves)
    per_inbox = Counter(inbox_id for *_, inbox_id in moves if inbox_id is not None)
    for inbox_id, n in per_inbox.items():
        if n > 1:
            problems.add("inbox_rows_with_two_moves", f"inbox {inbox_id}: {n} moves")
    claimed: set[int] = set()
    for _, ref, state, legs, base, _ in moves:
        if state in OPEN_MOVE_STATES:
            problems.add("moves_left_open", f"{ref}: {state}")
        if base is None:
            continue
        span = range(base, base + 2 * MAX_LEGS)
        claimed.update(span)
        flags = [TransferFlags(transfers[tid]) for tid in span if tid in transfers]
        posted = sum(
            1 for f in flags if not f & (TransferFlags.PENDING | TransferFlags.VOID_PENDING)
        )
        want = legs if state == "posted" else 0
        if posted != want:
            problems.add(
                "moves_not_posted_exactly_once", f"{ref} ({state}): {posted} of {want} legs"
            )
    orphans = sorted(set(transfers) - claimed)
    if orphans:
        problems.add("transfers_of_no_move", f"transfer {orphans[0]}", len(orphans))
    ledger = _ledger_and_trust(db_path, problems)
    return {"moves": len(moves), "moves_by_state": dict(states), "move_transfers": len(transfers),
            **ledger, "problems": problems.as_json(), "ok": not problems.counts}  # fmt: skip


def _ledger_and_trust(db_path: Path, problems: Problems) -> dict[str, Any]:
    from sqlalchemy import create_engine

    from daemon.money.reconcile import reconcile_txn
    from ledger.check import check_ledger

    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            report = check_ledger(conn)
            trust = reconcile_txn(conn)
    finally:
        engine.dispose()
    if not report.ok:
        problems.add("ledger_check", "; ".join(v.detail for v in report.violations[:SAMPLES]))
    if not trust.ok:
        problems.add("trust_does_not_reconcile", trust.describe("KES"))
    return {"ledger_check_ok": report.ok, "trust_reconciles": trust.ok}
