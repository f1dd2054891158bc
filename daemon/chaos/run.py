"""One chaos run on the reactor: the SMSC simulator in this process, `smscore run` as a child; the
load and the plan's faults and kills for `duration_s`; then every fault off and a drain until the
system is quiet (or `drain_s` passed); then the daemon stopped and the evidence handed to the model.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import LoopingCall, deferLater
from twisted.internet.threads import deferToThread

from daemon.chaos import quiet
from daemon.chaos.driver import Driver
from daemon.chaos.intents import IntentMaker
from daemon.chaos.plan import Plan
from daemon.chaos.process import DaemonProcess, LockHolder, free_port
from daemon.chaos.switch import FaultSwitch
from daemon.chaos.timeline import SAMPLE_S, Sample, Timeline
from daemon.chaos.world import People, daemon_settings, simulator_config

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

TICK_S = 0.05
MIN_UP_S = 1.0  # a kill waits until the daemon has been bound this long (else it never works)
QUIET_POLL_S = 0.5
GRACE_S = 1.0  # after quiet: late copies still reach the phones


@dataclass(frozen=True)
class Options:
    seed: int
    duration_s: float = 30.0
    rate_per_s: float = 8.0
    kills: int = 5
    customers: int = 30
    agents: int = 3
    drain_s: float = 90.0


@dataclass
class Evidence:
    """What the model is given: the run's own record; the database is read separately."""

    driver: Driver
    people: People
    daemon: DaemonProcess
    timeline: Timeline
    switch: FaultSwitch
    simulator_stats: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False
    drain_took_s: float = 0.0
    daemon_exit: int | None = None
    died_by_itself: list[int] = field(default_factory=list)  # exit codes of unasked exits
    waited_for: dict[str, int] = field(default_factory=dict)


