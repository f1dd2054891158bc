"""What the simulated subscribers mean to do: one `Intent` per SMS or USSD dialogue, drawn from the
run's seeded random generator.

An intent that can move money names its payer, its payee and its amount. Amounts are unique per
payer over the whole run, so (payer, amount) names the intent a ledger move belongs to: a move that
names no intent, or two moves for one intent, is caught by the model. The text is what the phone
types; the model never reads the daemon's parse of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from daemon.chaos.world import BILLER, KES, People, Person

# Kinds of intent and how often each is drawn (weights).
WEIGHTS = {
    "send": 24,
    "deposit": 12,
    "withdraw": 9,
    "pay": 7,
    "buy": 6,
    "bal": 7,
    "req": 5,
    "big_send": 2,  # over the per-transaction limit: refused
    "wrong_pin": 3,
    "malformed": 4,
    "ussd_send": 5,
    "ussd_bal": 3,
}
MONEY_KINDS = frozenset(
    {"send", "deposit", "withdraw", "pay", "buy", "big_send", "wrong_pin", "reqpay", "ussd_send"}
)
# The ledger move kind (daemon.money.moves.MoveKind values) each money intent may make.
MOVE_KINDS = {
    "send": "send",
    "big_send": "send",
    "wrong_pin": "send",
    "reqpay": "send",
    "ussd_send": "send",
    "deposit": "deposit",
    "withdraw": "withdraw",
    "pay": "bill",
    "buy": "airtime",
}
MALFORMED = (
    "SEND",
    "SEND 0713 abc 1234",
    "PAY",
    "WITHDRAW 999 1234",
    "xyz!! ??",
    "BAL",
    "SEND 0713000002 -5 1234",
    "BUY 100000000000000 1234",
    "DEPOSIT 0713000001 100 1234",
    "PAY KPLC 12 100 1234",
    "send 0713000002 50",
    "\u00a1Hola! \u20ac5",
)
WRONG_PIN = "9999"


@dataclass
class Intent:
    id: int
    kind: str
    msisdn: str  # who sends it
    text: str | None = None  # the SMS; None for a USSD dialogue
    payer: str | None = None
    payee: str | None = None
    amount_minor: int | None = None
    ussd_answers: tuple[str, ...] = ()  # a USSD dialogue's answers, screen by screen
    hang_up: bool = False  # a USSD subscriber who hangs up right after the PIN
    injected_at_s: float | None = None
    acked_at_s: float | None = None
    failed: str | None = None  # why the SMSC could not deliver it (never acknowledged)

    @property
    def is_money(self) -> bool:
        return self.kind in MONEY_KINDS

    @property
    def key(self) -> tuple[str, int] | None:
        if self.payer is None or self.amount_minor is None:
            return None
        return self.payer, self.amount_minor


def national(msisdn: str) -> str:
    return "0" + msisdn[3:]


def kes(amount_minor: int) -> str:
    """An amount as the daemon's replies write it: KES 1,234.50."""
    return f"KES {amount_minor // KES:,}.{amount_minor % KES:02d}"


