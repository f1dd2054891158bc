"""The load while a workload runs, on the reactor: MO i injected when due (open loop), every SMS the
phones get recorded (for the check after the run, benchmarks.answers), and live figures for the
progress display: offered, answered (the next SMS to a sender with an MO waiting) and p99 so far.
The live figures are an estimate (a SEND's notice to a payee who also waits counts as an answer);
the JSON's figures come from the database after the run."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.answers import OPEN_MOVE_STATES, Delivered
from benchmarks.e2e import SHORT_CODE, percentile
from benchmarks.traffic import Mo

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from simulators.simulator import Simulator
    from simulators.store import HandsetMessage

# Outbox rows still on their way (a receipt awaited counts: a DLR-gated posting waits on it).
QUIET_SQL = (
    "SELECT (SELECT count(*) FROM outbox WHERE status IN ('queued', 'in_flight', 'submitted'))"
    f" + (SELECT count(*) FROM moves WHERE state IN {OPEN_MOVE_STATES!r})"
    " + (SELECT count(*) FROM inbox WHERE status = 'new')"
)


@dataclass
class LiveTally:
    sent: int = 0
    acked: int = 0
    ack_failed: int = 0
    answered: int = 0  # live estimate
    latencies_ms: list[float] = field(default_factory=list)  # live estimate, measured MOs
    inject_lag_ms: list[float] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)


class OfferedLoad:
    """`mos` offered at `rate_per_s` from `start_s`; `opener(message) -> bool` opens an encrypted
    reply (None: plain text)."""

    def __init__(
        self, reactor: IReactorTime, simulator: Simulator, mos: Sequence[Mo], rate_per_s: float,
        warmup_count: int, opener: Callable[[HandsetMessage], bool] | None = None,
    ) -> None:  # fmt: skip
        self.reactor = reactor
        self.simulator = simulator
        self.mos = mos
        self.rate_per_s = rate_per_s
        self.warmup_count = warmup_count
        self.opener = opener
        self.tally = LiveTally()
        self.start_s = 0.0
        self._waiting: dict[str, deque[tuple[float, bool]]] = {}
        self._cursor = simulator.handsets.last_seq

    @property
    def total(self) -> int:
        return len(self.mos)

    def due_at(self, index: int) -> float:
        return self.start_s + index / self.rate_per_s

    def tick(self) -> None:
        now_s = self.reactor.seconds()
        tally = self.tally
        while tally.sent < len(self.mos) and self.due_at(tally.sent) <= now_s:
            index = tally.sent
            mo = self.mos[index]
            due, measured = self.due_at(index), index >= self.warmup_count
            tally.sent += 1
            if measured:
                tally.inject_lag_ms.append((now_s - due) * 1000)
            self._waiting.setdefault(mo.sender, deque()).append((due, measured))
            acked = self.simulator.inject_mo(mo.sender, SHORT_CODE, mo.text)
            acked.addCallbacks(self._acked, self._ack_failed)

    def _acked(self, _result: Any) -> None:
        self.tally.acked += 1

    def _ack_failed(self, _failure: Any) -> None:
        self.tally.ack_failed += 1

    def collect(self) -> None:
        handsets = self.simulator.handsets
        newest = handsets.last_seq
        if newest == self._cursor:
            return
        for message in handsets.since(self._cursor, newest - self._cursor):
            self._received(message)
        self._cursor = newest

    def _received(self, message: HandsetMessage) -> None:
        opened = self.opener(message) if self.opener is not None else None
        self.tally.delivered.append(
            Delivered(message.msisdn, message.message_ids[0], message.delivered_at_s, opened)
        )
        waiting = self._waiting.get(message.msisdn)
        if waiting:
            due, measured = waiting.popleft()
            self.tally.answered += 1
            if measured:
                self.tally.latencies_ms.append((message.delivered_at_s - due) * 1000)

    def live(self) -> dict[str, Any]:
        tally = self.tally
        recent = sorted(tally.latencies_ms[-5000:])
        return {"offered": tally.sent, "answered": tally.answered, "p99_ms": percentile(recent, 99)}

    @property
    def finished_sending(self) -> bool:
        return self.tally.sent >= len(self.mos)


def quiet(db_path: Path) -> bool:
    """Nothing left to do in the daemon: no MO unhandled, no SMS unsent or awaiting its receipt,
    no move open. A read of the WAL database beside the daemon (the counts are index scans)."""
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1.0) as conn:
            return conn.execute(QUIET_SQL).fetchone()[0] == 0
    except sqlite3.Error:
        return False
