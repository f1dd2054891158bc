"""Scripted conversations: subscriber X sends T and expects a reply matching P within N seconds.

    name = "balance"
    [[step]]
    from = "254711000001"
    to = "3456"
    text = "BAL 1234"
    expect = "Balance: \\d+"     # a regular expression searched in the reply (optional)
    within_s = 5

A step without `text` only waits for a message to `from`. `reply_to` (default: `from`) names the
phone that must receive the reply.
"""

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from simulators.config import ConfigError, _first_error
from simulators.targets import Target


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    source: str = Field(alias="from", min_length=1)
    to: str = ""
    text: str | None = None
    expect: str | None = None
    reply_to: str | None = None
    within_s: float = Field(10.0, gt=0)

    @field_validator("expect")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def describe(self) -> str:
        if self.text is None:
            return f"{self.source} waits for {self.expect!r}"
        return f"{self.source} -> {self.to}: {self.text!r}"


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "scenario"
    step: tuple[Step, ...] = Field(min_length=1)


class StepFailed(Exception):
    """Which step failed and why (one line)."""


def load_scenario(path: str | Path) -> Scenario:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(str(path), exc)) from None


class ScenarioRunner:
    """Runs steps in order against a target, polling subscribers' inboxes every poll_s."""

    def __init__(self, reactor: IReactorTime, target: Target, poll_s: float = 0.1) -> None:
        self.reactor = reactor
        self.target = target
        self.poll_s = poll_s

    @inlineCallbacks
    def run(self, scenario: Scenario) -> Any:
        _, cursor = yield self.target.messages_since(1 << 62)
        for number, step in enumerate(scenario.step, start=1):
            if step.text is not None:
                if not step.to:
                    raise StepFailed(
                        f"step {number} ({step.describe()}): 'to' is required with text"
                    )
                try:
                    yield self.target.send_mo(step.source, step.to, step.text, True)
                except Exception as exc:
                    raise StepFailed(
                        f"step {number} ({step.describe()}): MO not accepted: {exc}"
                    ) from None
            if step.expect is not None:
                cursor = yield self._await_reply(number, step, cursor)

    @inlineCallbacks
    def _await_reply(self, number: int, step: Step, cursor: int) -> Any:
        phone = step.reply_to or step.source
        pattern = re.compile(step.expect or "")
        deadline_s = self.reactor.seconds() + step.within_s
        seen: list[str] = []
        while True:
            messages, last = yield self.target.messages_since(cursor)
            for message in messages:
                cursor = max(cursor, message["seq"])
                if message["msisdn"] != phone:
                    continue
                if pattern.search(message["text"]):
                    return cursor
                seen.append(message["text"])
            cursor = max(cursor, last)
            if self.reactor.seconds() >= deadline_s:
                got = f"got {seen!r}" if seen else "got nothing"
                raise StepFailed(
                    f"step {number} ({step.describe()}): no reply to {phone} matching "
                    f"{step.expect!r} within {step.within_s:g}s; {got}"
                )
            yield deferLater(self.reactor, self.poll_s, lambda: None)


def run_scenario(reactor: IReactorTime, target: Target, scenario: Scenario) -> Deferred:
    return ScenarioRunner(reactor, target).run(scenario)