class ChaosRun:
    def __init__(self, reactor: IReactorTime, options: Options, plan: Plan, work: Path) -> None:
        from daemon.config import build_config
        from simulators.simulator import Simulator

        self.reactor = reactor
        self.options = options
        self.plan = plan
        self.work = work
        self.simulator = Simulator(reactor, simulator_config(options.seed))
        addresses = self.simulator.start_listening()
        assert addresses.http is not None
        airtime_url = f"http://{addresses.http[0]}:{addresses.http[1]}/airtime/v1"
        settings = daemon_settings(work, addresses.smpp[1], airtime_url, free_port())
        config_path = work / "smscore.toml"
        config_path.write_text(tomli_w.dumps(settings), encoding="utf-8")
        self.config = build_config(settings, str(config_path))
        self.db_path = Path(self.config.database_url.removeprefix("sqlite:///"))
        lifetime_s = options.duration_s + options.drain_s + 600
        self.daemon = DaemonProcess(work, config_path, lifetime_s)
        self.switch = FaultSwitch(self.simulator, LockHolder(self.db_path))
        self.timeline = Timeline()
        self.people: People | None = None
        self.driver: Driver | None = None
        self._start_s = 0.0
        self._bound_since_s: float | None = None
        self._kills = list(zip(plan.kills_at_s, plan.restart_delays_s, strict=True))
        self._restart_at_s: float | None = None
        self._owed = 0.0
        self._next_sample_s = 0.0
        self._died: list[int] = []
        self._on: set[int] = set()
        self._done: set[int] = set()
        self._loading = True
        self.waited_for: Counter[str] = Counter()  # drain polls that found each thing busy

    def seed(self, people: People) -> None:
        from daemon.chaos.world import seed_database

        self.people = seed_database(self.config, people)
        rng = random.Random(self.options.seed ^ 0x5EED)
        self.driver = Driver(self.simulator, IntentMaker(rng, self.people))

    @property
    def elapsed_s(self) -> float:
        return self.reactor.seconds() - self._start_s

    @inlineCallbacks
    def run(self) -> Any:
        assert self.driver is not None and self.people is not None
        self.daemon.start()
        yield self._wait(lambda: self.simulator.factory.bound_protocols, 60.0)
        self._start_s = self.reactor.seconds()
        self.timeline.started_at_s = self._start_s  # the real reactor: wall-clock seconds
        ticker = LoopingCall(self._tick)
        ticker.clock = self.reactor
        ticking = ticker.start(TICK_S, now=True)
        yield deferLater(self.reactor, self.options.duration_s, lambda: None)
        # Kills that slipped (the daemon was still starting) strike under load too, up to twice
        # the planned duration.
        yield self._wait(lambda: not self._kills, self.options.duration_s)
        self.switch.all_off()
        self.timeline.close(self.elapsed_s)
        self._loading = False
        self.driver.answering = False
        drain_started_s = self.reactor.seconds()
        is_quiet = yield self._wait(self._quiet, self.options.drain_s, QUIET_POLL_S)
        yield deferLater(self.reactor, GRACE_S, lambda: None)
        ticker.stop()
        yield ticking
        self.driver.collect()
        self._sample(force=True)
        evidence = Evidence(self.driver, self.people, self.daemon, self.timeline, self.switch)
        evidence.quiet = bool(is_quiet)
        evidence.drain_took_s = round(self.reactor.seconds() - drain_started_s, 2)
        evidence.waited_for = dict(self.waited_for)
        evidence.simulator_stats = self.simulator.stats()
        # In a thread: the simulator must keep answering while the daemon drains and unbinds.
        evidence.daemon_exit = yield deferToThread(self.daemon.stop)
        self.switch.lock.join()
        evidence.died_by_itself = self._died
        yield self.simulator.stop()
        return evidence

    def _tick(self) -> None:
        assert self.driver is not None
        now_s = self.elapsed_s
        self._watch_daemon(now_s)
        if self._loading:
            self._switch_faults(now_s)
            self._owed += self.options.rate_per_s * TICK_S
            while self._owed >= 1:
                self._owed -= 1
                self.driver.send_new()
        self._maybe_kill(now_s)
        self.driver.collect()
        self._sample()

    def _watch_daemon(self, now_s: float) -> None:
        if self._restart_at_s is not None:
            if now_s >= self._restart_at_s:
                self._restart_at_s = None
                self.daemon.start()
            return
        code = self.daemon.exited_unasked()
        if code is not None:  # it died by itself: a finding; start it again
            self._died.append(code)
            self.daemon.start()
        bound = bool(self.simulator.factory.bound_protocols)
        if not bound:
            self._bound_since_s = None
        elif self._bound_since_s is None:
            self._bound_since_s = now_s

    def _maybe_kill(self, now_s: float) -> None:
        if not self._kills or self._restart_at_s is not None or self._bound_since_s is None:
            return
        at_s, delay_s = self._kills[0]
        if now_s < at_s or now_s - self._bound_since_s < MIN_UP_S:
            return
        self._kills.pop(0)
        self.daemon.kill()
        self.timeline.kills.append(now_s)
        self._bound_since_s = None
        self._restart_at_s = now_s + delay_s

    def _switch_faults(self, now_s: float) -> None:
        for index, episode in enumerate(self.plan.episodes):
            if episode.start_s <= now_s and index not in self._on and index not in self._done:
                self._on.add(index)
                self.switch.on(episode)
                self.timeline.fault_on(index, episode.kind, now_s)
            elif index in self._on and now_s >= episode.end_s:
                self._on.discard(index)
                self._done.add(index)
                self.switch.off(episode)
                self.timeline.fault_off(index, now_s)

    def _sample(self, force: bool = False) -> None:
        now_s = self.elapsed_s
        if not force and now_s < self._next_sample_s:
            return
        self._next_sample_s = now_s + SAMPLE_S
        assert self.driver is not None
        intents = self.driver.intents
        self.timeline.sample(
            Sample(
                round(now_s, 2),
                len(intents),
                sum(1 for intent in intents if intent.acked_at_s is not None),
                len(self.driver.messages),
                bool(self.simulator.factory.bound_protocols),
            )
        )

    def _quiet(self) -> bool:
        """Nothing left to happen: every kill done, every MO acknowledged, nothing waiting at the
        SMSC, no dialogue open, and in the database nothing queued, nothing pending. What it
        still waited for is counted (the drain's `waited_for`)."""
        assert self.driver is not None
        busy = quiet.busy_with(self.db_path)
        if self._kills or self._restart_at_s is not None:
            busy.append("kills")
        up_s = None if self._bound_since_s is None else self.elapsed_s - self._bound_since_s
        if up_s is None or up_s < MIN_UP_S:  # a daemon still starting has not recovered yet
            busy.append("daemon_starting")
        if self.driver.outstanding:
            busy.append("mo_acks")
        if self.simulator.delivery.pending:
            busy.append("smsc_deliveries")
        if self.simulator.ussd.open_count:
            busy.append("ussd_dialogues")
        self.waited_for.update(busy)
        return not busy

    @inlineCallbacks
    def _wait(self, condition: Any, timeout_s: float, poll_s: float = 0.1) -> Any:
        deadline_s = self.reactor.seconds() + timeout_s
        while not condition():
            if self.reactor.seconds() >= deadline_s:
                return False
            yield deferLater(self.reactor, poll_s, lambda: None)
        return True
