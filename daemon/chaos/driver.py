"""The subscribers' side of a chaos run, on the reactor: intents go out through the in-process SMSC
simulator as MOs or USSD dialogues, what the phones receive is recorded, and a request to pay that
reaches its payer is answered (PAY <code> <PIN>, sometimes NO <code>).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import inlineCallbacks
from twisted.python.failure import Failure

from daemon.chaos.intents import Intent, IntentMaker, kes
from daemon.chaos.world import SHORT_CODE, USSD_CODE

if TYPE_CHECKING:
    from simulators.simulator import Simulator

REQUEST_CODE = re.compile(r"Reply PAY (R\d+) ")
USSD_SCREEN_WAIT_S = 8.0
PAY_REQUEST_P = 0.8  # of a request that reaches its payer: paid; else refused (NO) or ignored
REFUSE_REQUEST_P = 0.1


@dataclass(frozen=True, slots=True)
class PhoneMessage:
    msisdn: str
    text: str
    at_s: float
    message_ids: tuple[str, ...]


@dataclass
class Driver:
    simulator: Simulator
    maker: IntentMaker
    intents: list[Intent] = field(default_factory=list)
    messages: list[PhoneMessage] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    ussd_busy: set[str] = field(default_factory=set)
    gave_up: list[str] = field(default_factory=list)  # dialogues left unfinished, and why
    answering: bool = True  # requests to pay are answered (until the load ends)
    _requests: dict[tuple[str, str], Intent] = field(default_factory=dict)
    _cursor: int = 0

    @property
    def now_s(self) -> float:
        return self.simulator.reactor.seconds()

    def send_new(self) -> None:
        """One new intent drawn by the maker."""
        intent = self.maker.draw(self.ussd_busy)
        if intent.text is None:
            self._dial(intent)
        else:
            self.send(intent)

    def send(self, intent: Intent) -> None:
        assert intent.text is not None
        self.intents.append(intent)
        self.counts[intent.kind] += 1
        if intent.kind == "req":
            assert intent.payer is not None and intent.amount_minor is not None
            self._requests[(intent.payer, kes(intent.amount_minor))] = intent
        intent.injected_at_s = self.now_s
        try:
            acked = self.simulator.inject_mo(intent.msisdn, SHORT_CODE, intent.text)
        except Exception as exc:  # InvalidMO, BacklogFull: the SMSC never took it
            intent.failed = f"{type(exc).__name__}: {exc}"
            return
        acked.addCallbacks(self._acked, self._not_acked, callbackArgs=(intent,),
                           errbackArgs=(intent,))  # fmt: skip

    def _acked(self, _result: Any, intent: Intent) -> None:
        intent.acked_at_s = self.now_s

    def _not_acked(self, failure: Failure, intent: Intent) -> None:
        intent.failed = failure.getErrorMessage()

    @property
    def outstanding(self) -> int:
        """SMS intents neither acknowledged nor failed yet."""
        return sum(
            1
            for intent in self.intents
            if intent.text is not None and intent.acked_at_s is None and intent.failed is None
        )

    # --- USSD dialogues

    def _dial(self, intent: Intent) -> None:
        self.intents.append(intent)
        self.counts[intent.kind] += 1
        self.ussd_busy.add(intent.msisdn)
        done = self._dialogue(intent)
        done.addErrback(lambda failure: setattr(intent, "failed", failure.getErrorMessage()))
        done.addBoth(lambda _: self.ussd_busy.discard(intent.msisdn))

    @inlineCallbacks
    def _dialogue(self, intent: Intent) -> Any:
        from simulators.ussd import UssdError, UssdState

        ussd = self.simulator.ussd
        intent.injected_at_s = self.now_s
        try:
            session = ussd.start(intent.msisdn, USSD_CODE)
        except UssdError as exc:
            intent.failed = str(exc)
            return
        session = yield ussd.wait(session, USSD_SCREEN_WAIT_S)
        hung_up = False
        for index, answer in enumerate(intent.ussd_answers):
            if session.state is not UssdState.WAITING_ANSWER:
                break
            ussd.answer(session.id, answer)
            if index == 0:
                intent.acked_at_s = self.now_s  # the dialogue is under way
            last = index == len(intent.ussd_answers) - 1
            if last and intent.hang_up:
                ussd.abort(session.id)  # hangs up before the final screen comes
                hung_up = True
                break
            session = yield ussd.wait(session, USSD_SCREEN_WAIT_S)
        # A dialogue meant to hang up at its last answer that stopped earlier (no screen in time)
        # is given up like any other: left open, its late screen would keep it open past the drain.
        if session.is_open and not hung_up:
            last = session.screens[-1].text if session.screens else "(no screen)"
            self.gave_up.append(f"{intent.kind} {session.state}: {last[:80]!r}")
            ussd.abort(session.id)  # an unexpected screen, or none in time: give up
        self.counts[f"ussd_{session.state}"] += 1

    # --- what the phones received

    def collect(self) -> None:
        handsets = self.simulator.handsets
        newest = handsets.last_seq
        while self._cursor < newest:
            batch = handsets.since(self._cursor, 10_000)
            if not batch:
                self._cursor = newest
                break
            for message in batch:
                self._received(message)
            self._cursor = batch[-1].seq

    def _received(self, message: Any) -> None:
        phone = PhoneMessage(
            message.msisdn, message.text, message.delivered_at_s, tuple(message.message_ids)
        )
        self.messages.append(phone)
        found = REQUEST_CODE.search(phone.text)
        if found is None:
            return
        request = next(
            (req for (payer, amount), req in self._requests.items()
             if payer == phone.msisdn and amount in phone.text),
            None,
        )  # fmt: skip
        if request is None:
            return
        del self._requests[(phone.msisdn, kes(request.amount_minor or 0))]
        self._answer_request(request, found.group(1))

    def _answer_request(self, request: Intent, code: str) -> None:
        if not self.answering:
            return  # the load is over: nothing new after it, so the drain can end
        draw = self.maker.rng.random()
        if draw < PAY_REQUEST_P:
            self.send(self.maker.reqpay(request, code))
        elif draw < PAY_REQUEST_P + REFUSE_REQUEST_P:
            assert request.payer is not None
            refusal = Intent(self.maker.next_id, "req_no", request.payer, text=f"NO {code}")
            self.maker.next_id += 1
            self.send(refusal)
