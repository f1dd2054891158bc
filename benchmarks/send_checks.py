"""The exactly-once check of the SEND benchmark, read from the daemon's database after it stopped and
from what the simulated phones received.

Every SEND sent must have exactly one move (found by payer, payee and amount, which the benchmark
never repeats), posted, whose ledger transfers are exactly its legs (principal, then fee), pending
then posted with the M-Pesa rollback, posted at once otherwise, with no other transfer in the move's
id range. Money: every wallet holds its opening balance plus what it received less what it sent and
its fees, nothing is left pending, fee income holds the fees, `check_ledger` finds nothing wrong and
the trust account reconciles. Phones: each move's ref is confirmed once on the payer's phone and
notified once on the payee's, and no phone shows anything else.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from daemon.chart import SystemAccount, TransferCode, wallet_account_id
from daemon.commands.money import parse_money_minor
from daemon.money.moves import MAX_LEGS, TRANSFER_ID_BASE, MoveKind, MoveState
from ledger import TransferFlags

SAMPLES = 3  # examples of each kind of problem kept in the output
RUN_FILE = "send_run.json"  # what a kept run sent and what the phones received
MARKS = {"confirmation": " sent to ", "notice": " You have received "}


class PhoneMessage(Protocol):
    msisdn: str
    text: str
    at_s: float


def minor(amount_whole: int) -> int:
    return parse_money_minor(str(amount_whole))


@dataclass(frozen=True)
class Expected:
    sends: Sequence[tuple[str, str, int]]  # (payer, payee, amount_minor) in the order sent
    accounts: int
    first_msisdn: int
    opening_minor: int
    post_on_delivery: bool


@dataclass(frozen=True, slots=True)
class Received:
    msisdn: str
    text: str
    at_s: float


@dataclass(frozen=True, slots=True)
class MoveRow:
    id: int
    ref: str
    kind: str
    state: str
    payer: str
    payee: str
    amount_minor: int
    fee_minor: int
    legs: int
    base: int | None
    inbox_id: int | None
    decided_at_ns: int | None


@dataclass
class MoveTimes:
    """Per SEND (by index): when its confirmation reached the payer, when it was posted, when the
    payee was told (seconds, the reactor's clock = the daemon's wall clock); None if never."""

    reply_s: list[float | None]
    posted_s: list[float | None]
    told_s: list[float | None]

    def times(self, index: int) -> dict[str, float | None]:
        return {"reply": self.reply_s[index], "posted": self.posted_s[index],
                "told": self.told_s[index]}  # fmt: skip

    def all_times(self, name: str) -> Iterator[float]:
        return (at_s for at_s in getattr(self, f"{name}_s") if at_s is not None)


@dataclass
class Problems:
    counts: Counter = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, sample: str) -> None:
        self.counts[kind] += 1
        if len(self.samples[kind]) < SAMPLES:
            self.samples[kind].append(sample)


# --- reading


def _moves(conn: sqlite3.Connection) -> list[MoveRow]:
    query = (
        "SELECT id, ref, kind, state, payer_msisdn, payee_msisdn, amount_minor, fee_minor, legs,"
        " transfer_id_base, inbox_id, decided_at_ns FROM moves ORDER BY id"
    )
    return [MoveRow(*row) for row in conn.execute(query)]


def _move_transfers(conn: sqlite3.Connection, moves: list[MoveRow]) -> dict[int, tuple]:
    """Every ledger transfer in the id range of the moves' transfer ids, by id."""
    top = TRANSFER_ID_BASE + (max((m.id for m in moves), default=0) + 1) * 2 * MAX_LEGS
    query = (
        "SELECT id, debit_account_id, credit_account_id, amount, code, flags, pending_id, user_data"
        " FROM ledger_transfers WHERE id >= ? AND id < ?"
    )
    return {row[0]: row[1:] for row in conn.execute(query, (TRANSFER_ID_BASE, top))}


def _wallets(conn: sqlite3.Connection) -> dict[int, tuple[int, int, int, int]]:
    query = (
        "SELECT id, debits_posted, credits_posted, debits_pending, credits_pending"
        " FROM ledger_accounts"
    )
    return {row[0]: row[1:] for row in conn.execute(query)}


# --- the checks


def check_inbox(conn: sqlite3.Connection, sent: int, problems: Problems) -> dict[str, Any]:
    by_status = dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
    if sum(by_status.values()) != sent or by_status.get("done", 0) != sent:
        problems.add("inbox_not_all_done", f"{sent} sent, inbox {by_status}")
    # One reply to the payer and one notice to the payee per SEND: two outbox rows each.
    not_two = conn.execute(
        "SELECT count(*) FROM inbox i LEFT JOIN"
        " (SELECT inbox_id, count(*) AS rows FROM outbox GROUP BY inbox_id) o"
        " ON o.inbox_id = i.id WHERE coalesce(o.rows, 0) != 2"
    ).fetchone()[0]
    if not_two:
        problems.add("inbox_rows_without_two_sms", f"{not_two} inbox rows")
    outbox = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    return {"inbox_by_status": by_status, "outbox_by_status": outbox}


