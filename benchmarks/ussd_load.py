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
        """Exactly once: no dialogue got a screen more than its steps, the daemon ended every
        session (none left open), a completed Send money posted exactly once and one cut off by
        the network (a screen later than its timeout) posted nothing. A dialogue cut off is not a
        violation (the network's timer is what a slow daemon meets): counted in `completed`."""
        from benchmarks.answers import Answered, Problems

        problems = Problems()
        with sqlite3.connect(db_path) as conn:
            states = dict(conn.execute("SELECT state, count(*) FROM ussd_sessions GROUP BY state"))
            mos, mts, parts, sms = conn.execute(
                "SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM outbox),"
                " (SELECT count(*) FROM outbox_parts),"
                " (SELECT count(*) FROM outbox WHERE ussd_op IS NULL)"
            ).fetchone()
            moves = Counter(conn.execute(
                "SELECT payer_msisdn, payee_msisdn, amount_minor FROM moves WHERE state = 'posted'"
            ))  # fmt: skip
        dialogues = self.done + list(self.open.values())
        for dialogue in dialogues:
            self._check_dialogue(dialogue, moves, problems)
        if sum(states.values()) != len(dialogues) or states.get("open"):
            problems.add(
                "daemon_sessions_not_all_closed", f"{states} for {len(dialogues)} dialogues"
            )
        if moves:
            problems.add("posted_moves_of_no_dialogue", str(next(iter(moves))), moves.total())
        completed = sum(1 for d in dialogues if d.ended_at_s is not None)
        report = {"mo_count": mos, "mt_count": mts, "mt_parts": parts, "dialogues": len(dialogues),
                  "completed": completed, "cut_off": len(dialogues) - completed,
                  "sms_after_dialogues": sms, "daemon_sessions": states,
                  "problems": problems.as_json(), "ok": not problems.counts}  # fmt: skip
        return self._figures(), Answered([], report)

    @staticmethod
    def _check_dialogue(dialogue: Dialogue, moves: Counter, problems: Any) -> None:
        """One dialogue against the posted moves (each matched one is taken off `moves`)."""
        want = 2 + len(dialogue.answers)  # the main screen, the choice's prompt... the last
        if dialogue.seen > want:
            problems.add("dialogues_with_screens_beyond_their_steps", f"{dialogue.index}")
        completed = dialogue.ended_at_s is not None and dialogue.seen == want
        if dialogue.kind != "SEND":
            return
        payee = "254" + dialogue.answers[0][1:]
        key = (dialogue.session.msisdn, payee, int(dialogue.answers[1]) * 100)
        posted = moves.pop(key, 0)
        if completed and posted != 1:
            last = dialogue.session.screens[-1].text
            problems.add("completed_sends_not_posted_exactly_once", f"{key}: {posted}, {last!r}")
        if not completed and posted:
            problems.add("sends_cut_off_but_posted", f"{key}: {dialogue.session.state}")

    def _figures(self) -> dict[str, Any]:
        plan = self.plan
        window_start = self.start_s + plan.warmup_s
        window_end = window_start + plan.duration_s
        want = {d.index: 2 + len(d.answers) for d in self.done}
        ended = [d.ended_at_s for d in self.done
                 if d.ended_at_s is not None and d.seen == want[d.index]]  # fmt: skip
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
