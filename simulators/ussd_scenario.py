"""USSD steps of a scenario (simulators/scenario.py): a subscriber dials, reads screens, answers,
hangs up or lets the network time the dialogue out.

    [[step]]
    from = "254712000001"
    ussd_start = "*334#"          # dial; the step ends when the dial is sent

    [[step]]
    from = "254712000001"
    ussd_expect = "1. Balance"    # the next screen contains this (regex = true: a regex)
    final = false                 # ... and does not end the dialogue (unset: either)

    [[step]]
    from = "254712000001"
    ussd_answer = "1"

    [[step]]
    from = "254712000001"
    ussd_abort = true             # or ussd_wait_timeout = true: the network times it out

Each step acts on the dialogue the subscriber `from` dialled last in the scenario; `within_s` is
how long ussd_expect and ussd_wait_timeout wait.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater

if TYPE_CHECKING:
    from simulators.scenario import ScenarioRunner, Step

USSD_KEYS = ("ussd_start", "ussd_answer", "ussd_expect", "ussd_abort", "ussd_wait_timeout")

FORMAT_HELP = """USSD steps (one action each, with `from`):

\b
  ussd_start = CODE       dial CODE (e.g. "*334#"); system_id: which account
  ussd_expect = TEXT      the screen shown next contains TEXT (regex = true:
                          a regular expression searched in it); final = true
                          or false: it must (not) end the dialogue
  ussd_answer = TEXT      answer the screen shown
  ussd_abort = true       hang up
  ussd_wait_timeout = true  wait until the network times the dialogue out"""


class UssdStepError(Exception):
    """Why a USSD step failed, without the step's number (the runner adds it)."""


def ussd_action(step: Step) -> str | None:
    """The USSD key a step has (the model allows at most one), or None for an SMS step."""
    return next((key for key in USSD_KEYS if getattr(step, key) not in (None, False)), None)


def describe(step: Step, action: str) -> str:
    value = getattr(step, action)
    return f"{step.source} {action}" + ("" if isinstance(value, bool) else f" {value!r}")


class UssdSteps:
    """The scenario's dialogues, by subscriber, and how each USSD step runs on them."""

    def __init__(self, runner: ScenarioRunner) -> None:
        self.runner = runner
        self.sessions: dict[str, str] = {}  # MSISDN -> id of the dialogue it dialled last

    @inlineCallbacks
    def run(self, step: Step, action: str) -> Any:
        target = self.runner.target
        if action == "ussd_start":
            session = yield target.ussd_start(step.source, step.ussd_start, step.system_id)
            self.sessions[step.source] = session["id"]
            return
        session_id = self.sessions.get(step.source)
        if session_id is None:
            raise UssdStepError(f"{step.source} has dialled nothing yet (ussd_start first)")
        if action == "ussd_answer":
            yield target.ussd_answer(session_id, step.ussd_answer)
        elif action == "ussd_abort":
            yield target.ussd_abort(session_id)
        elif action == "ussd_expect":
            yield self._expect(step, session_id)
        else:
            yield self._await_timeout(step, session_id)

    @inlineCallbacks
    def _expect(self, step: Step, session_id: str) -> Any:
        session = yield self._settled(step, session_id, lambda s: not s["waiting"])
        if session["waiting"]:
            raise UssdStepError(f"no screen within {step.within_s:g}s")
        text = session["screen"]
        if text is None:
            raise UssdStepError(f"no screen came: the dialogue {_ended(session)}")
        wanted = step.ussd_expect or ""
        found = re.search(wanted, text) if step.regex else wanted in text
        if not found:
            raise UssdStepError(f"the screen is {text!r}")
        if step.final is not None and session["final"] != step.final:
            raise UssdStepError(
                f"the screen {text!r} {'does not end' if step.final else 'ends'} the dialogue"
            )

    @inlineCallbacks
    def _await_timeout(self, step: Step, session_id: str) -> Any:
        session = yield self._settled(step, session_id, lambda s: s["state"] not in _OPEN)
        if session["state"] != "timed_out":
            raise UssdStepError(f"the dialogue {_ended(session)} within {step.within_s:g}s")

    @inlineCallbacks
    def _settled(self, step: Step, session_id: str, done: Any) -> Any:
        runner = self.runner
        deadline_s = runner.reactor.seconds() + step.within_s
        while True:
            session = yield runner.target.ussd_session(session_id)
            if done(session) or runner.reactor.seconds() >= deadline_s:
                return session
            yield deferLater(runner.reactor, runner.poll_s, lambda: None)


_OPEN = ("waiting_screen", "waiting_answer")


def _ended(session: dict[str, Any]) -> str:
    reason = session.get("end_reason")
    return f"is {session['state']}" + (f" ({reason})" if reason else "")
