r"""Scripted conversations: subscriber X sends T and expects a reply matching P within N seconds.

A scenario file is TOML (or YAML, named *.yaml / *.yml: the same keys, `step` a list of mappings):
an optional `name` and one `[[step]]` table per step, run in order; step 1 is the first, in errors found when the file is read and in failures at run time alike. This example
runs as it is against `smscore demo` (whose replies come from daemon/replies.py):

    name = "balance"

    [[step]]
    from = "254712000002"
    to = "12345"
    text = "PING"
    expect = "^PONG$"

    [[step]]
    from = "254712000002"
    to = "12345"
    text = "BAL 7390"
    expect = 'Your smscore balance is KES [0-9,]+\.[0-9]{2}\.'
    within_s = 5

`expect` is a regular expression searched in the reply (a TOML 'literal string' keeps its
backslashes as they are). A step without `text` only waits for a message to `from`; a step without
`expect` does not wait. `reply_to` (default: `from`) names the phone that must receive the reply.

A step may instead play a USSD dialogue: ussd_start, ussd_expect, ussd_answer, ussd_abort,
ussd_wait_timeout (simulators/ussd_scenario.py has an example).
"""

import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from simulators.config import ConfigError, Location, dotted_key, first_error, read_toml
from simulators.store import BEYOND_LAST_SEQ, resume_from
from simulators.ussd_scenario import FORMAT_HELP as USSD_HELP
from simulators.ussd_scenario import USSD_KEYS, UssdSteps, describe, ussd_action

if TYPE_CHECKING:  # the CLI imports this module for its help text: keep the simulator out of it
    from simulators.targets import Target

DEFAULT_WITHIN_S = 10.0
POLL_S = (
    0.1  # how often a waiting step looks at the inboxes: a tenth of a second is no delay to see
)


def _unwrapped(text: str) -> str:
    """`text` indented, each of its paragraphs marked for click to leave as it is."""
    return "\n\n".join("\b\n" + textwrap.indent(part, "  ") for part in text.split("\n\n"))


EXAMPLE = r"""name = "balance"

[[step]]
from = "254712000002"
to = "12345"
text = "PING"
expect = "^PONG$"

[[step]]
from = "254712000002"
to = "12345"
text = "BAL 7390"
expect = 'Your smscore balance is KES [0-9,]+\.[0-9]{2}\.'
within_s = 5
"""

# What `smscore sim run-scenario --help` shows; "\b" keeps click from rewrapping the next block.
FORMAT_HELP = f"""A scenario file is TOML (or YAML if named *.yaml or *.yml: the same
keys, `step` a list; quote numbers there, "254712000002", as YAML would
read them as integers): an optional `name` and one [[step]] table per
step, run in order (step 1 is the first). Keys of a step:

\b
  from      the subscriber who sends (required)
  to        the number the SMS goes to (required with text)
  text      what the subscriber sends; without it the step only waits
  expect    a regular expression searched in the reply; without it the
            step does not wait (a TOML 'literal string' keeps backslashes)
  reply_to  the phone that must receive the reply (default: from)
  within_s  seconds to wait for the reply (default {DEFAULT_WITHIN_S:g})

{USSD_HELP}

This example runs as it is against `smscore demo` (subscriber 254712000002,
PIN 7390, short code 12345):

{_unwrapped(EXAMPLE)}"""


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    source: str = Field(alias="from", min_length=1)
    to: str = ""
    text: str | None = None
    expect: str | None = None
    reply_to: str | None = None
    within_s: float = Field(DEFAULT_WITHIN_S, gt=0)
    # USSD (simulators.ussd_scenario): at most one of these per step, without text/expect/to.
    ussd_start: str | None = Field(None, min_length=1)
    ussd_answer: str | None = None
    ussd_expect: str | None = None
    regex: bool = False  # ussd_expect is a regular expression (else: text the screen contains)
    final: bool | None = None  # ussd_expect: the screen must (not) end the dialogue
    ussd_abort: bool = False
    ussd_wait_timeout: bool = False
    system_id: str | None = None  # ussd_start: the account to dial through

    @field_validator("expect")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            _compiled(value)
        return value

    @model_validator(mode="after")
    def _one_action(self) -> "Step":
        actions = [key for key in USSD_KEYS if getattr(self, key) not in (None, False)]
        if len(actions) > 1:
            raise ValueError(f"one USSD action per step, not {' and '.join(actions)}")
        sms = [key for key in ("to", "text", "expect", "reply_to") if getattr(self, key)]
        if actions and sms:
            raise ValueError(f"{actions[0]} goes without {', '.join(sms)}")
        if self.regex and self.ussd_expect is not None:
            _compiled(self.ussd_expect)
        return self

    def describe(self) -> str:
        action = ussd_action(self)
        if action is not None:
            return describe(self, action)
        if self.text is None:
            return f"{self.source} waits for {self.expect!r}"
        return f"{self.source} -> {self.to}: {self.text!r}"


