"""Fault injection: one small class per SMSC failure mode, switched on and off at run time.

A fault is configured with a mapping of its parameters (`{"every_n": 5}`); `{}` switches it on with
its defaults, None switches it off. Every random choice comes from the simulator's one seeded
random.Random, so a run can be replayed.

Guarantee the tests rely on: a request the simulator throttles, rejects, nacks or withholds was not
acted on (no message stored), and a connection that is dropped processes nothing after the drop.
So an ESME that re-submits those requests loses and duplicates nothing.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError
from twisted.internet.interfaces import IReactorTime

from simulators.fields import Status
from smscore.pdu import PDU
from smscore.ratelimit import TokenBucket
from smscore.status import CommandStatus


class FaultError(ValueError):
    """An unknown fault or a bad parameter; the message starts with the fault's name."""


class Link(Protocol):
    """What a fault may do to one ESME connection (simulators.server.SimulatorProtocol)."""

    reactor: IReactorTime
    requests_answered: int

    def drop(self) -> None: ...

    def write_raw(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """How to answer a request instead of processing it: a status, a generic_nack, nothing, or later."""

    kind: Literal["status", "nack", "withhold", "delay"]
    status: int = 0
    delay_s: float = 0.0


class Fault(BaseModel):
    """Base: parameters are pydantic fields; hooks default to doing nothing."""

    model_config = ConfigDict(extra="forbid")
    name: ClassVar[str] = ""
    every_n: int | None = Field(None, ge=1)
    probability: float | None = Field(None, ge=0, le=1)
    _seen: int = PrivateAttr(0)

    def triggered(self, rng: random.Random) -> bool:
        """Count one occasion; fire on every Nth, with a probability, or always if neither is set."""
        self._seen += 1
        if self.every_n is not None:
            return self._seen % self.every_n == 0
        if self.probability is not None:
            return rng.random() < self.probability
        return True

    def request_verdict(self, pdu: PDU, rng: random.Random, now_s: float) -> Verdict | None:
        return None

    def bind_status(self, rng: random.Random) -> int | None:
        return None

    def after_answer(self, link: Link, rng: random.Random) -> None:
        return None

    def on_connected(self, link: Link) -> None:
        return None

    def redeliver(self, rng: random.Random) -> bool:
        return False

    def hold_s_for(self, rng: random.Random) -> float:
        return 0.0

    def lose_receipt(self, rng: random.Random) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class _StatusFault(Fault):
    status: Status = CommandStatus.ESME_RTHROTTLED

    def request_verdict(self, pdu: PDU, rng: random.Random, now_s: float) -> Verdict | None:
        return Verdict("status", self.status) if self.triggered(rng) else None


class Throttle(_StatusFault):
    """ESME_RTHROTTLED above `rate_per_s` (all binds together), or every N / with a probability."""

    name: ClassVar[str] = "throttle"
    rate_per_s: float | None = Field(None, gt=0)
    _bucket: TokenBucket | None = PrivateAttr(None)

    def request_verdict(self, pdu: PDU, rng: random.Random, now_s: float) -> Verdict | None:
        if self.rate_per_s is None:
            return super().request_verdict(pdu, rng, now_s)
        if self._bucket is None:
            self._bucket = TokenBucket(self.rate_per_s, now_s=now_s)
        return None if self._bucket.try_take(now_s) else Verdict("status", self.status)


class QueueFull(_StatusFault):
    """ESME_RMSGQFUL: the SMSC's store is full (every N / probability / always)."""

    name: ClassVar[str] = "queue_full"
    status: Status = CommandStatus.ESME_RMSGQFUL


class DelayResponses(Fault):
    """Process the request now but answer it `delay_s` later."""

    name: ClassVar[str] = "delay"
    delay_s: float = Field(1.0, gt=0)

    def request_verdict(self, pdu: PDU, rng: random.Random, now_s: float) -> Verdict | None:
        return Verdict("delay", delay_s=self.delay_s) if self.triggered(rng) else None


class WithholdResponses(Fault):
    """Ignore the request entirely: no answer, nothing stored; the ESME's request times out."""

    name: ClassVar[str] = "withhold"

    def request_verdict(self, pdu: PDU, rng: random.Random, now_s: float) -> Verdict | None:
        return Verdict("withhold") if self.triggered(rng) else None


class GenericNack(Fault):
    """Answer with generic_nack (status ESME_RSYSERR by default) instead of processing."""

    name: ClassVar[str] = "generic_nack"
    status: Status = CommandStatus.ESME_RSYSERR

    def request_verdict(self, pdu: PDU, rng: random.Random, now_s: float) -> Verdict | None:
        return Verdict("nack", self.status) if self.triggered(rng) else None


class DropConnection(Fault):
    """Close the connection after answering `after_pdus` requests on it, or `after_s` after connect."""

    name: ClassVar[str] = "drop_connection"
    after_pdus: int | None = Field(None, ge=1)
    after_s: float | None = Field(None, gt=0)

    def after_answer(self, link: Link, rng: random.Random) -> None:
        if self.after_pdus is not None and link.requests_answered >= self.after_pdus:
            link.drop()

    def on_connected(self, link: Link) -> None:
        if self.after_s is not None:
            link.reactor.callLater(self.after_s, link.drop)


class RejectBinds(Fault):
    """Refuse binds with `status` (every N / probability / always)."""

    name: ClassVar[str] = "reject_binds"
    status: Status = CommandStatus.ESME_RBINDFAIL

    def bind_status(self, rng: random.Random) -> int | None:
        return self.status if self.triggered(rng) else None


class Garbage(Fault):
    """After answering a request, write `length` random bytes and close: a corrupted link.

    Closing at once keeps the guarantee that nothing after the noise is processed: the ESME loses
    framing there and cannot see any later response."""

    name: ClassVar[str] = "garbage"
    length: int = Field(32, ge=4, le=4096)

    def after_answer(self, link: Link, rng: random.Random) -> None:
        if self.triggered(rng):
            noise = bytearray(rng.randbytes(self.length))
            noise[0] |= 0x80  # command_length >= 2**31: no peer can take it for a real PDU
            link.write_raw(bytes(noise))
            link.drop()


class Redeliver(Fault):
    """Send an acknowledged deliver_sm again, as an SMSC does whose deliver_sm_resp got lost."""

    name: ClassVar[str] = "redeliver"

    def redeliver(self, rng: random.Random) -> bool:
        return self.triggered(rng)


class HoldDelivery(Fault):
    """Keep accepted messages pending `hold_s` longer before their fate (every N / probability /
    all): time for a query_sm, cancel_sm or replace_sm to find them not yet delivered."""

    name: ClassVar[str] = "hold"
    hold_s: float = Field(60.0, gt=0, le=86_400)

    def hold_s_for(self, rng: random.Random) -> float:
        return self.hold_s if self.triggered(rng) else 0.0


class LoseReceipts(Fault):
    """Deliver the message but never send its delivery receipt, as a lossy SMSC does."""

    name: ClassVar[str] = "lose_receipts"

    def lose_receipt(self, rng: random.Random) -> bool:
        return self.triggered(rng)


FAULT_TYPES: dict[str, type[Fault]] = {
    cls.name: cls
    for cls in (
        Throttle,
        QueueFull,
        DelayResponses,
        WithholdResponses,
        GenericNack,
        DropConnection,
        RejectBinds,
        Garbage,
        Redeliver,
        HoldDelivery,
        LoseReceipts,
    )
}


def build_fault(name: str, params: Mapping[str, Any]) -> Fault:
    cls = FAULT_TYPES.get(name)
    if cls is None:
        raise FaultError(f"{name}: unknown fault; known: {', '.join(sorted(FAULT_TYPES))}")
    if not isinstance(params, Mapping):
        raise FaultError(f"{name}: parameters must be a table/object, or null to switch off")
    try:
        return cls.model_validate(dict(params))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise FaultError(f"{name}.{key}: {message}" if key else f"{name}: {message}") from None


def validate_faults(specs: Mapping[str, Any]) -> dict[str, Fault | None]:
    """Build every fault of a spec mapping (None / False = off) or raise FaultError."""
    if not isinstance(specs, Mapping):
        raise FaultError("faults must be an object mapping fault names to parameters")
    built: dict[str, Fault | None] = {}
    for name, params in specs.items():
        if params is None or params is False:
            if name not in FAULT_TYPES:
                raise FaultError(f"{name}: unknown fault; known: {', '.join(sorted(FAULT_TYPES))}")
            built[name] = None
        else:
            built[name] = build_fault(name, {} if params is True else params)
    return built


class FaultInjector:
    """The active faults, consulted by the simulator at each decision point; counts what they did
    (by verdict kind, and "drops") for Simulator.stats()."""

    def __init__(self, rng: random.Random, reactor: IReactorTime) -> None:
        self.rng = rng
        self.reactor = reactor
        self.active: dict[str, Fault] = {}
        self._counts: dict[str, int] = {}

    @property
    def counts(self) -> dict[str, int]:
        """How many times each action was taken: "status", "nack", "withhold", "delay", "drops"."""
        return dict(self._counts)

    def _count(self, action: str) -> None:
        self._counts[action] = self._counts.get(action, 0) + 1

    def link_dropped(self) -> None:
        """A fault closed an ESME's connection (Link.drop)."""
        self._count("drops")

    def configure(self, specs: Mapping[str, Any]) -> None:
        """Switch faults on (parameters) or off (None); all-or-nothing if any spec is bad."""
        for name, fault in validate_faults(specs).items():
            if fault is None:
                self.active.pop(name, None)
            else:
                self.active[name] = fault

    def clear(self) -> None:
        self.active.clear()

    def describe(self) -> dict[str, dict[str, Any]]:
        return {name: fault.describe() for name, fault in self.active.items()}

    def request_verdict(self, pdu: PDU) -> Verdict | None:
        if not self.active:
            return None
        now_s = self.reactor.seconds()
        for fault in self.active.values():
            verdict = fault.request_verdict(pdu, self.rng, now_s)
            if verdict is not None:
                self._count(verdict.kind)
                return verdict
        return None

    def bind_status(self) -> int | None:
        for fault in self.active.values():
            status = fault.bind_status(self.rng)
            if status is not None:
                return status
        return None

    def after_answer(self, link: Link) -> None:
        if not self.active:
            return
        for fault in list(self.active.values()):
            fault.after_answer(link, self.rng)

    def on_connected(self, link: Link) -> None:
        for fault in self.active.values():
            fault.on_connected(link)

    def hold_s(self) -> float:
        """Extra seconds an accepted message stays pending (the `hold` fault); 0 without one."""
        if not self.active:
            return 0.0
        held_s = sum(fault.hold_s_for(self.rng) for fault in list(self.active.values()))
        if held_s:
            self._count("hold")
        return held_s

    def should_lose_receipt(self) -> bool:
        """A receipt is due: True if a fault swallows it (counted as "receipts_lost")."""
        if not self.active:
            return False
        lost = any(fault.lose_receipt(self.rng) for fault in list(self.active.values()))
        if lost:
            self._count("receipts_lost")
        return lost

    def should_redeliver(self) -> bool:
        if not self.active:
            return False
        return any(fault.redeliver(self.rng) for fault in list(self.active.values()))
