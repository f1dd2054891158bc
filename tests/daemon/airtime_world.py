"""The money World with airtime switched on, a scripted gateway and the airtime worker driven by a
task.Clock kept at the World's time (no sleeps, no network)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Engine, insert, select
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.money.airtime_gateway import Outcome, OutcomeKind, TopUp
from daemon.money.airtime_orders import Order, OrderState, orders_txn
from daemon.money.airtime_worker import AirtimeWorker
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.schema import inbox
from daemon.tranproc import TranProcEnv
from tests.daemon.money_world import HASHER, NS, SHORT_CODE, World

SUCCEEDED = Outcome.succeeded("PRV-1")
FAILED = Outcome.failed("number not prepaid")
UNKNOWN = Outcome.unknown("no answer: TimeoutError")
NOT_FOUND = Outcome(OutcomeKind.NOT_FOUND, reason="the provider has no such order")
AIRTIME = {"query_after_s": 30.0, "backoff": 2.0, "max_queries": 3, "late_checks": 2}


class ScriptedGateway:
    """Answers each number's requests from its script, in order; the last answer repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Outcome]] = {}
        self.calls: list[tuple[str, str]] = []  # (topup | query, order id)
        self.by_id: dict[str, list[str]] = defaultdict(list)

    def script(self, msisdn: str, *answers: Outcome) -> None:
        self.scripts[msisdn] = list(answers)

    def _answer(self, action: str, order: TopUp) -> Deferred:
        self.calls.append((action, order.id))
        self.by_id[order.id].append(action)
        answers = self.scripts.get(order.msisdn, [SUCCEEDED])
        return succeed(answers.pop(0) if len(answers) > 1 else answers[0])

    def topup(self, order: TopUp) -> Deferred:
        return self._answer("topup", order)

    def query(self, order: TopUp) -> Deferred:
        return self._answer("query", order)


class AirtimeWorld(World):
    def __init__(self, engine: Engine, **airtime: object) -> None:
        super().__init__(engine)
        settings = {"enabled": True, **AIRTIME, **airtime}
        self.config = build_config(
            {"sender": {"source_addr": SHORT_CODE}, "airtime": settings}, "test"
        )
        self.env = TranProcEnv.build(service_registry(), self.config, HASHER)
        self.settle_env = SettleEnv(self.config, HASHER)
        self.clock = Clock()
        self.clock.advance(self.now_ns / NS)
        self.gateway = ScriptedGateway()
        self.worker = AirtimeWorker(self.clock, InlineDatabase(engine), self.gateway, self.config)

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.clock.advance(seconds)

    def work(self) -> list[str]:
        """One round of the worker; what each answer did."""
        done: list[list[str]] = []
        self.worker.run_now().addCallback(done.append)
        assert done, "the worker's round did not finish"
        return done[0]

    def orders(self) -> list[Order]:
        with self.engine.begin() as conn:
            return list(reversed(orders_txn(conn)))

    def order(self) -> Order:
        [order] = self.orders()
        return order

    def state(self) -> OrderState:
        return self.order().state

    def mo_twice(self, sender: str, text: str) -> list[str]:
        """The same MO stored twice (as an SMSC re-delivers it): the replies to the sender."""
        ids = []
        for _ in range(2):
            with self.engine.begin() as conn:
                ids.append(conn.execute(insert(inbox).values(
                    received_at_ns=self.now_ns, bind_name="smsc1", source_addr=sender,
                    destination_addr=SHORT_CODE, data_coding=8, payload=text.encode("utf-16-be"),
                    text=text, dedupe_key="same-mo", status="new", attempts=0,
                )).inserted_primary_key[0])  # fmt: skip
        self.run_tranproc()
        with self.engine.begin() as conn:
            rows = conn.execute(select(inbox.c.status).where(inbox.c.id.in_(ids))).all()
        assert all(row.status != "failed" for row in rows)
        return [m.text for i in ids for m in self.outbox(inbox_id=i) if m.to == sender]
