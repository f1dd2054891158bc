"""A small mobile-money world for tests: subscribers, agents, SMS in through the TranProc, SMS out
read from the outbox, delivery receipts set by hand, the settler and the sweeper run on demand, and
time advanced explicitly. Every test that moves money ends with `world.check()`: the ledger's
invariants hold and the trust account reconciles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from daemon.chart import deposit_txn, ensure_chart_txn, new_transfer_id
from daemon.commands import Role
from daemon.config import build_config
from daemon.money.commands import service_registry
from daemon.money.reconcile import reconcile_txn
from daemon.money.settle import HOOK, SettleEnv, make_void_hook, settle_txn
from daemon.outbox import OutboxStatus
from daemon.schema import inbox, outbox
from daemon.subscribers import (
    PEPPER_BYTES,
    PinHasher,
    Subscriber,
    create_subscriber_txn,
    get_subscriber_txn,
)
from daemon.sweeper import SweepLimits, sweep_txn
from daemon.tranproc import TranProcEnv, process_batch_txn
from ledger import check_ledger, get_balance

NS = 1_000_000_000
START_NS = 1_764_590_400 * NS  # 2025-12-01 12:00 UTC: 15:00 in Nairobi, mid-day for day limits
SHORT_CODE = "12345"
HASHER = PinHasher(b"w" * PEPPER_BYTES)


@dataclass(frozen=True)
class Sms:
    id: int
    to: str
    text: str
    on_failure: str | None
    status: str


class World:
    def __init__(self, engine: Engine, **money: object) -> None:
        self.engine = engine
        self.config = build_config({"money": money, "sender": {"source_addr": SHORT_CODE}})
        self.env = TranProcEnv.build(service_registry(), self.config, HASHER)
        self.now_ns = START_NS
        self.settle_env = SettleEnv(self.config, HASHER)
        with engine.begin() as conn:
            ensure_chart_txn(conn, "KES", self.now_ns)

    # --- people

    def add(self, msisdn: str, role: Role = Role.CUSTOMER, pin: str | None = "1234",
            balance_minor: int = 0, **fields: object) -> Subscriber:  # fmt: skip
        with self.engine.begin() as conn:
            found = create_subscriber_txn(
                conn, msisdn, pin=pin, hasher=HASHER, currency="KES", now_ns=self.now_ns,
                role=role, **fields,
            )  # fmt: skip
            if balance_minor:
                deposit_txn(
                    conn, found.account_id, balance_minor, "KES", self.now_ns,
                    transfer_id=new_transfer_id(), user_data="test",
                )  # fmt: skip
        return found

    def subscriber(self, msisdn: str) -> Subscriber | None:
        with self.engine.begin() as conn:
            return get_subscriber_txn(conn, msisdn)

    def balance(self, msisdn: str) -> int:
        with self.engine.begin() as conn:
            found = get_subscriber_txn(conn, msisdn)
            assert found is not None
            return get_balance(conn, found.account_id).available

    # --- SMS

    def sms(self, sender: str, text: str) -> str:
        """Send `text` from `sender`; the reply to the sender (exactly one is required)."""
        row_id = self.mo(sender, text)
        self.run_tranproc()
        with self.engine.begin() as conn:
            row = conn.execute(select(inbox).where(inbox.c.id == row_id)).one()
        assert row.status != "failed", f"{text!r}: the handler failed: {row.error}"
        replies = [m for m in self.outbox(inbox_id=row_id) if m.to == sender]
        assert len(replies) == 1, f"{text!r}: {len(replies)} replies to the sender: {replies}"
        return replies[0].text

    def mo(self, sender: str, text: str) -> int:
        """An MO as the LIS stores it: UCS-2 (so any text fits), NUL removed (daemon.lis)."""
        text = text.replace("\x00", "")
        with self.engine.begin() as conn:
            return conn.execute(
                insert(inbox).values(
                    received_at_ns=self.now_ns, bind_name="smsc1", source_addr=sender,
                    destination_addr=SHORT_CODE, data_coding=8, payload=text.encode("utf-16-be"), text=text,
                    dedupe_key=uuid.uuid4().hex, status="new", attempts=0,
                )
            ).inserted_primary_key[0]  # fmt: skip

    def run_tranproc(self) -> None:
        with self.engine.begin() as conn:
            process_batch_txn(conn, self.env, self.now_ns, 200)

    def outbox(self, inbox_id: int | None = None, to: str | None = None) -> list[Sms]:
        query = select(outbox).order_by(outbox.c.id)
        if inbox_id is not None:
            query = query.where(outbox.c.inbox_id == inbox_id)
        if to is not None:
            query = query.where(outbox.c.destination_addr == to)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [Sms(r.id, r.destination_addr, r.text, r.on_failure, r.status) for r in rows]

    def texts_to(self, msisdn: str) -> list[str]:
        return [m.text for m in self.outbox(to=msisdn)]

    def last_to(self, msisdn: str) -> str:
        return self.texts_to(msisdn)[-1]

    # --- receipts, time, settling

    def receipts(self, status: OutboxStatus = OutboxStatus.DELIVERED) -> int:
        """Every confirmation waiting on its receipt gets `status`; then the settler runs."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(outbox)
                .where(
                    outbox.c.on_failure == HOOK,
                    outbox.c.on_failure_done_at_ns.is_(None),
                    outbox.c.status == OutboxStatus.QUEUED,
                )
                .values(status=status, final_at_ns=self.now_ns)
            )
        self.settle()
        self.sweep()
        return result.rowcount

    def settle(self) -> dict[str, int]:
        with self.engine.begin() as conn:
            counts, _ = settle_txn(conn, self.settle_env, self.now_ns)
        return counts

    def sweep(self) -> None:
        limits = SweepLimits(1000, 120 * NS, 5, 3600 * NS)
        hooks = {HOOK: make_void_hook(self.settle_env)}
        with self.engine.begin() as conn:
            sweep_txn(conn, self.now_ns, limits, hooks, {})

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * NS)

    # --- invariants

    def check(self) -> None:
        with self.engine.begin() as conn:
            report = check_ledger(conn)
            trust = reconcile_txn(conn)
        assert report.ok, report.violations
        assert trust.ok, trust.describe("KES")
