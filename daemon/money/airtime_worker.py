"""The airtime worker: a daemon component that takes due orders, asks the provider through the
gateway, and records each answer (daemon.money.airtime_settle). Database work runs on the database
thread (`Database.run_interaction`); the gateway's requests are non-blocking, at most `batch_size`
at once. A claim is its own transaction, committed before any request goes out: an order whose
answer is lost (a crash, a timeout) is asked again later, never forgotten.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from daemon import clock
from daemon.clock import NS_PER_S
from daemon.config import Config
from daemon.db import Database
from daemon.money.airtime_gateway import AirtimeGateway, Outcome, TopUp
from daemon.money.airtime_orders import Action, Claim, claim_due_txn
from daemon.money.airtime_settle import record_outcome_txn
from daemon.periodic import Rerun

log = Logger()
_LEASE_MARGIN_S = 5.0  # beyond the request's own timeout: time to record its answer


class AirtimeWorker(Rerun):
    name = "airtime"

    def __init__(
        self, reactor: IReactorTime, db: Database, gateway: AirtimeGateway, config: Config
    ) -> None:
        super().__init__(reactor, {"requests": 0})
        self.db = db
        self.gateway = gateway
        self.config = config
        self.interval_s = config.airtime.poll_interval_s

    @property
    def lease_ns(self) -> int:
        return int((self.config.airtime.timeout_s + _LEASE_MARGIN_S) * NS_PER_S)

    def stop(self) -> Deferred:
        close = getattr(self.gateway, "close", None)
        return super().stop().addCallback(lambda _: close() if close is not None else None)

    def run_now(self) -> Deferred:
        """One round: claim, ask, record. Fires with the claims' step names (tests)."""
        batch = self.config.airtime.batch_size
        now_ns = clock.now_ns(self.reactor)
        claimed = self.db.run_interaction(
            "airtime.claim", claim_due_txn, now_ns, batch, self.lease_ns
        )
        self._running = round_ = claimed.addCallback(self._ask_all)
        round_.addCallbacks(self._done, self._failed)
        return round_

    def _ask_all(self, claims: list[Claim]) -> Deferred:
        asked = [self._ask(claim) for claim in claims]
        return gatherResults(asked, consumeErrors=True).addCallback(
            lambda steps: (steps, len(claims) >= self.config.airtime.batch_size)
        )

    def _ask(self, claim: Claim) -> Deferred:
        order = claim.order
        request = TopUp(
            order.ref, order.recipient_msisdn, order.amount_minor, self.config.service.currency
        )
        call = self.gateway.topup if claim.action is Action.TOPUP else self.gateway.query
        self.counters["requests"] += 1
        answer = maybeDeferred(call, request)
        answer.addErrback(lambda failure: Outcome.unknown(f"gateway: {failure.getErrorMessage()}"))
        return answer.addCallback(self._record, claim)

    def _record(self, outcome: Outcome, claim: Claim) -> Deferred:
        now_ns = clock.now_ns(self.reactor)
        return self.db.run_interaction(
            "airtime.record", record_outcome_txn, self.config, claim, outcome, now_ns
        )

    def _done(self, result: tuple[list[str], bool]) -> list[str]:
        steps, full = result
        for step in steps:
            self.counters[step] = self.counters.get(step, 0) + 1
        self._finished(full)
        return steps