def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "scenario"
    step: tuple[Step, ...] = Field(min_length=1)


class StepFailed(Exception):
    """Which step failed and why (one line)."""


def load_scenario(path: str | Path) -> Scenario:
    data = read_yaml(path) if Path(path).suffix.lower() in YAML_SUFFIXES else read_toml(path)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(first_error(str(path), exc, _step_key)) from None


YAML_SUFFIXES = frozenset({".yaml", ".yml"})


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The file's YAML (one document, a mapping) as a dict; ConfigError naming the file if not."""
    import yaml  # only scenario files named *.yaml need it

    try:
        with open(path, "rb") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{path}: not valid YAML{line}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a scenario is a mapping (name, step), not {type(data).__name__}"
        )
    return data


def _step_key(loc: Location) -> str:
    """('step', 0, 'expect') -> 'step 1: expect': steps count from 1, as at run time."""
    if len(loc) >= 2 and loc[0] == "step" and isinstance(loc[1], int):
        rest = dotted_key(loc[2:]) if len(loc) > 2 else ""
        return f"step {loc[1] + 1}" + (f": {rest}" if rest else "")
    return dotted_key(loc)


class ScenarioRunner:
    """Runs steps in order against a target, polling subscribers' inboxes every poll_s."""

    def __init__(
        self,
        reactor: IReactorTime,
        target: "Target",
        poll_s: float = POLL_S,
        on_step: Callable[[int, Step], None] = lambda number, step: None,
    ) -> None:
        self.reactor = reactor
        self.target = target
        self.poll_s = poll_s
        self.on_step = on_step  # told as each step starts (the console shows the progress)

    @inlineCallbacks
    def run(self, scenario: Scenario) -> Any:
        _, cursor = yield self.target.messages_since(BEYOND_LAST_SEQ)
        ussd = UssdSteps(self)
        for number, step in enumerate(scenario.step, start=1):
            self.on_step(number, step)
            action = ussd_action(step)
            if action is not None:
                try:
                    yield ussd.run(step, action)
                except Exception as exc:  # the target's error or the step's: one line either way
                    raise StepFailed(f"step {number} ({step.describe()}): {exc}") from None
                continue
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
            messages, last_seq = yield self.target.messages_since(cursor)
            for message in messages:
                if message["msisdn"] != phone:
                    continue
                if pattern.search(message["text"]):
                    return message["seq"]
                seen.append(message["text"])
            cursor = resume_from(cursor, messages, last_seq)
            if self.reactor.seconds() >= deadline_s:
                got = f"got {seen!r}" if seen else "got nothing"
                raise StepFailed(
                    f"step {number} ({step.describe()}): no reply to {phone} matching "
                    f"{step.expect!r} within {step.within_s:g}s; {got}"
                )
            yield deferLater(self.reactor, self.poll_s, lambda: None)


def run_scenario(reactor: IReactorTime, target: "Target", scenario: Scenario) -> Deferred:
    return ScenarioRunner(reactor, target).run(scenario)
