"""Scenario and load runs started through the control API (the console's Run buttons), in-process.

POST /v1/runs {"kind": "scenario", "toml": TEXT}   -> 201 the run (TEXT: a scenario file's content)
POST /v1/runs {"kind": "load", "subscribers", "rate_per_s", "duration_s", "to"?, "text"?}
GET  /v1/runs                                       -> {"runs": [...]} newest last
GET  /v1/runs/{id}                                  -> the run

A run is {"id", "kind", "name", "state": running | passed | failed, "progress", "result",
"error", "started_at", "ended_at"}: a scenario's progress is {"step", "steps", "doing"}, a load
run's the tally so far (sent, acknowledged, failed, replies, in_flight); a load run's result is the
summary `smscore sim load` prints (passed: every MO acknowledged and answered once); a failed
scenario's error names the step and why. The same runs
as `smscore sim run-scenario` and `smscore sim load`, against this simulator without HTTP.
"""

from __future__ import annotations

import itertools
import tomllib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twisted.python.failure import Failure

from simulators.config import first_error
from simulators.load import LoadGenerator, LoadPlan, LoadTally, shortfall
from simulators.scenario import Scenario, ScenarioRunner, Step, _step_key
from simulators.targets import InProcessTarget

if TYPE_CHECKING:
    from simulators.simulator import Simulator

MAX_KEPT = 50  # finished runs remembered, newest kept
MAX_RUNNING = 2  # a third is refused (409): runs share the simulator with everything else
MAX_SCENARIO_BYTES = 256 * 1024
PROGRESS_EVERY_S = 0.5  # a load run's progress is published at most this often
Publish = Callable[[dict[str, Any]], None]


class RunRefused(ValueError):
    """A run that cannot start: a bad scenario or plan (400) or too many running (409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class LoadRequest(BaseModel):
    """A load run's plan as the API takes it; bounded so a click cannot swamp the simulator."""

    model_config = ConfigDict(extra="forbid")
    kind: str = "load"
    subscribers: int = Field(10, ge=1, le=100_000)
    rate_per_s: float = Field(10.0, gt=0, le=5_000)
    duration_s: float = Field(10.0, gt=0, le=600)
    to: str = Field("3456", min_length=1, max_length=21)
    text: str = Field("BAL", min_length=1, max_length=160)
    first_msisdn: int = 254_700_000_000
    drain_s: float = Field(5.0, ge=0, le=60)


@dataclass(slots=True)
class Run:
    id: str
    kind: str
    name: str
    started_at_s: float
    state: str = "running"
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    ended_at_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "state": self.state,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "started_at": self.started_at_s,
            "ended_at": self.ended_at_s,
        }


class Runs:
    def __init__(self, simulator: Simulator, publish: Publish) -> None:
        self.simulator = simulator
        self.reactor = simulator.reactor
        self.publish = publish
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._ids = itertools.count(1)

    def start(self, body: dict[str, Any]) -> Run:
        kind = body.get("kind")
        if kind == "scenario":
            return self._start_scenario(body)
        if kind == "load":
            return self._start_load(body)
        raise RunRefused('"kind" must be "scenario" or "load"')

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def runs(self) -> list[Run]:
        return list(self._runs.values())

    def _start_scenario(self, body: dict[str, Any]) -> Run:
        text = body.get("toml")
        if not isinstance(text, str):
            raise RunRefused('"toml" must be a string: the scenario file')
        if len(text.encode()) > MAX_SCENARIO_BYTES:
            raise RunRefused(f"scenario larger than {MAX_SCENARIO_BYTES} bytes")
        try:
            scenario = Scenario.model_validate(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise RunRefused(f"scenario: not TOML: {exc}") from None
        except ValidationError as exc:
            raise RunRefused(first_error("scenario", exc, _step_key)) from None
        run = self._new("scenario", scenario.name)
        run.progress = {"step": 0, "steps": len(scenario.step), "doing": None}

        def on_step(number: int, step: Step) -> None:
            run.progress = {"step": number, "steps": len(scenario.step), "doing": step.describe()}
            self._changed(run)

        target = InProcessTarget(self.simulator)
        done = ScenarioRunner(self.reactor, target, on_step=on_step).run(scenario)
        done.addCallbacks(lambda _: self._end(run, "passed"), lambda f: self._failed(run, f))
        return run

    def _start_load(self, body: dict[str, Any]) -> Run:
        try:
            asked = LoadRequest.model_validate(body)
            plan = LoadPlan(
                asked.subscribers, asked.rate_per_s, asked.duration_s, asked.to, asked.text,
                asked.first_msisdn, asked.drain_s,
            )  # fmt: skip
        except ValidationError as exc:
            raise RunRefused(first_error("load", exc)) from None
        except ValueError as exc:
            raise RunRefused(f"load: {exc}") from None
        name = f"{plan.subscribers} subscribers, {plan.rate_per_s:g}/s for {plan.duration_s:g}s"
        run = self._new("load", name)
        last_s = [0.0]

        def progress(tally: LoadTally) -> None:
            run.progress = {
                "sent": tally.sent,
                "total": plan.total,
                "acknowledged": tally.acknowledged,
                "failed": tally.failed,
                "replies": tally.replies,
                "in_flight": tally.in_flight,
            }
            if self.reactor.seconds() - last_s[0] >= PROGRESS_EVERY_S:
                last_s[0] = self.reactor.seconds()
                self._changed(run)

        generator = LoadGenerator(self.reactor, InProcessTarget(self.simulator), plan, progress)
        generator.run().addCallbacks(lambda summary: self._load_ended(run, summary),
                                     lambda f: self._failed(run, f))  # fmt: skip
        return run

    def _load_ended(self, run: Run, summary: dict[str, Any]) -> None:
        """Passed: every MO acknowledged and answered once; else failed, saying what was short."""
        short = shortfall(summary)
        run.error = ", ".join(short) or None
        self._end(run, "failed" if short else "passed", summary)

    def _new(self, kind: str, name: str) -> Run:
        running = sum(1 for run in self._runs.values() if run.state == "running")
        if running >= MAX_RUNNING:
            raise RunRefused(f"{running} runs are running; wait for one to end", 409)
        run = Run(str(next(self._ids)), kind, name, self.reactor.seconds())
        self._runs[run.id] = run
        while len(self._runs) > MAX_KEPT:
            oldest = next(iter(self._runs.values()))
            if oldest.state == "running":
                break
            self._runs.popitem(last=False)
        self._changed(run)
        return run

    def _end(self, run: Run, state: str, result: dict[str, Any] | None = None) -> None:
        run.state, run.result, run.ended_at_s = state, result, self.reactor.seconds()
        self._changed(run)

    def _failed(self, run: Run, failure: Failure) -> None:
        run.error = failure.getErrorMessage()
        self._end(run, "failed")

    def _changed(self, run: Run) -> None:
        self.publish({"type": "run", "id": run.id, "run": run.as_json()})