def match_moves(
    moves: list[MoveRow], expected: Expected, problems: Problems
) -> list[MoveRow | None]:
    """The move of each SEND, by index (None: it has none)."""
    by_key: dict[tuple[str, str, int], list[MoveRow]] = defaultdict(list)
    for move in moves:
        by_key[(move.payer, move.payee, move.amount_minor)].append(move)
    per_inbox = Counter(move.inbox_id for move in moves)
    for inbox_id, count in per_inbox.items():
        if inbox_id is None or count != 1:
            problems.add("inbox_ids_with_other_than_one_move", f"inbox {inbox_id}: {count} moves")
    found: list[MoveRow | None] = []
    for index, key in enumerate(expected.sends):
        matches = by_key.pop(key, [])
        if len(matches) != 1:
            problems.add("sends_without_exactly_one_move", f"send {index}: {len(matches)} moves")
        move = matches[0] if matches else None
        if move is not None and (move.state != MoveState.POSTED or move.kind != MoveKind.SEND):
            problems.add("moves_not_posted_sends", f"{move.ref}: {move.kind} {move.state}")
        found.append(move)
    for extra in by_key.values():
        for move in extra:
            problems.add("moves_of_no_send", f"{move.ref}: {move.kind} {move.state}")
    return found


def _expected_legs(move: MoveRow, post_on_delivery: bool) -> dict[int, tuple]:
    """transfer id -> (debit, credit, amount, code, flags, pending_id, user_data)."""
    assert move.base is not None
    legs = [(wallet_account_id(move.payer), wallet_account_id(move.payee), move.amount_minor,
             int(TransferCode.P2P))]  # fmt: skip
    if move.fee_minor:
        fee_account = int(SystemAccount.FEE_INCOME)
        legs.append(
            (wallet_account_id(move.payer), fee_account, move.fee_minor, int(TransferCode.FEE))
        )
    user_data = f"move:{move.ref}"
    wanted: dict[int, tuple] = {}
    for index, (debit, credit, amount, code) in enumerate(legs):
        linked = TransferFlags.LINKED if index < len(legs) - 1 else TransferFlags.NONE
        first = TransferFlags.PENDING if post_on_delivery else TransferFlags.NONE
        wanted[move.base + index] = (
            debit,
            credit,
            amount,
            code,
            int(first | linked),
            None,
            user_data,
        )
        if post_on_delivery:
            post = int(TransferFlags.POST_PENDING | linked)
            wanted[move.base + MAX_LEGS + index] = (
                debit, credit, amount, code, post, move.base + index, user_data,
            )  # fmt: skip
    return wanted


def check_legs(
    matched: Iterable[MoveRow | None], transfers: dict[int, tuple], post_on_delivery: bool,
    problems: Problems,
) -> int:  # fmt: skip
    """Each posted SEND has exactly its legs in the ledger; returns the transfers checked."""
    claimed: set[int] = set()
    for move in matched:
        if move is None or move.base is None:
            continue
        wanted = _expected_legs(move, post_on_delivery)
        if move.legs != (2 if move.fee_minor else 1):
            problems.add("moves_with_wrong_leg_count", f"{move.ref}: {move.legs} legs")
        in_range = range(move.base, move.base + 2 * MAX_LEGS)
        stored = {tid: transfers[tid] for tid in in_range if tid in transfers}
        if stored != wanted:
            problems.add("moves_whose_transfers_differ", f"{move.ref}: {sorted(stored)}")
        claimed.update(in_range)
    orphans = set(transfers) - claimed
    for tid in sorted(orphans)[:SAMPLES]:
        problems.add("transfers_of_no_send", f"transfer {tid}")
    if len(orphans) > SAMPLES:
        problems.counts["transfers_of_no_send"] += len(orphans) - SAMPLES
    return len(transfers)


