"""The verdict: each property the run must have, checked against the model and the evidence.

- exactly_once: every acknowledged MO was stored and has one outcome (each inbox row final with
  exactly one reply), every money intent has at most one move, and no move lacks an intent;
- told_truth: what the phones were told agrees with the ledger's record (a posted move was never
  reported undone to its payer; a receipt-gated move posted only after its confirmation reached
  the payer's phone; no recipient heard of money later voided; every confirmation names a move; a
  payer confirmed a receipt-gated move that was then voided was sent a notice saying so, and any
  other confirmed move is posted);
- balances: every wallet, float and system account equals the model;
- conservation: the ledger sums to zero, and `smscore ledger check` passes (invariants, hash
  chain, trust reconciliation);
- pending: no pending transfer is left open, none was posted after its timeout;
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
    for intent_id, moves in matching.moves_of.items():
        if len(moves) > 1:
            check.fail(f"intent {intent_id}: {len(moves)} moves {[m['ref'] for m in moves]}")
    for move in matching.orphans:
        check.fail(f"move {move['ref']} ({move['kind']} {move['amount_minor']} from "
                   f"{move['payer_msisdn']}): no acknowledged MO asked for it")  # fmt: skip
    for intent_id, kind in matching.wrong_kind:
        check.fail(f"intent {intent_id}: a {kind} move")
    failed_rows = [row for row in snapshot.inbox if row["status"] == "failed"]
    check.facts.update(
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


def pending(snapshot: Snapshot) -> Check:
    check = Check("pending")
    late_s = 0.0
    for row in snapshot.pendings:
        expires = row["expires_at_ns"]
        if row["status"] == LEDGER_PENDING:
            check.fail(f"transfer {row['transfer_id']}: still pending at the end")
        elif expires is not None and row["resolved_at_ns"] is not None:
            over_s = (row["resolved_at_ns"] - expires) / 1e9
            if row["status"] == LEDGER_POSTED and over_s > 0:
                check.fail(
                    f"transfer {row['transfer_id']}: posted {over_s:.2f} s after its timeout"
                )
            late_s = max(late_s, over_s)
    open_moves = [
        m["ref"] for m in snapshot.moves if m["state"] in ("held", "confirming", "pending")
    ]
    for ref in open_moves:
        check.fail(f"move {ref}: still open at the end")
    check.facts.update(pending_transfers=len(snapshot.pendings),
                       latest_resolution_after_timeout_s=round(late_s, 2))  # fmt: skip
    return check


def verdict(
    intents: list[Intent],
    snapshot: Snapshot,
    messages: list[PhoneMessage],
    opening: dict[str, int],
    fees: Fees,
    ledger_check: tuple[int, str],
    quiet: bool,
) -> dict[str, Any]:
    matching = match(intents, snapshot.moves)
    checks = [
        exactly_once(intents, snapshot, matching),
        told_truth(intents, snapshot, matching, messages),
        balances(intents, snapshot, matching, opening, fees),
        conservation(snapshot, ledger_check),
        pending(snapshot),
    ]
    liveness = Check("quiet")
    if not quiet:
        liveness.fail("the system did not come to rest within the drain")
    checks.append(liveness)
    return {
        "pass": all(not check.failures for check in checks),
        "checks": {check.name: check.as_json() for check in checks},
    }
