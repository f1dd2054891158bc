"""Tells the story (daemon.demo.story) through the simulator, as the phones see it.

Each step: the message is printed and sent; once the daemon is done with it (every reply and notice
delivered or failed, every pending move settled: daemon.demo.books.busy_txn) what each phone received
is printed under it, then every party's balance as the ledger has it. Then the next step: no fixed
intervals. The end is `smscore ledger check`: the ledger's invariants and the trust reconciliation.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from shlex import quote
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from daemon.demo import books
from daemon.demo.api_teller import ApiTeller
from daemon.demo.staff import run_admin
from daemon.demo.steps import ApiCall, IssueStep, Party, StaffStep, Step, UssdStep
from daemon.demo.story import CHAPTERS, PEOPLE, SHORT_CODE
from simulators.config import DlrConfig, DlrRule
from simulators.receipts import Outcome, OutcomePicker
from simulators.ussd import UssdError, UssdState

if TYPE_CHECKING:
    from daemon.service import Daemon
    from simulators.simulator import Simulator
    from simulators.store import HandsetMessage

POLL_S = 0.05  # how often a step looks whether the daemon is done: no delay a reader would notice
STEP_TIMEOUT_S = 15.0  # a step not done by then is reported and the story goes on
PHONE_SCREEN_WIDTH = 36  # characters across a USSD screen as the demo draws it, borders included


class PhoneOff:
    """The simulator's receipt outcomes, except that the next message to a phone switched off is
    not delivered: its receipt says UNDELIV, from the simulator's own per-destination rule."""

    def __init__(self, picker: OutcomePicker, delay_s: float) -> None:
        self.picker = picker
        self.delay_s = delay_s
        self.off: set[str] = set()

    def pick(self, destination_addr: str) -> Outcome:
        if destination_addr not in self.off:
            return self.picker.pick(destination_addr)
        self.off.discard(destination_addr)  # back on for whatever comes next
        rule = DlrRule(prefix=destination_addr, outcome="UNDELIV")
        off = OutcomePicker(DlrConfig(delay_s=self.delay_s, rule=(rule,)), self.picker.rng)
        return off.pick(destination_addr)


