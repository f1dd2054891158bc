"""The ussd workload's load: USSD dialogues through the simulator's USSD subscribers (simulators.ussd,
in this process), open loop: dialogue i is dialled at start + i / rate by a customer not already in
one, half "My balance" (dial, choose, PIN: 3 screens), half "Send money" to a random other customer
(dial, choose, phone, amount, PIN: 5 screens; no payer, payee and amount twice). Each screen is
answered as soon as it is seen. Latency: from the dial or answer to the screen it brought.

The check after the run: every dialogue ended on a final screen after exactly its steps (one
screen per dial or answer, none missing, none twice), the daemon's sessions all ended, and every
Send money posted exactly once (benchmarks.answers.check_postings, and one move per such dialogue).
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import traffic
from benchmarks.e2e import PIN, percentile

if TYPE_CHECKING:
    from benchmarks.workload import WorkloadPlan
    from simulators.simulator import Simulator
    from simulators.ussd import UssdSession

CODE = "*334#"
CHOICES = {"BAL": "My balance", "SEND": "Send money"}
PICK_TRIES = 50


@dataclass
class Dialogue:
    index: int
    kind: str
    answers: list[str]  # what the phone types after the main screen's choice
    session: UssdSession
    asked_at_s: float  # when the phone dialled or last answered
    seen: int = 0
    step_ms: list[float] = field(default_factory=list)
    ended_at_s: float | None = None


@dataclass
class UssdTally:
    sent: int = 0  # dialogues started
    acked: int = 0  # screens received
    ack_failed: int = 0  # dials the network refused
    inject_lag_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)  # measured dialogues


def choice_number(screen: str, label: str) -> str:
    """ "1. Send money" -> "1": the number a menu screen gives `label`."""
    for line in screen.splitlines():
        number, _, text = line.partition(". ")
        if text.strip() == label and number.isdigit():
            return number
    raise LookupError(f"no choice {label!r} on the screen {screen!r}")


class UssdLoad:
    def __init__(self, reactor: Any, simulator: Simulator, plan: WorkloadPlan) -> None:
        self.reactor = reactor
        self.network = simulator.ussd
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.tally = UssdTally()
        self.start_s = 0.0
        self.open: dict[str, Dialogue] = {}
        self.done: list[Dialogue] = []
        self._sends: set[tuple[int, int, int]] = set()

    @property
    def total(self) -> int:
        return self.plan.total

    def due_at(self, index: int) -> float:
        return self.start_s + index / self.plan.rate_per_s

    @property
    def finished_sending(self) -> bool:
        return self.tally.sent >= self.total and not self.open

    def _script(self, sender: int) -> tuple[str, list[str]]:
        if self.rng.random() < 0.5:
            return "BAL", [PIN]
        while True:
            payee = self.rng.randrange(self.plan.account_count - 1)
            payee += payee >= sender  # anyone but the sender
            amount = self.rng.randint(10, 1000)
            if (sender, payee, amount) not in self._sends:
                self._sends.add((sender, payee, amount))
                return "SEND", [traffic.national(traffic.customer(payee)), str(amount), PIN]

    def tick(self) -> None:
        now_s = self.reactor.seconds()
        while self.tally.sent < self.total and self.due_at(self.tally.sent) <= now_s:
            self._dial(self.tally.sent, now_s)

    def _dial(self, index: int, now_s: float) -> None:
        from simulators.ussd import UssdError

        self.tally.sent += 1
        if index >= self.plan.warmup_count:
            self.tally.inject_lag_ms.append((now_s - self.due_at(index)) * 1000)
        for _ in range(PICK_TRIES):
            sender = self.rng.randrange(self.plan.account_count)
            msisdn = traffic.customer(sender)
            if msisdn not in self.open:
                break
        kind, answers = self._script(sender)
        try:
            session = self.network.start(msisdn, CODE)
        except UssdError:
            self.tally.ack_failed += 1
            return
        self.open[msisdn] = Dialogue(index, kind, answers, session, self.due_at(index))

    def collect(self) -> None:
        for msisdn, dialogue in list(self.open.items()):
            session = dialogue.session
            while dialogue.seen < len(session.screens):
                self._screen(dialogue, session.screens[dialogue.seen])
            if not session.is_open:
                del self.open[msisdn]
                self.done.append(dialogue)

    def _screen(self, dialogue: Dialogue, screen: Any) -> None:
        dialogue.seen += 1
        self.tally.acked += 1
        step_ms = (screen.at_s - dialogue.asked_at_s) * 1000
        dialogue.step_ms.append(step_ms)
        if dialogue.index >= self.plan.warmup_count:
            self.tally.step_ms.append(step_ms)
        if screen.final:
            dialogue.ended_at_s = screen.at_s
            return
        if dialogue.seen == 1:
            text = choice_number(screen.text, CHOICES[dialogue.kind])
        elif dialogue.seen - 2 < len(dialogue.answers):
            text = dialogue.answers[dialogue.seen - 2]
        else:
            return  # a screen more than the script has: the check counts the dialogue as wrong
        dialogue.asked_at_s = self.reactor.seconds()
        self.network.answer(dialogue.session.id, text)

    def live(self) -> dict[str, Any]:
        recent = sorted(self.tally.step_ms[-5000:])
        answered = sum(1 for d in self.done if d.ended_at_s is not None)
        return {"offered": self.tally.sent, "answered": answered, "p99_ms": percentile(recent, 99)}

    def check(self, db_path: Path) -> tuple[dict[str, Any], Any]:
        from benchmarks.answers import Answered, Problems

        problems = Problems()
        for dialogue in self.done + list(self.open.values()):
            want = 2 + len(dialogue.answers)  # main screen, the choice's prompt.. the final one
            if dialogue.ended_at_s is None or dialogue.seen != want:
                problems.add("dialogues_not_ended_after_their_steps",
                             f"{dialogue.kind} {dialogue.index}: {dialogue.seen} of {want} screens, "
                             f"{dialogue.session.state}")  # fmt: skip
        with sqlite3.connect(db_path) as conn:
            states = dict(conn.execute("SELECT state, count(*) FROM ussd_sessions GROUP BY state"))
            mos = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
            mts = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            parts = conn.execute("SELECT count(*) FROM outbox_parts").fetchone()[0]
            sms = conn.execute("SELECT count(*) FROM outbox WHERE ussd_op IS NULL").fetchone()[0]
            moves = Counter(
                conn.execute("SELECT payer_msisdn, payee_msisdn, amount_minor FROM moves")
            )
        sends = 0
        for dialogue in self.done:
            if dialogue.kind != "SEND":
                continue
            sends += 1
            payee = "254" + dialogue.answers[0][1:]
            key = (dialogue.session.msisdn, payee, int(dialogue.answers[1]) * 100)
            if moves.get(key) != 1:
                last = dialogue.session.screens[-1].text if dialogue.session.screens else ""
                problems.add("send_dialogues_without_exactly_one_move", f"{key}: {last!r}")
        if states != {"ended": len(self.done)}:
            problems.add("daemon_sessions_not_all_ended", str(states))
        if moves.total() != sends:
            problems.add("moves_of_no_send_dialogue", f"{moves.total()} moves, {sends} sends")
        report = {"mo_count": mos, "mt_count": mts, "mt_parts": parts, "dialogues": self.tally.sent,
                  "sms_after_dialogues": sms, "daemon_sessions": states,
                  "problems": problems.as_json(), "ok": not problems.counts}  # fmt: skip
        return self._figures(), Answered([], report)

    def _figures(self) -> dict[str, Any]:
        plan = self.plan
        window_start = self.start_s + plan.warmup_s
        window_end = window_start + plan.duration_s
        ended = [d.ended_at_s for d in self.done if d.ended_at_s is not None]
        steps = sorted(self.tally.step_ms)
        return {
            "offered_rate_per_s": plan.rate_per_s,
            "sustained_rate_per_s": round(
                sum(1 for at in ended if window_start <= at < window_end) / plan.duration_s, 1
            ),
            "rate_unit": "dialogues",
            "latency_ms": {
                "p50": percentile(steps, 50),
                "p95": percentile(steps, 95),
                "p99": percentile(steps, 99),
                "max": round(steps[-1], 1) if steps else None,
            },
            "latency_of": "each screen, from the dial or answer that asked for it",
            "answered": len(ended),
            "screens": self.tally.acked,
            "sent_by_kind": {kind: sum(1 for d in self.done if d.kind == kind) for kind in CHOICES},
        }
