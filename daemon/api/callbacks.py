"""The callback deliverer (roles `all` and `lis`): takes due `api_callbacks` rows, PUTs each body,
signed with its business's secret, to the row's URL, and records what came of it:

- a 2xx answer: delivered;
- anything else (another status, a timeout, a refused connection): tried again after
  callback_first_retry_s * callback_backoff ** (attempts - 1), at most callback_max_interval_s,
  jittered (daemon.api.callback_rows.retry_delay_s); after callback_max_attempts: failed, which
  `smscore admin callbacks retry` can put back;
- a URL the engine does not deliver to (daemon.api.callback_urls): failed at once.

At most callback_max_in_flight PUTs are under way at once: a claim takes only as many rows as
there is room for, and a finished PUT makes room for the next claim. Each PUT carries
Content-Type: application/json, X-CorrelationID (the client's, when it sent one), X-Date and
X-Signature: sha256=<hex HMAC-SHA256(secret, X-Date + "\n" + body)> (daemon.api.callback_keys): the
date is signed, so a receiver refuses a replayed callback by its age. Delivery is at
least once: a receiver may see a callback again (a crash after its answer, before the record) and
should treat X-CorrelationID plus the body's reference as its idempotency key.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import clock
from daemon.api.callback_http import AgentHttp, CallbackHttp
from daemon.api.callback_keys import CallbackKeyError, MasterKey, master_key, sign
from daemon.api.callback_rows import (
    Attempt,
    Callback,
    ClaimRound,
    claim_due_txn,
    record_attempt_txn,
)
from daemon.api.callback_urls import callback_url_problem, check_callback_url
from daemon.api.components import api_component
from daemon.api.env import ApiEnv
from daemon.api.errors import iso_time
from daemon.clock import NS_PER_S
from daemon.components import ComponentStatus
from daemon.config import Config
from daemon.db import Database
from daemon.deferreds import when_done

__all__ = ["CallbackDeliverer", "check_callback_url", "deliverer_component"]

log = Logger()
_LEASE_MARGIN_S = 5.0  # beyond the PUT's own timeout: time to record its outcome


class CallbackDeliverer:
    name = "callbacks"

    def __init__(
        self,
        reactor: IReactorTime,
        db: Database,
        config: Config,
        http: CallbackHttp,
        key: MasterKey,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.settings = config.api
        self.http = http
        self.key = key
        self.jitter = jitter
        self.counters = {"claimed": 0, "delivered": 0, "retry": 0, "failed": 0, "stale": 0,
                         "in_flight": 0, "errors": 0}  # fmt: skip
        self.last_error = ""
        self._started = False
        self._call: IDelayedCall | None = None
        self._claiming: Deferred | None = None
        self._sending: dict[int, Deferred] = {}
        self._more_waiting = False  # the last claim was full or had no room: claim again soon

    @property
    def lease_ns(self) -> int:
        return int((self.settings.callback_timeout_s + _LEASE_MARGIN_S) * NS_PER_S)

    # --- the Component interface

    def start(self) -> None:
        self._started = True
        self._schedule(0)

    def stop(self) -> Deferred:
        self._started = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        # A claim under way still sends what it took; then every PUT is waited for.
        claimed = when_done(self._claiming)
        claimed.addCallback(lambda _: DeferredList(list(self._sending.values())))
        return claimed.addCallback(lambda _: self.http.close())

    def status(self) -> ComponentStatus:
        return ComponentStatus({**self.counters, "in_flight": len(self._sending)}, self.last_error)

    # --- claiming

    def _schedule(self, delay_s: float) -> None:
        if not self._started:
            return
        if self._call is not None and self._call.active():
            if self._call.getTime() <= self.reactor.seconds() + delay_s:
                return
            self._call.cancel()
        self._call = self.reactor.callLater(delay_s, self._tick)

    def _tick(self) -> None:
        self._call = None
        if self._claiming is None:
            self.run_now()

    def run_now(self) -> Deferred:
        """Claim what there is room for and start its PUTs; fires when the claim is made."""
        room = self.settings.callback_max_in_flight - len(self._sending)
        if room <= 0 or self._claiming is not None:
            self._more_waiting = True
            return succeed(None)
        claimed = self.db.run_interaction(
            "callbacks.claim", claim_due_txn, clock.now_ns(self.reactor), room, self.lease_ns,
            self.settings.callback_max_attempts,
        )  # fmt: skip
        self._claiming = claimed
        return claimed.addCallbacks(self._claimed, self._claim_failed)

    def _claimed(self, claimed: ClaimRound) -> None:
        self._claiming = None
        self._more_waiting = claimed.full
        for claim in claimed.claims:
            self._send(claim)
        self.counters["claimed"] += len(claimed.claims)
        self._schedule(0 if claimed.full else self.settings.callback_interval_s)

    def _claim_failed(self, failure: Failure) -> None:
        self._claiming = None
        self._error("claim", failure)
        self._schedule(self.settings.callback_interval_s)

    def _error(self, what: str, failure: Failure) -> None:
        self.counters["errors"] += 1
        self.last_error = f"{what}: {failure.getErrorMessage()}".splitlines()[0][:200]
        log.failure("callbacks: {what} failed", failure, what=what)

    # --- sending

    def _record_failed(self, failure: Failure) -> None:
        # The row stays `sending`: its lease runs out and it is sent again (at least once).
        self._error("record", failure)

    def _send(self, claim: Callback) -> None:
        # In the map before its callbacks run: a PUT may be answered at once (tests).
        self._sending[claim.id] = sent = maybeDeferred(self._put, claim)
        sent.addErrback(lambda failure: Attempt(None, f"internal: {failure.type.__name__}"))
        sent.addCallback(self._record, claim)
        sent.addErrback(self._record_failed)
        sent.addBoth(self._sent, claim)

    def _put(self, claim: Callback) -> Deferred[Attempt]:
        problem = callback_url_problem(claim.url, self.settings.callback_http_hosts)
        if problem is not None:
            return succeed(Attempt(None, f"URL refused: {problem}", permanent=True))
        body = claim.body.encode("utf-8")
        secret = self.key.business_secret(claim.business_code, claim.secret_version)
        date = iso_time(clock.now_ns(self.reactor))
        headers = {
            "Content-Type": "application/json",
            "X-Date": date,
            "X-Signature": sign(secret, date, body),
        }
        if claim.client_correlation_id:
            headers["X-CorrelationID"] = claim.client_correlation_id
        return self.http.put(claim.url, headers, body)

    def _record(self, attempt: Attempt, claim: Callback) -> Deferred:
        recorded = self.db.run_interaction(
            "callbacks.record", record_attempt_txn, claim, attempt,
            clock.now_ns(self.reactor), self.settings, self.jitter(),
        )  # fmt: skip
        return recorded.addCallback(self._recorded, claim, attempt)

    def _recorded(self, step: str, claim: Callback, attempt: Attempt) -> None:
        self.counters[step] += 1
        if step == "failed":
            log.warn(
                "callback {id} of business {business} failed after {attempts} attempt(s): {error}",
                id=claim.id,
                business=claim.business_code,
                attempts=claim.attempts,
                error=attempt.error,
            )

    def _sent(self, result: object, claim: Callback) -> None:
        self._sending.pop(claim.id, None)
        if self._more_waiting:
            self._schedule(0)


@api_component("all", "lis")
def deliverer_component(env: ApiEnv) -> CallbackDeliverer | None:
    config = env.config
    if not config.api.enabled:
        return None
    try:
        key = master_key(config)  # made at the first start, like the PIN pepper
    except (CallbackKeyError, OSError) as exc:
        from daemon.service import StartupError  # the service imports this module's registry

        raise StartupError(f"callback key: {exc}") from None
    settings = config.api
    http = AgentHttp(env.reactor, settings.callback_timeout_s, settings.callback_max_in_flight)
    return CallbackDeliverer(env.reactor, env.db, config, http, key)
