"""Switching the plan's fault episodes on and off: on the SMSC simulator (its faults, its receipt
mix), on its airtime provider, and the database lock holder. Episodes of one kind may overlap: the
kind stays on until the last of them ends."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from daemon.chaos.plan import Episode
from daemon.chaos.process import LockHolder

if TYPE_CHECKING:
    from simulators.simulator import Simulator

NORMAL_DLR_DELAY_S = 0.05
SIMULATOR_FAULTS = frozenset(
    {
        "dropped_links",
        "throttling",
        "lost_responses",
        "delayed_responses",
        "generic_nacks",
        "redelivered_mos",
        "lost_receipts",
    }
)


@dataclass
class FaultSwitch:
    simulator: Simulator
    lock: LockHolder
    active: Counter[str] = field(default_factory=Counter)
    started: Counter[str] = field(default_factory=Counter)
    _receipts: dict[str, Any] = field(default_factory=dict)  # late_receipts / undelivered_replies

    def on(self, episode: Episode) -> None:
        self.active[episode.kind] += 1
        self.started[episode.kind] += 1
        kind, params = episode.kind, episode.params
        if kind in SIMULATOR_FAULTS:
            self.simulator.faults.configure(params)
        elif kind in ("late_receipts", "undelivered_replies"):
            self._receipts[kind] = params
            self._apply_receipts()
        elif kind == "airtime_failures":
            self.simulator.airtime.configure({"default": params})
        elif kind == "db_lock":
            self.lock.hold(episode.duration_s)

    def off(self, episode: Episode) -> None:
        self.active[episode.kind] -= 1
        if self.active[episode.kind] > 0:
            return
        del self.active[episode.kind]
        kind = episode.kind
        if kind in SIMULATOR_FAULTS:
            self.simulator.faults.configure(dict.fromkeys(episode.params))
        elif kind in ("late_receipts", "undelivered_replies"):
            self._receipts.pop(kind, None)
            self._apply_receipts()
        elif kind == "airtime_failures":
            self.simulator.airtime.configure({"default": None})

    def all_off(self) -> None:
        self.simulator.faults.clear()
        self._receipts.clear()
        self._apply_receipts()
        self.simulator.airtime.configure({"default": None})
        self.lock.release()
        self.active.clear()

    def _apply_receipts(self) -> None:
        """The receipt mix the SMSC gives each newly accepted message from now on."""
        from simulators.config import DlrConfig
        from simulators.receipts import OutcomePicker

        late = self._receipts.get("late_receipts")
        undeliv = self._receipts.get("undelivered_replies")
        outcomes = {"DELIVRD": 1.0}
        if undeliv is not None:
            outcomes = {"DELIVRD": 1 - undeliv["undeliv"], "UNDELIV": undeliv["undeliv"]}
        delay_s = late["delay_s"] if late is not None else NORMAL_DLR_DELAY_S
        config = DlrConfig(delay_s=delay_s, outcomes=outcomes)
        self.simulator.outcomes = OutcomePicker(config, self.simulator.random)

    def kinds_on(self) -> list[str]:
        kinds = set(self.active)
        if self.lock.holding:
            kinds.add("db_lock")
        else:
            kinds.discard("db_lock")
        return sorted(kinds)
