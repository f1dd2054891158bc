"""What the standard workloads text: planned MOs (sender, text, kind), seeded-random and repeatable.

Customers are `accounts` numbers from e2e.FIRST_MSISDN (PIN 1234, seeded by e2e.seed_database);
the mix also has AGENTS agent stores (PIN 2468, their short agent numbers) and one biller, KPLC
(8-digit accounts with a Luhn check digit). No sender texts the same money command twice in a run,
so neither the inbox's repeat rule nor the double-send guard changes what a command does; a BAL
or a malformed text may repeat (answered afresh, like any message).

The mix's weights (per 100 MOs), documented in BENCHMARKS.md "Issue 19: workloads":
SEND 30, BAL 20, DEPOSIT 10, WITHDRAW 10, PAY 10, BUY 10, REQ 5, malformed 5.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.e2e import FIRST_MSISDN, PIN

AGENT_PIN = "2468"
AGENTS = 20
FIRST_AGENT_MSISDN = 254_722_000_000
FIRST_AGENT_NUMBER = 300_000  # six digits, as a customer types it in WITHDRAW
BILLER = "KPLC"
BILLER_RULE = "digits:8,luhn"
MIX_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("SEND", 30), ("BAL", 20), ("DEPOSIT", 10), ("WITHDRAW", 10), ("PAY", 10), ("BUY", 10),
    ("REQ", 5), ("MALFORMED", 5),
)  # fmt: skip
MONEY_KINDS = frozenset({"SEND", "DEPOSIT", "WITHDRAW", "PAY", "BUY"})
# Texts the parser refuses before any PIN is read (a wrong PIN would count towards a lock-out).
MALFORMED = ("SEDN 0711 100", "SEND", "SEND to mum", "PAY KPLC", "BALANCE PLEASE", "%%%", "WITHDRAW x",
             "HELLO?", "DEPOSIT", "BUY lots")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Mo:
    sender: str
    text: str
    kind: str


def customer(index: int) -> str:
    return str(FIRST_MSISDN + index)


def agent(index: int) -> str:
    return str(FIRST_AGENT_MSISDN + index)


def agent_number(index: int) -> str:
    return str(FIRST_AGENT_NUMBER + index)


def national(msisdn: str) -> str:
    return "0" + msisdn[3:]


def luhn_account(body: int) -> str:
    """`body` (7 digits) with its Luhn check digit: an account KPLC's rule accepts."""
    digits = [int(d) for d in f"{body:07d}"]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if position % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return f"{body:07d}{(10 - total % 10) % 10}"


class Planner:
    """Draws MOs of a kind; `accounts` customers (at least 2)."""

    def __init__(self, accounts: int, seed: int) -> None:
        if accounts < 2:
            raise ValueError("at least 2 accounts")
        self.accounts = accounts
        self.rng = random.Random(seed)
        self._texts: set[tuple[str, str]] = set()

    def _two(self) -> tuple[str, str]:
        payer, payee = self.rng.sample(range(self.accounts), 2)
        return customer(payer), customer(payee)

    def _amount(self, low: int = 50, high: int = 1000) -> int:
        return self.rng.randint(low, high)

    def draw(self, kind: str) -> Mo:
        """One MO of `kind`; money commands never repeat (sender, text)."""
        while True:
            mo = self._draw_once(kind)
            if kind not in MONEY_KINDS:
                return mo
            if (mo.sender, mo.text) not in self._texts:
                self._texts.add((mo.sender, mo.text))
                return mo

    def _draw_once(self, kind: str) -> Mo:
        rng = self.rng
        if kind == "BAL":
            return Mo(customer(rng.randrange(self.accounts)), f"BAL {PIN}", kind)
        if kind == "SEND":
            payer, payee = self._two()
            return Mo(payer, f"SEND {payee} {self._amount(10)} {PIN}", kind)
        if kind == "DEPOSIT":
            store = agent(rng.randrange(AGENTS))
            to = national(customer(rng.randrange(self.accounts)))
            return Mo(store, f"DEPOSIT {to} {self._amount()} {AGENT_PIN}", kind)
        if kind == "WITHDRAW":
            at = agent_number(rng.randrange(AGENTS))
            payer = customer(rng.randrange(self.accounts))
            return Mo(payer, f"WITHDRAW {at} {self._amount()} {PIN}", kind)
        if kind == "PAY":
            account = luhn_account(rng.randrange(10**7))
            payer = customer(rng.randrange(self.accounts))
            return Mo(payer, f"PAY {BILLER} {account} {self._amount()} {PIN}", kind)
        if kind == "BUY":
            return Mo(
                customer(rng.randrange(self.accounts)), f"BUY {self._amount(10, 500)} {PIN}", kind
            )
        if kind == "REQ":
            payee, payer = self._two()
            return Mo(payee, f"REQ {national(payer)} {self._amount()}", kind)
        if kind == "MALFORMED":
            return Mo(customer(rng.randrange(self.accounts)), rng.choice(MALFORMED), kind)
        raise ValueError(f"no MO kind {kind!r}")


def plan_bal(accounts: int, total: int, seed: int) -> list[Mo]:
    planner = Planner(accounts, seed)
    return [planner.draw("BAL") for _ in range(total)]


def plan_send(accounts: int, total: int, seed: int) -> list[Mo]:
    planner = Planner(accounts, seed)
    return [planner.draw("SEND") for _ in range(total)]


def plan_mix(
    accounts: int, total: int, seed: int, weights: tuple[tuple[str, int], ...] = MIX_WEIGHTS
) -> list[Mo]:
    planner = Planner(accounts, seed)
    kinds = [kind for kind, _ in weights]
    chosen = planner.rng.choices(kinds, [weight for _, weight in weights], k=total)
    return [planner.draw(kind) for kind in chosen]
