"""The independent model: from the traffic the SMSC acknowledged and what the phones were told, what
every balance must be. It shares nothing with the daemon's money code: fees come from the chaos
tariff's bands through its own lookup, amounts and parties from the texts the phones typed.

Which intents moved money? The daemon may rightly decline (limits, funds, a wrong PIN, a reply lost
so a receipt-gated posting was voided), so the model follows the ledger's own record of the move
with the same source message (its payer and amount: unique per payer by construction) and checks
that record against what the phones were told (model_checks). Given which intents posted, each
intent's effect on every account is the model's alone: the payer pays amount + fee, the payee gets
the amount, the agent its commission, the fee income the fee.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from daemon.chaos.intents import MOVE_KINDS, Intent
from daemon.chaos.world import BILLER, KES

# The chart's system accounts (daemon.chart.SystemAccount): fixed ledger ids.
TRUST, FEE_INCOME, AGENT_COMMISSION, VOUCHER_SUSPENSE = 1, 2, 3, 4
AIRTIME_SETTLEMENT, REVERSAL_SUSPENSE = 6, 7
OPENING_KINDS = frozenset({"issue", "float"})


class ModelError(Exception):
    pass


@dataclass(frozen=True)
class Fees:
    """The chaos tariff's bands: {min, max, fee|commission} in whole shillings, both ends in."""

    tables: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> Fees:
        return cls(tomllib.loads(text))

    def charge(self, section: str, table: str, amount_minor: int) -> int:
        bands = self.tables.get(section, {}).get(table)
        if not bands:
            return 0
        for band in bands:
            value = band.get("fee", band.get("commission"))
            if band["min"] * KES <= amount_minor <= band["max"] * KES + KES - 1:
                return int(Decimal(str(value)) * KES)
        raise ModelError(f"{section}.{table}: no band for {amount_minor}")


def effects(intent: Intent, fees: Fees, biller_account: int) -> dict[Any, int]:
    """What a posted intent does to each account: msisdn (a wallet or float) or a ledger id."""
    amount, payer, payee = intent.amount_minor, intent.payer, intent.payee
    assert amount is not None and payer is not None
    kind = MOVE_KINDS[intent.kind]
    if kind == "send":
        fee = fees.charge("fees", "send_registered", amount)
        return {payer: -(amount + fee), payee: amount, FEE_INCOME: fee}
    if kind == "deposit":
        commission = fees.charge("commission", "deposit", amount)
        return {payer: -amount + commission, payee: amount, AGENT_COMMISSION: -commission}
    if kind == "withdraw":
        fee = fees.charge("fees", "withdraw", amount)
        commission = fees.charge("commission", "withdraw", amount)
        return {payer: -(amount + fee), payee: amount + commission, FEE_INCOME: fee,
                AGENT_COMMISSION: -commission}  # fmt: skip
    if kind == "bill":
        fee = fees.charge("fees", "pay", amount)
        return {payer: -(amount + fee), biller_account: amount, FEE_INCOME: fee}
    if kind == "airtime":
        fee = fees.charge("fees", "buy", amount)
        return {payer: -(amount + fee), AIRTIME_SETTLEMENT: amount, FEE_INCOME: fee}
    raise ModelError(f"intent kind {intent.kind}: no effect known")


@dataclass
class Matching:
    """Intents and moves paired by (payer, amount)."""

    moves_of: dict[int, list[dict[str, Any]]]  # intent id -> its moves
    orphans: list[dict[str, Any]]  # moves no intent asked for
    wrong_kind: list[tuple[int, str]]  # (intent id, the move's kind) that does not fit


def match(intents: list[Intent], moves: list[dict[str, Any]]) -> Matching:
    by_key = {intent.key: intent for intent in intents if intent.is_money}
    if len(by_key) != sum(1 for intent in intents if intent.is_money):
        raise ModelError("two money intents share a payer and an amount: the workload is broken")
    moves_of: dict[int, list[dict[str, Any]]] = {}
    orphans, wrong_kind = [], []
    for move in moves:
        if move["kind"] in OPENING_KINDS and move["audit_id"] is not None:
            continue  # opening balances, issued by staff before the run
        intent = by_key.get((move["payer_msisdn"], move["amount_minor"]))
        if intent is None:
            orphans.append(move)
            continue
        moves_of.setdefault(intent.id, []).append(move)
        if MOVE_KINDS[intent.kind] != move["kind"]:
            wrong_kind.append((intent.id, move["kind"]))
    return Matching(moves_of, orphans, wrong_kind)


def expected_balances(
    intents: list[Intent],
    matching: Matching,
    opening: dict[str, int],
    fees: Fees,
    biller_account: int,
) -> Counter[Any]:
    """Every account the run touched: its opening balance plus the effect of each posted intent.
    Keys are msisdns (wallets, floats) and ledger ids (system accounts, the biller)."""
    expected: Counter[Any] = Counter(opening)
    expected[TRUST] -= sum(opening.values())  # the openings were issued from the trust account
    for intent in intents:
        moves = matching.moves_of.get(intent.id, [])
        if any(move["state"] == "posted" for move in moves):
            expected.update(effects(intent, fees, biller_account))
    return expected


def biller_account_id(snapshot: Any) -> int:
    return snapshot.biller_accounts[BILLER]
