"""Tells the business-API chapter (daemon.demo.story API_STEPS) as the business's server sees it.

An ApiCall is a real HTTP request to the daemon's API (daemon.demo.business_http, on the demo's
reactor) with the key staff gave the business, read from what `business key-add` printed as its
developer would; the answer is printed as sent. A new request is then polled at GET
/requeststates/{id}, as a client does, until it is done; one sent with X-Callback-URL waits for
its PUT at the demo's receiver, whose X-Signature is checked with the secret `business secret`
printed. Then, as for every step, what the phones received and the balances.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTCP
from twisted.internet.task import deferLater

from daemon.api.businesses import BusinessError
from daemon.clock import now_ns
from daemon.commands.money import format_money
from daemon.demo.business_http import Answer, ApiClient, Callback, CallbackReceiver
from daemon.demo.state import issue_emoney_txn, try_key_txn
from daemon.demo.steps import ApiCall, IssueStep, Party
from daemon.demo.story import BUSINESS_CODE

if TYPE_CHECKING:
    from daemon.demo.teller import Teller

KEY_PATTERN = re.compile(r"\bsmk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
SECRET_PATTERN = re.compile(r"^([0-9a-f]{64})$", re.MULTILINE)
POLL_S = 0.1  # how often the business's server polls a request state
TIMEOUT_S = 15.0  # an answer, a finished request or a callback not there by then is a problem
INDENT = " " * 10  # under a line's label


@dataclass
class ApiTeller:
    teller: Teller
    receiver: CallbackReceiver = field(default_factory=CallbackReceiver)
    callback_url: str = ""
    kept: dict[str, str] = field(default_factory=dict)  # name -> serverCorrelationId

    @property
    def base_url(self) -> str:
        return f"http://{self.teller.daemon.api_address}"

    def _staff_gave(self, pattern: re.Pattern[str]) -> str | None:
        """What the latest staff output matching `pattern` says (a key, a secret)."""
        for output in reversed(self.teller.staff_said):
            found = pattern.findall(output)
            if found:
                return found[-1]
        return None

    @inlineCallbacks
    def issue(self, number: int, step: IssueStep) -> Generator[Deferred, Any, None]:
        teller = self.teller
        teller._say(f"{number:2d}. {step.title}")
        daemon = teller.daemon
        move = yield daemon.db.run_interaction(
            "demo.issue", issue_emoney_txn, daemon.config, step.payee.msisdn, step.amount_minor,
            now_ns(teller.reactor),
        )  # fmt: skip
        amount = format_money(step.amount_minor, daemon.config.service.currency)
        teller._print(
            f"    trust account -> {step.payee.label} {step.payee.msisdn}: {amount} of e-money "
            f"issued, ref {move.ref} (audited, as the agent store's e-float was)"
        )
        yield teller._received(number)
        yield teller._show_balances()

    @inlineCallbacks
    def play(self, number: int, step: ApiCall) -> Generator[Deferred, Any, None]:
        teller = self.teller
        teller._say(f"{number:2d}. {step.title}")
        key = self._staff_gave(KEY_PATTERN)
        if key is None:
            return teller._fail(number, "staff printed no API key for the business")
        try:
            path = step.path.format(**self.kept)
        except KeyError as exc:
            return teller._fail(number, f"no earlier request kept as {exc}")
        client = ApiClient(teller.reactor, self.base_url, key, TIMEOUT_S)
        headers = self._headers(step)
        self._show_request(step, path, headers, key)
        try:
            answer = yield client.call(step.method, path, step.body, headers)
        except Exception as exc:  # refused, timed out: told, the story goes on
            return teller._fail(number, f"the API did not answer: {exc}")
        teller._print(f"    {step.caller.label:<6}<- {answer.status} {answer.text}")
        state = self._check_answer(number, step, answer)
        callback = None
        if state is not None and step.until:
            done = yield self._poll(number, step, client, state["serverCorrelationId"])
            if done and step.callback:  # a new request, finished: its callback must come
                callback = yield self._callback(number, step.correlation_id)
        received = yield teller._received(number)
        if callback is not None:
            self._show_callback(number, step.caller, callback)
        teller._check_told(number, step.told, received)
        yield teller._show_balances()

    def _headers(self, step: ApiCall) -> dict[str, str]:
        headers = {}
        if step.correlation_id:
            headers["X-CorrelationID"] = step.correlation_id
        if step.callback:
            if not self.callback_url:
                self._start_receiver(step.caller)
            headers["X-Callback-URL"] = self.callback_url
        return headers

    def _start_receiver(self, business: Party) -> None:
        address = self.receiver.listen(IReactorTCP(self.teller.reactor))
        self.callback_url = f"http://{address}/callbacks/{business.label.lower()}"
        self.teller._print(
            f"    ({business.name}'s server takes its callbacks at {self.callback_url}: a "
            "twisted.web receiver inside this demo)"
        )

    def _show_request(self, step: ApiCall, path: str, headers: dict[str, str], key: str) -> None:
        teller = self.teller
        teller._print(f"    {step.caller.label:<6}{step.method} {self.base_url}{path}")
        shown_key = key[: len("smk_") + 17] + "…"  # the key id; the secret stays off the screen
        sent = [f"X-API-Key: {shown_key}", *(f"{name}: {value}" for name, value in headers.items())]
        teller._print(INDENT + "  ".join(sent))
        if step.body:
            teller._print(INDENT + step.body)

    def _check_answer(self, number: int, step: ApiCall, answer: Answer) -> dict | None:
        """The answer is as the step says; returns it as a request state when it is one."""
        teller = self.teller
        if answer.status != step.status:
            teller._fail(number, f"the API answered {answer.status}, not {step.status}")
        elif not re.search(step.expect, answer.text):
            teller._fail(number, f"the answer does not say /{step.expect}/")
        try:
            state = json.loads(answer.text)
        except ValueError:
            teller._fail(number, "the answer is not JSON")
            return None
        found = state.get("serverCorrelationId") if isinstance(state, dict) else None
        if found is None:
            return None
        if step.same_as and found != self.kept.get(step.same_as):
            teller._fail(number, f"not the same request as {step.same_as}: {found}")
        if step.keep:
            self.kept[step.keep] = found
        return state

    @inlineCallbacks
    def _poll(
        self, number: int, step: ApiCall, client: ApiClient, server_id: str
    ) -> Generator[Deferred, Any, bool]:
        """GET /requeststates/{id} until it says what the step waits for; the last one printed."""
        teller = self.teller
        path = f"/requeststates/{server_id}"
        deadline_s = teller.reactor.seconds() + TIMEOUT_S
        polls, answer = 0, None
        while teller.reactor.seconds() < deadline_s:
            yield deferLater(teller.reactor, POLL_S, lambda: None)
            answer = yield client.call("GET", path)
            polls += 1
            if answer.status != 200 or re.search(step.until, answer.text):
                break
            if _status(answer) == "failed":  # it will not come to what the step waits for
                break
        if answer is None:
            teller._fail(number, "the request state was never read")
            return False
        times = "once" if polls == 1 else f"{polls} times"
        teller._print(f"    {step.caller.label:<6}GET {path} (polled {times})")
        teller._print(f"    {step.caller.label:<6}<- {answer.status} {answer.text}")
        if answer.status == 200 and re.search(step.until, answer.text):
            return True
        teller._fail(number, f"the request state did not come to say /{step.until}/")
        return False

    @inlineCallbacks
    def _callback(self, number: int, correlation_id: str) -> Generator[Deferred, Any, Any]:
        reactor = self.teller.reactor
        deadline_s = reactor.seconds() + TIMEOUT_S
        while reactor.seconds() < deadline_s:
            found = self.receiver.find(correlation_id)
            if found is not None:
                return found
            yield deferLater(reactor, POLL_S, lambda: None)
        self.teller._fail(number, f"no callback came within {TIMEOUT_S:g} s")
        return None

    def _show_callback(self, number: int, business: Party, callback: Callback) -> None:
        teller = self.teller
        headers = callback.headers
        teller._print(
            f"    {business.label:<6}callback <- PUT {callback.path}  "
            f"X-CorrelationID: {headers.get('x-correlationid', '')}  X-Date: "
            f"{headers.get('x-date', '')}"
        )
        signature = headers.get("x-signature", "(none)")
        secret = self._staff_gave(SECRET_PATTERN)
        if secret is not None and callback.genuine(secret):
            verdict = f"genuine: the HMAC-SHA256 of the body with {BUSINESS_CODE}'s secret"
        else:
            verdict = "NOT signed with the secret staff gave"
            teller._fail(number, "the callback's X-Signature does not verify")
        teller._print(f"{INDENT}X-Signature: {signature} ({verdict})")
        teller._print(INDENT + callback.body.decode("utf-8", "replace"))

    @inlineCallbacks
    def try_key(self) -> Generator[Deferred, Any, str | None]:
        """A key of the business for you to try the API by hand (None: there is no business)."""
        daemon = self.teller.daemon
        try:
            made = yield daemon.db.run_interaction(
                "demo.try_key", try_key_txn, BUSINESS_CODE, "by hand", now_ns(self.teller.reactor)
            )
        except BusinessError:  # the chapter went wrong before staff made it: said already
            return None
        return made

    def stop(self) -> Deferred | None:
        return self.receiver.stop()


def _status(answer: Answer) -> str | None:
    """A request state's status (None: the answer is not one)."""
    try:
        state = json.loads(answer.text)
    except ValueError:
        return None
    return state.get("status") if isinstance(state, dict) else None