@dataclass
class Teller:
    reactor: IReactorTime
    simulator: Simulator
    daemon: Daemon
    agent_number: str
    console: Console = field(default_factory=lambda: Console(highlight=False))
    failures: list[str] = field(default_factory=list)
    last_seq: int = 0
    staff_said: list[str] = field(default_factory=list)  # what each staff command printed
    try_key: str | None = None  # an API key made for you once the story is told
    _before: list[int | None] | None = None

    def __post_init__(self) -> None:
        self.columns: list[books.Column] = []
        self.api = ApiTeller(self)
        self.phones = PhoneOff(self.simulator.outcomes, self.simulator.config.dlr.delay_s)
        self.simulator.outcomes = self.phones  # type: ignore[assignment]

    @inlineCallbacks
    def tell(self) -> Generator[Deferred, Any, bool]:
        """The whole story; fires True when every step went as told and the ledger checks."""
        started_s = self.reactor.seconds()
        number = 0
        for chapter in CHAPTERS:
            self._say(chapter.opening)
            people = [(person.label, person.msisdn) for person in chapter.people]
            self.columns = books.party_columns(people, chapter.billers, chapter.service)
            self._before = None
            yield self._show_balances()
            for step in chapter.steps:
                number += 1
                if isinstance(step, StaffStep):
                    yield self._play_staff(number, step)
                elif isinstance(step, UssdStep):
                    yield self._play_ussd(number, step)
                elif isinstance(step, ApiCall):
                    yield self.api.play(number, step)
                elif isinstance(step, IssueStep):
                    yield self.api.issue(number, step)
                else:
                    yield self._play(number, step)
        yield self._check()
        self.try_key = yield self.api.try_key()
        elapsed_s = self.reactor.seconds() - started_s
        verdict = "as told" if not self.failures else f"with {len(self.failures)} problem(s)"
        self._say(f"The story ran {verdict} in {elapsed_s:.1f} s.")
        return not self.failures

    @inlineCallbacks
    def _play(self, number: int, step: Step) -> Generator[Deferred, Any, None]:
        self._say(f"{number:2d}. {step.title}")
        text = self._text(step.text, step.code_from, step.code_pattern)
        if text is None:
            return self._fail(number, f"no SMS to {step.code_from.label} has the code to type")
        self._print(f"    {step.sender.label:<6}{step.sender.msisdn} -> {SHORT_CODE}: {text}")
        if step.phone_off:
            self.phones.off.add(step.sender.msisdn)
            self._print(f"    ({step.sender.label}'s phone is off: the reply is not delivered)")
        try:
            yield self.simulator.inject_mo(step.sender.msisdn, SHORT_CODE, text)
        except Exception as exc:  # the SMSC could not hand it to the daemon: told, story goes on
            return self._fail(number, f"the MO was not delivered: {exc}")
        received = yield self._received(number, step.note)
        answer = next((m.text for m in received if m.msisdn == step.sender.msisdn), None)
        if answer is None:
            self._fail(number, f"{step.sender.label} got no reply")
        elif not re.search(step.expect, answer):
            self._fail(number, f"the reply does not say /{step.expect}/")
        self._check_told(number, step.told, received)
        yield self._show_balances()

    @inlineCallbacks
    def _play_staff(self, number: int, step: StaffStep) -> Generator[Deferred, Any, None]:
        """Staff type their commands (the files they wrote first shown as `cat` would)."""
        self._say(f"{number:2d}. {step.title}")
        state_dir = self.daemon.config.service.state_dir
        for name, text in step.files:
            (state_dir / name).write_text(text, encoding="utf-8")
            self._print(f"    staff$ cat {state_dir / name}")
            for line in text.splitlines():
                self._print(f"    {line}")
        for typed in step.commands:
            command = self._text(
                typed, step.code_from, step.code_pattern, state_dir=quote(str(state_dir))
            )
            if command is None:
                return self._fail(number, f"no SMS to {step.code_from.label} has the code to type")
            # As an operator would type it: without --state-dir, admin would open another database.
            self._print(f"    staff$ smscore admin {command} --state-dir {quote(str(state_dir))}")
            done = run_admin(command, state_dir)
            self.staff_said.append(done.output)
            for line in done.output.splitlines():
                self._print(f"    {line}")
            if not done.ok:
                self._fail(number, "the command was refused")
        received = yield self._received(number)
        self._check_told(number, step.told, received)
        yield self._show_balances()

    @inlineCallbacks
    def _play_ussd(self, number: int, step: UssdStep) -> Generator[Deferred, Any, None]:
        """The phone dials; each screen is drawn as the phone shows it, each answer typed under
        it; then the SMS that followed and the balances."""
        self._say(f"{number:2d}. {step.title}")
        who = step.sender
        self._print(f"    {who.label:<6}{who.msisdn} dials {step.code}")
        network = self.simulator.ussd
        answers = list(step.answers)
        try:
            session = network.start(who.msisdn, step.code)
            shown = 0
            while True:
                session = yield network.wait(session, STEP_TIMEOUT_S)
                for screen in session.screens[shown:]:
                    self._phone_screen(step.code, screen.text)
                shown = len(session.screens)
                if session.state is not UssdState.WAITING_ANSWER or not answers:
                    break
                typed = answers.pop(0)
                self._print(f"    {who.label:<6}types {typed}")
                network.answer(session.id, typed)
        except UssdError as exc:
            return self._fail(number, f"the simulator refused the dialogue: {exc}")
        last = session.screens[-1] if session.screens else None
        if session.is_open:
            network.abort(session.id)
            self._fail(number, f"the dialogue did not end as told ({session.state})")
        elif answers or last is None or not last.final:
            self._fail(number, f"the dialogue ended early: {session.end_reason}")
        elif not re.search(step.expect, last.text):
            self._fail(number, f"the last screen does not say /{step.expect}/")
        received = yield self._received(number)
        self._check_told(number, step.told, received)
        yield self._show_balances()

    def _phone_screen(self, code: str, text: str) -> None:
        screen = Panel(
            Text(text), title=code, title_align="left", box=box.ROUNDED, width=PHONE_SCREEN_WIDTH
        )
        self.console.print(Padding(screen, (0, 0, 0, 4), expand=False))

    @inlineCallbacks
    def _received(self, number: int, note: str = "") -> Generator[Deferred, Any, list]:
        """Once the daemon is done with the step: what the phones received, printed."""
        done = yield self._until_done()
        received = self.show_new_messages()
        if note:
            self._print(f"    ({note})")
        if not done:
            self._fail(number, f"the daemon was not done within {STEP_TIMEOUT_S:g} s")
        return received

    def _check_told(
        self, number: int, told: tuple[tuple[Party, str], ...], received: list[HandsetMessage]
    ) -> None:
        for who, pattern in told:
            if not any(m.msisdn == who.msisdn and re.search(pattern, m.text) for m in received):
                self._fail(number, f"no SMS to {who.label} says /{pattern}/")

    def _text(
        self, text: str, code_from: Party | None, code_pattern: str, **extra: object
    ) -> str | None:
        fields: dict[str, object] = {"agent_number": self.agent_number, **extra}
        if code_from is not None:
            code = self._code(code_from.msisdn, code_pattern)
            if code is None:
                return None
            fields["code"] = code
        return text.format(**fields)

    def _code(self, msisdn: str, pattern: str) -> str | None:
        """What the phone's latest SMS matching `pattern` says to type (its group 1)."""
        for message in reversed(self.simulator.handset_inbox(msisdn)):
            found = re.search(pattern, message.text)
            if found:
                return found.group(1)
        return None

    @inlineCallbacks
    def _until_done(self) -> Generator[Deferred, Any, bool]:
        deadline_s = self.reactor.seconds() + STEP_TIMEOUT_S
        while self.reactor.seconds() < deadline_s:
            yield deferLater(self.reactor, POLL_S, lambda: None)
            busy = yield self.daemon.db.run_interaction("demo.busy", books.busy_txn)
            if not busy:
                return True
        return False

    def show_new_messages(self) -> list[HandsetMessage]:
        """Print what the phones received since the last look (after the story: your own)."""
        received = self.simulator.handsets.since(self.last_seq)
        if received:
            self.last_seq = received[-1].seq
        labels = {person.msisdn: person.label for person in PEOPLE}
        for message in received:
            label = labels.get(message.msisdn, "")
            self._print(f"    {label:<6}{message.msisdn} <- {message.sender}: {message.text}")
        return received

    @inlineCallbacks
    def _show_balances(self) -> Generator[Deferred, Any, None]:
        balances = yield self.daemon.db.run_interaction(
            "demo.balances", books.balances_txn, self.columns
        )
        currency = self.daemon.config.service.currency
        table = books.balance_table(self.columns, balances, self._before, currency)
        self.console.print(table)
        self._before = balances

    @inlineCallbacks
    def _check(self) -> Generator[Deferred, Any, None]:
        self._say("smscore ledger check")
        currency = self.daemon.config.service.currency
        lines, ok = yield self.daemon.db.run_interaction(
            "demo.ledger_check", books.ledger_check_txn, currency
        )
        for line in lines:
            self._print(f"    {line}")
        if not ok:
            self.failures.append("the ledger check failed")

    def _fail(self, number: int, problem: str) -> None:
        self.failures.append(f"step {number}: {problem}")
        self._print(f"    !! {problem}")

    def _say(self, line: str) -> None:
        self.console.print()
        self.console.print(line, style="bold", markup=False, soft_wrap=True)

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, soft_wrap=True)