def check_money(
    wallets: dict[int, tuple[int, int, int, int]], matched: Iterable[MoveRow | None],
    expected: Expected, problems: Problems,
) -> dict[str, int]:  # fmt: skip
    """Every wallet holds opening + received - sent - fees; nothing pending; fees in fee income."""
    balance = {
        wallet_account_id(str(expected.first_msisdn + n)): expected.opening_minor
        for n in range(expected.accounts)
    }
    fees = 0
    for move in matched:
        if move is None or move.state != MoveState.POSTED:
            continue
        balance[wallet_account_id(move.payer)] -= move.amount_minor + move.fee_minor
        balance[wallet_account_id(move.payee)] += move.amount_minor
        fees += move.fee_minor
    for account_id, want in balance.items():
        debits, credits, debits_pending, credits_pending = wallets.get(account_id, (0, 0, 0, 0))
        if credits - debits != want or debits_pending or credits_pending:
            problems.add("wallets_off", f"{account_id}: has {credits - debits}, expected {want}")
    fee_row = wallets.get(int(SystemAccount.FEE_INCOME), (0, 0, 0, 0))
    if fee_row[1] - fee_row[0] != fees:
        problems.add("fee_income_off", f"{fee_row[1] - fee_row[0]} held, {fees} charged")
    held = sum(credits - debits for account_id, (debits, credits, *_) in wallets.items()
               if account_id in balance)  # fmt: skip
    issued = expected.accounts * expected.opening_minor
    if held + fee_row[1] - fee_row[0] != issued:
        problems.add("money_not_conserved", f"issued {issued}, wallets {held} + fees {fees}")
    return {"issued_minor": issued, "wallets_minor": held, "fees_minor": fees}


def check_phones(
    matched: list[MoveRow | None], messages: Iterable[PhoneMessage], problems: Problems
) -> tuple[list[float | None], list[float | None]]:
    """Each move's ref confirmed once to the payer and notified once to the payee, nothing else;
    returns when each SEND's confirmation and notice arrived."""
    seen: dict[tuple[str, str, str], list[float]] = defaultdict(list)  # (kind, msisdn, ref)
    for message in messages:
        kind = next((k for k, mark in MARKS.items() if mark in message.text), None)
        if kind is None:
            problems.add("other_phone_messages", f"{message.msisdn}: {message.text[:80]}")
            continue
        seen[(kind, message.msisdn, message.text.split(" ", 1)[0])].append(message.at_s)
    times: dict[str, list[float | None]] = {"confirmation": [], "notice": []}
    for move in matched:
        for kind, msisdn in (
            ("confirmation", move and move.payer),
            ("notice", move and move.payee),
        ):
            arrived = seen.pop((kind, msisdn, move.ref), []) if move and msisdn else []
            if len(arrived) != 1:
                problems.add(
                    f"sends_without_exactly_one_{kind}", f"{move and move.ref}: {len(arrived)}"
                )
            times[kind].append(arrived[0] if arrived else None)
    for kind, msisdn, ref in seen:
        problems.add(f"{kind}s_of_no_send", f"{msisdn}: {ref}")
    return times["confirmation"], times["notice"]


def check_ledger_and_trust(db_path: Path, problems: Problems) -> dict[str, Any]:
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
    return {"ledger_transfers": report.transfer_count, "ledger_check_ok": report.ok,
            "trust_reconciles": trust.ok}  # fmt: skip


def check(
    db_path: Path, expected: Expected, messages: Sequence[PhoneMessage]
) -> tuple[dict[str, Any], MoveTimes]:
    """Every check above: (a JSON-able report with `ok`, the times of each SEND)."""
    problems = Problems()
    with sqlite3.connect(db_path) as conn:
        database = check_inbox(conn, len(expected.sends), problems)
        moves = _moves(conn)
        matched = match_moves(moves, expected, problems)
        transfers = _move_transfers(conn, moves)
        wallets = _wallets(conn)
    database["moves"] = len(moves)
    database["move_transfers"] = check_legs(matched, transfers, expected.post_on_delivery, problems)
    database.update(check_money(wallets, matched, expected, problems))
    database.update(check_ledger_and_trust(db_path, problems))
    reply_s, told_s = check_phones(matched, messages, problems)
    posted_s = [m.decided_at_ns / 1e9 if m and m.decided_at_ns else None for m in matched]
    report = {
        **database,
        "problems": dict(problems.counts),
        "problem_samples": {kind: list(samples) for kind, samples in problems.samples.items()},
        "ok": not problems.counts,
    }
    return report, MoveTimes(reply_s, posted_s, told_s)


# --- a kept run, checked again


def save_run(work: Path, expected: Expected, messages: Sequence[PhoneMessage]) -> None:
    phones = [[m.msisdn, m.text, m.at_s] for m in messages]
    record = {"expected": asdict(expected), "phones": phones}
    (work / RUN_FILE).write_text(json.dumps(record))


def load_run(work: Path) -> tuple[Expected, list[Received]]:
    record = json.loads((work / RUN_FILE).read_text())
    fields = record["expected"]
    fields["sends"] = [tuple(send) for send in fields["sends"]]
    return Expected(**fields), [Received(*message) for message in record["phones"]]


def main(argv: list[str] | None = None) -> int:
    """python -m benchmarks.send_checks DIR: the checks of a run kept with --keep-dir DIR."""
    [where] = sys.argv[1:] if argv is None else argv
    work = Path(where)
    expected, messages = load_run(work)
    report, _ = check(work / "state" / "smscore.db", expected, messages)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
