"""Fraud rules, declared like commands: each is a named function over (conn, the transaction about
to happen, the `[fraud]` config) returning a Hit or None; `screen_txn` runs the enabled ones in
declaration order and returns the first hit. The rules are in daemon.security.fraud_rules and
daemon.security.anomaly; what a hit does (hold for review, or refuse) is daemon.security.fraud_holds.

A rule reads only committed history (moves, inbox, sim_swaps, devices) and the transaction itself:
it never writes, so screening twice gives the same answer and a refused command leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from daemon.money.moves import MoveKind
from daemon.security.fraud_config import FraudConfig


class Channel(StrEnum):
    PLAIN = "plain"  # a plain-text SMS: its sender may be spoofed
    APP = "app"  # decrypted from an enrolled device's app message (daemon.security app channel)
    USSD = "ussd"  # a USSD dialogue (daemon.ussd): the network's own session with the SIM


# Money leaving the payer's own wallet: what velocity, new recipient, anomaly and SIM swap look at.
MONEY_OUT = frozenset(
    {MoveKind.SEND, MoveKind.VOUCHER, MoveKind.WITHDRAW, MoveKind.BILL, MoveKind.TILL,
     MoveKind.AIRTIME}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Txn:
    """The transaction about to happen, as the rules see it."""

    kind: MoveKind
    payer_msisdn: str  # whose money moves (an agent's store for DEPOSIT)
    payee: str  # the payee's number, or what the move's detail names (a bill, a till)
    amount_minor: int
    now_ns: int
    sender_msisdn: str = ""  # who sent the command ("" = the payer); an assistant for its store
    channel: Channel = Channel.PLAIN

    @property
    def sender(self) -> str:
        return self.sender_msisdn or self.payer_msisdn


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    detail: str  # for staff (the review queue, the audit log): never a PIN or code
    score: float | None = None  # the anomaly score, when that rule hit


RuleCheck = Callable[[Connection, Txn, FraudConfig], Hit | None]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    check: RuleCheck
    enabled: Callable[[FraudConfig], bool]


RULES: dict[str, Rule] = {}


def rule(name: str, enabled: Callable[[FraudConfig], bool]) -> Callable[[RuleCheck], RuleCheck]:
    """Declare a rule: `@rule("velocity", lambda c: c.velocity.enabled)`."""

    def register(check: RuleCheck) -> RuleCheck:
        if name in RULES:
            raise ValueError(f"fraud rule {name!r} declared twice")
        RULES[name] = Rule(name, check, enabled)
        return check

    return register


def screen_txn(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    """The first enabled rule the transaction hits, or None (also when [fraud] enabled = false)."""
    if not config.enabled:
        return None
    _load_rules()
    for declared in RULES.values():
        if declared.enabled(config):
            hit = declared.check(conn, txn, config)
            if hit is not None:
                return hit
    return None


def _load_rules() -> None:
    # The rule modules register on import; imported here, not at the top, as they import this one.
    from daemon.security import anomaly, fraud_rules  # noqa: F401
