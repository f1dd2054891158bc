"""A small ledger to reconcile: the chart, wallets and agent stores, e-money issued by staff (a
move with its audit entry, as `smscore admin` does), moves between wallets, and raw writes that
break things on purpose. Times are explicit (epoch nanoseconds)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert, update

from daemon.audit import record_txn
from daemon.chart import TransferCode, deposit_txn, ensure_chart_txn, new_transfer_id
from daemon.commands import Role
from daemon.money.issue import Issue, issue_txn
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, MoveState, open_move_txn
from daemon.schema import inbox
from daemon.subscribers import PEPPER_BYTES, PinHasher, create_subscriber_txn
from ledger.schema import accounts

NS = 1_000_000_000
HASHER = PinHasher(b"r" * PEPPER_BYTES)
TZ = "Africa/Nairobi"  # UTC+3, the default [money] timezone


def utc_ns(text: str) -> int:
    """`2025-12-01T09:00` (UTC) as epoch nanoseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


class Books:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            ensure_chart_txn(conn, "KES", utc_ns("2025-11-01T00:00"))

    def person(self, msisdn: str, role: Role = Role.CUSTOMER, name: str = "", **fields) -> int:
        with self.engine.begin() as conn:
            found = create_subscriber_txn(
                conn, msisdn, pin=None, hasher=HASHER, currency="KES",
                now_ns=utc_ns("2025-11-01T00:00"), role=role, name=name, **fields,
            )  # fmt: skip
        return found.account_id

    def issue(self, msisdn: str, account_id: int, amount_minor: int, at_ns: int, *,
              kind: MoveKind = MoveKind.FLOAT, action: str = "float", detail: str = "") -> Move:  # fmt: skip
        with self.engine.begin() as conn:
            audit_id = record_txn(conn, "alice", action, msisdn, detail or action, at_ns)
            return issue_txn(
                conn, Issue(kind, msisdn, account_id, amount_minor, audit_id), "KES", at_ns
            )

    def move(self, kind: MoveKind, payer: str | None, payee: str | None, legs: list[Leg],
             at_ns: int, *, state: MoveState = MoveState.POSTED, inbox_id: int | None = None,
             audit_id: int | None = None) -> Move:  # fmt: skip
        request = MoveRequest(kind, payer, payee, legs[0].amount_minor, legs,
                              inbox_id=inbox_id, audit_id=audit_id)  # fmt: skip
        with self.engine.begin() as conn:
            found = open_move_txn(conn, request, currency="KES", now_ns=at_ns, state=state)
        assert isinstance(found, Move), found
        return found

    def mo(self, sender: str, text: str, at_ns: int) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                insert(inbox).values(
                    received_at_ns=at_ns, bind_name="smsc1", source_addr=sender,
                    destination_addr="12345", data_coding=0, payload=text.encode(), text=text,
                    dedupe_key=f"{sender}:{at_ns}", status="done", attempts=1,
                )
            ).inserted_primary_key[0]  # fmt: skip

    def raw_deposit(self, account_id: int, amount_minor: int, at_ns: int) -> int:
        """A posting made outside the move records (no move, no audit entry)."""
        transfer_id = new_transfer_id()
        with self.engine.begin() as conn:
            deposit_txn(conn, account_id, amount_minor, "KES", at_ns, transfer_id=transfer_id,
                        user_data="by hand")  # fmt: skip
        return transfer_id

    def corrupt_balance(self, account_id: int, credits_delta_minor: int) -> None:
        """The ledger's running total of an account changed behind its transfers' back."""
        with self.engine.begin() as conn:
            conn.execute(
                update(accounts).where(accounts.c.id == account_id)
                .values(credits_posted=accounts.c.credits_posted + credits_delta_minor)
            )  # fmt: skip


def deposit_leg(agent_account: int, customer_account: int, amount_minor: int) -> Leg:
    return Leg(agent_account, customer_account, amount_minor, TransferCode.DEPOSIT)