@dataclass
class IntentMaker:
    """Draws intents; keeps every payer's amounts unique."""

    rng: random.Random
    people: People
    next_id: int = 1
    used: dict[str, set[int]] = field(default_factory=dict)

    def amount(self, payer: str, low: int, high: int) -> int:
        """A whole-shilling amount in [low, high] this payer has not used yet (minor units)."""
        used = self.used.setdefault(payer, set())
        while True:
            minor = self.rng.randint(low, high) * KES
            if minor not in used:
                used.add(minor)
                return minor

    def _new(self, kind: str, msisdn: str, **fields) -> Intent:
        intent = Intent(self.next_id, kind, msisdn, **fields)
        self.next_id += 1
        return intent

    def draw(self, busy_ussd: set[str]) -> Intent:
        kind = self.rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
        customer = self.rng.choice(self.people.customers)
        if kind.startswith("ussd") and customer.msisdn in busy_ussd:
            kind = "bal"  # one dialogue at a time per phone
        return getattr(self, f"_{kind}")(customer)

    def _other(self, customer: Person) -> Person:
        while True:
            other = self.rng.choice(self.people.customers)
            if other.msisdn != customer.msisdn:
                return other

    def _send(self, customer: Person, low: int = 10, high: int = 3_000, pin: str = "") -> Intent:
        payee = self._other(customer)
        amount = self.amount(customer.msisdn, low, high)
        text = f"SEND {national(payee.msisdn)} {amount // KES} {pin or customer.pin}"
        return self._new("send", customer.msisdn, text=text, payer=customer.msisdn,
                         payee=payee.msisdn, amount_minor=amount)  # fmt: skip

    def _big_send(self, customer: Person) -> Intent:
        intent = self._send(customer, 20_001, 40_000)
        intent.kind = "big_send"
        return intent

    def _wrong_pin(self, customer: Person) -> Intent:
        intent = self._send(customer, pin=WRONG_PIN)
        intent.kind = "wrong_pin"
        return intent

    def _deposit(self, customer: Person) -> Intent:
        agent = self.rng.choice(self.people.agents)
        amount = self.amount(agent.msisdn, 50, 5_000)
        text = f"DEPOSIT {national(customer.msisdn)} {amount // KES} {agent.pin}"
        return self._new("deposit", agent.msisdn, text=text, payer=agent.msisdn,
                         payee=customer.msisdn, amount_minor=amount)  # fmt: skip

    def _withdraw(self, customer: Person) -> Intent:
        agent = self.rng.choice(self.people.agents)
        amount = self.amount(customer.msisdn, 50, 2_000)
        text = f"WITHDRAW {agent.agent_number} {amount // KES} {customer.pin}"
        return self._new("withdraw", customer.msisdn, text=text, payer=customer.msisdn,
                         payee=agent.msisdn, amount_minor=amount)  # fmt: skip

    def _pay(self, customer: Person) -> Intent:
        amount = self.amount(customer.msisdn, 10, 2_000)
        account = f"{self.rng.randrange(10**6):06d}"
        text = f"PAY {BILLER} {account} {amount // KES} {customer.pin}"
        return self._new("pay", customer.msisdn, text=text, payer=customer.msisdn,
                         amount_minor=amount)  # fmt: skip

    def _buy(self, customer: Person) -> Intent:
        amount = self.amount(customer.msisdn, 5, 500)
        if self.rng.random() < 0.3:
            text = f"BUY {amount // KES} {national(self._other(customer).msisdn)} {customer.pin}"
        else:
            text = f"BUY {amount // KES} {customer.pin}"
        return self._new("buy", customer.msisdn, text=text, payer=customer.msisdn,
                         amount_minor=amount)  # fmt: skip

    def _bal(self, customer: Person) -> Intent:
        word = "MINI" if self.rng.random() < 0.2 else "BAL"
        return self._new("bal", customer.msisdn, text=f"{word} {customer.pin}")

    def _req(self, customer: Person) -> Intent:
        """REQ from this customer to another, who pays it (a `reqpay` intent) once asked."""
        payer = self._other(customer)
        amount = self.amount(payer.msisdn, 10, 1_500)
        text = f"REQ {national(payer.msisdn)} {amount // KES} chaos"
        return self._new("req", customer.msisdn, text=text, payer=payer.msisdn,
                         payee=customer.msisdn, amount_minor=amount)  # fmt: skip

    def reqpay(self, request: Intent, code: str) -> Intent:
        """The payer of `request` answers it: PAY <code> <PIN>."""
        assert request.payer is not None
        pin = next(p.pin for p in self.people.customers if p.msisdn == request.payer)
        return self._new("reqpay", request.payer, text=f"PAY {code} {pin}", payer=request.payer,
                         payee=request.payee, amount_minor=request.amount_minor)  # fmt: skip

    def _malformed(self, customer: Person) -> Intent:
        return self._new("malformed", customer.msisdn, text=self.rng.choice(MALFORMED))

    def _ussd_send(self, customer: Person) -> Intent:
        payee = self._other(customer)
        amount = self.amount(customer.msisdn, 10, 1_000)
        answers = ("1", national(payee.msisdn), str(amount // KES), customer.pin)
        return self._new("ussd_send", customer.msisdn, payer=customer.msisdn, payee=payee.msisdn,
                         amount_minor=amount, ussd_answers=answers,
                         hang_up=self.rng.random() < 0.15)  # fmt: skip

    def _ussd_bal(self, customer: Person) -> Intent:
        return self._new("ussd_bal", customer.msisdn, ussd_answers=("6", customer.pin))
