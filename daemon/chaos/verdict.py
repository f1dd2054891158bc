"""The verdict: each property the run must have, checked against the model and the evidence.

- exactly_once: every acknowledged MO was stored and has one outcome (each inbox row final with a
  reply to its sender), every money intent has at most one posted move (an SMS one at most one
  move at all), and no move lacks an intent;
- told_truth: what the phones were told agrees with the ledger's record (a posted move was never
  reported undone to its payer; a receipt-gated move posted only after its confirmation reached
  the payer's phone; no recipient heard of money later voided; every confirmation names a move; a
  payer confirmed a receipt-gated move that was then voided was sent a notice saying so, and any
  other confirmed move is posted);
- balances: every wallet, float and system account equals the model;
- conservation: the ledger sums to zero, and `smscore ledger check` passes (invariants, hash
  chain, trust reconciliation);
- pending: no pending transfer or move is left open; no receipt-gated move was posted on a receipt
  that came after its rollback deadline, or decided much later than that deadline (longer than
  the daemon was down);
- quiet: the system came to rest within the drain (liveness).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from daemon.chaos.driver import PhoneMessage
from daemon.chaos.intents import Intent
from daemon.chaos.model import Fees, biller_account_id, expected_balances, match
from daemon.chaos.snapshot import Snapshot

REF_CONFIRMED = re.compile(r"^([0-9A-Z]{8,12}) Confirmed\.")
REF_UNDONE = re.compile(
    r"^([0-9A-Z]{8,12}): .*(did not go through|could not be bought|did not confirm|"
    r"Nothing was taken|Nothing moved)"
)
RECEIPT_GATED = frozenset({"send", "withdraw"})  # money.post_on_delivery of the chaos config
LEDGER_PENDING, LEDGER_POSTED = 1, 2
SHOWN = 8  # failures listed per check
DECIDE_SLACK_S = 5.0  # a restarted daemon's first sweeps, on a busy machine


@dataclass
class Check:
    name: str
    failures: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def fail(self, text: str) -> None:
        self.failures.append(text)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failures,
            "failures": len(self.failures),
            "first": self.failures[:SHOWN],
            **self.facts,
        }


def exactly_once(intents: list[Intent], snapshot: Snapshot, matching: Any) -> Check:
    check = Check("exactly_once")
    acked = Counter(i.msisdn for i in intents if i.text is not None and i.acked_at_s is not None)
    stored = Counter(row["source_addr"] for row in snapshot.inbox if row["ussd_session"] is None)
    for msisdn, count in acked.items():
        if stored[msisdn] < count:
            check.fail(f"{msisdn}: {count} MOs acknowledged, {stored[msisdn]} in the inbox")
    for row in snapshot.inbox:
        if row["status"] not in ("done", "failed"):
            check.fail(f"inbox {row['id']} from {row['source_addr']}: left {row['status']}")
        replies = snapshot.replies_per_inbox.get(row["id"], 0)
        if not replies and row["ussd_session"] is None:
            check.fail(f"inbox {row['id']} ({row['text']!r}): no reply to its sender")
    by_id = {intent.id: intent for intent in intents}
    replayed_dialogues = []
    for intent_id, moves in matching.moves_of.items():
        refs = [f"{m['ref']} {m['state']}" for m in moves]
        posted = [m for m in moves if m["state"] == "posted"]
        if len(posted) > 1 or (len(moves) > 1 and by_id[intent_id].text is not None):
            check.fail(f"intent {intent_id} ({by_id[intent_id].kind}): {len(moves)} moves {refs}")
        elif len(moves) > 1:  # a USSD dialogue replayed by re-delivered PDUs (RELIABILITY.md)
            replayed_dialogues.append(f"intent {intent_id}: {refs}")
    ussd_rows = {row["id"] for row in snapshot.inbox if row["ussd_session"] is not None}
    for move in matching.orphans:
        what = f"move {move['ref']} ({move['kind']} {move['amount_minor']} from {move['payer_msisdn']})"
        if move["state"] != "posted" and move["inbox_id"] in ussd_rows:
            replayed_dialogues.append(f"{what}, {move['state']}: made by replayed answers")
        else:
            check.fail(f"{what}: no acknowledged MO asked for it")
    for intent_id, kind in matching.wrong_kind:
        check.fail(f"intent {intent_id}: a {kind} move")
    failed_rows = [row for row in snapshot.inbox if row["status"] == "failed"]
    check.facts.update(
        ussd_dialogues_replayed=len(replayed_dialogues),
        ussd_replays_first=replayed_dialogues[:SHOWN],
        acknowledged=sum(acked.values()),
        inbox_rows=len(snapshot.inbox),
        inbox_failed=len(failed_rows),
        failed_errors=dict(Counter(str(row["error"]) for row in failed_rows)),
    )
    return check


def _refs(messages: list[PhoneMessage], pattern: re.Pattern[str]) -> set[tuple[str, str]]:
    found = set()
    for message in messages:
        hit = pattern.match(message.text)
        if hit:
            found.add((message.msisdn, hit.group(1)))
    return found


def _queued_refs(outbox: list[dict[str, Any]], pattern: re.Pattern[str]) -> set[tuple[str, str]]:
    found = set()
    for row in outbox:
        hit = pattern.match(row["text"])
        if hit:
            found.add((row["destination_addr"], hit.group(1)))
    return found


def told_truth(
    intents: list[Intent], snapshot: Snapshot, matching: Any, messages: list[PhoneMessage]
) -> Check:
    check = Check("told_truth")
    confirmed, undone = _refs(messages, REF_CONFIRMED), _refs(messages, REF_UNDONE)
    told_undone = _queued_refs(snapshot.outbox, REF_UNDONE)  # the daemon tried to say so
    by_id = {intent.id: intent for intent in intents}
    moves_by_ref = {move["ref"]: move for move in snapshot.moves}
    for intent_id, moves in matching.moves_of.items():
        intent = by_id[intent_id]
        for move in moves:
            ref, payer, payee = move["ref"], move["payer_msisdn"], move["payee_msisdn"]
            actor = move["actor_msisdn"] or payer
            posted = move["state"] == "posted"
            if posted and (actor, ref) in undone:
                check.fail(f"{ref}: posted, but {actor} was told it did not go through")
            gated = move["kind"] in RECEIPT_GATED and intent.text is not None
            if posted and gated and (actor, ref) not in confirmed:
                check.fail(f"{ref}: posted without its confirmation reaching {actor}")
            if not posted and payee is not None and (payee, ref) in confirmed:
                check.fail(f"{ref}: {move['state']}, but {payee} was told of it")
            if not posted and (actor, ref) in confirmed:
                if not gated:
                    check.fail(f"{ref}: {actor} was told it was done, yet it is {move['state']}")
                elif (actor, ref) not in told_undone:
                    check.fail(f"{ref}: confirmed to {actor}, then {move['state']} untold")
    for msisdn, ref in confirmed:
        move = moves_by_ref.get(ref)
        if move is None:
            check.fail(f"{msisdn} got a confirmation of {ref}: no such move")
    check.facts.update(confirmations=len(confirmed), undone_notices=len(undone))
    return check


def balances(
    intents: list[Intent], snapshot: Snapshot, matching: Any, opening: dict[str, int],
    fees: Fees,
) -> Check:  # fmt: skip
    check = Check("balances")
    biller = biller_account_id(snapshot)
    expected = expected_balances(intents, matching, opening, fees, biller)
    accounts = {**{msisdn: snapshot.wallets[msisdn] for msisdn in opening}, **{
        key: key for key in expected if isinstance(key, int)}}  # fmt: skip
    for key, account_id in accounts.items():
        balance = snapshot.balance(account_id)
        if balance.posted != expected[key]:
            check.fail(f"{key}: ledger {balance.posted}, model {expected[key]} "
                       f"({balance.posted - expected[key]:+d})")  # fmt: skip
        if balance.debits_pending or balance.credits_pending:
            check.fail(f"{key}: still pending {balance.debits_pending}/{balance.credits_pending}")
    check.facts.update(accounts=len(accounts))
    return check


def conservation(snapshot: Snapshot, ledger_check: tuple[int, str]) -> Check:
    check = Check("conservation")
    total = sum(balance.posted for balance in snapshot.accounts.values())
    if total != 0:
        check.fail(f"the ledger's balances sum to {total}, not 0")
    code, output = ledger_check
    if code != 0 or "ledger ok" not in output:
        check.fail(f"smscore ledger check exit {code}: {output.strip()[-500:]}")
    check.facts.update(ledger_check_exit=code)
    return check


def pending(snapshot: Snapshot, down_spans_s: list[tuple[float, float]]) -> Check:
    """Nothing left pending; no receipt-gated move posted on a receipt stored after its deadline
    (the confirmation's deliver_by); none decided later after its deadline than the time the
    daemon was down in between (it cannot act while dead) plus DECIDE_SLACK_S."""
    check = Check("pending")
    for row in snapshot.pendings:
        if row["status"] == LEDGER_PENDING:
            check.fail(f"transfer {row['transfer_id']}: still pending at the end")
        expires, resolved = row["expires_at_ns"], row["resolved_at_ns"]
        if (
            row["status"] == LEDGER_POSTED
            and None not in (expires, resolved)
            and resolved > expires
        ):
            check.fail(f"transfer {row['transfer_id']}: posted after its timeout")
    for move in snapshot.moves:
        if move["state"] in ("held", "confirming", "pending"):
            check.fail(f"move {move['ref']}: still {move['state']} at the end")
    moves = {move["id"]: move for move in snapshot.moves}
    latest_s = 0.0
    for row in snapshot.outbox:
        move = moves.get(row.get("on_failure_ref")) if row.get("on_failure") == "move" else None
        if move is None or row["ussd_op"] is not None or row["deliver_by_ns"] is None:
            continue
        deadline_ns, stored_ns = row["deliver_by_ns"], row["final_at_ns"]
        if move["state"] == "posted" and (stored_ns is None or stored_ns > deadline_ns):
            late_s = (stored_ns - deadline_ns) / 1e9 if stored_ns else float("inf")
            check.fail(f"{move['ref']}: posted on a receipt {late_s:.2f} s after its deadline")
        if move["decided_at_ns"] is not None:
            over_s = (move["decided_at_ns"] - deadline_ns) / 1e9
            latest_s = max(latest_s, over_s)
            down_s = _overlap_s(down_spans_s, deadline_ns / 1e9, move["decided_at_ns"] / 1e9)
            if over_s > down_s + DECIDE_SLACK_S:
                check.fail(f"{move['ref']}: {move['state']} {over_s:.1f} s after its deadline "
                           f"(the daemon down {down_s:.1f} s of it)")  # fmt: skip
    check.facts.update(pending_transfers=len(snapshot.pendings),
                       latest_decision_after_deadline_s=round(latest_s, 2),
                       down_s=round(sum(end - start for start, end in down_spans_s), 2))  # fmt: skip
    return check


def _overlap_s(spans_s: list[tuple[float, float]], start_s: float, end_s: float) -> float:
    return sum(max(0.0, min(end_s, b) - max(start_s, a)) for a, b in spans_s)


def verdict(
    intents: list[Intent],
    snapshot: Snapshot,
    messages: list[PhoneMessage],
    opening: dict[str, int],
    fees: Fees,
    ledger_check: tuple[int, str],
    quiet: bool,
    down_spans_s: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    matching = match(intents, snapshot.moves)
    checks = [
        exactly_once(intents, snapshot, matching),
        told_truth(intents, snapshot, matching, messages),
        balances(intents, snapshot, matching, opening, fees),
        conservation(snapshot, ledger_check),
        pending(snapshot, down_spans_s or []),
    ]
    liveness = Check("quiet")
    if not quiet:
        liveness.fail("the system did not come to rest within the drain")
    checks.append(liveness)
    return {
        "pass": all(not check.failures for check in checks),
        "checks": {check.name: check.as_json() for check in checks},
    }
