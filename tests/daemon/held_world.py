"""The World for held moves of every flow (tests.daemon.money_world and airtime_world, not edited
here): OTP above KES 3,000.00, airtime on, and a payer, a recipient, a till, a biller and an agent
store. `FLOWS` names each money command that can be held, with how to make it and what it pays."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert, select

from daemon.commands import Role
from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.money.account_rules import parse_rule
from daemon.money.airtime_worker import AirtimeWorker
from daemon.money.billers import add_biller_txn
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.schema import fraud_holds, moves, pay_requests, tills
from daemon.tranproc import TranProcEnv
from tests.daemon.airtime_world import AIRTIME, AirtimeWorld
from tests.daemon.money_world import HASHER, SHORT_CODE

ALICE, BOB = "254712000001", "254712000002"
MERCHANT, STORE = "254712000050", "254722000100"
KES = 100
WALLET = 20_000 * KES
AMOUNT = 5_000 * KES  # above the OTP threshold and the SIM swap rule's max_minor
OTP_ABOVE = 3_000 * KES


def held_world(engine, fraud: dict | None = None, **money: object) -> AirtimeWorld:
    world = AirtimeWorld(engine)
    world.config = build_config(
        {
            "sender": {"source_addr": SHORT_CODE},
            "airtime": {"enabled": True, **AIRTIME},
            "security": {"otp_amount_above_minor": OTP_ABOVE},
            "fraud": fraud or {},
            "money": money,
        }
    )
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.settle_env = SettleEnv(world.config, HASHER)
    world.worker = AirtimeWorker(world.clock, InlineDatabase(engine), world.gateway, world.config)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Bob Otieno")
    world.add(MERCHANT, Role.BILLER, name="Mama Mboga")
    world.add(STORE, Role.AGENT, balance_minor=WALLET, name="Duka Kuu", agent_number="123456")
    with world.engine.begin() as conn:
        conn.execute(
            insert(tills).values(
                till_number="654321", msisdn=MERCHANT, name="Mama Mboga", state="active",
                created_at_ns=world.now_ns, created_by="test",
            )
        )  # fmt: skip
        add_biller_txn(conn, "KPLC", "Kenya Power", parse_rule("digits:8"), bills_only=False,
                       currency="KES", actor="test", now_ns=world.now_ns)  # fmt: skip
    return world


def ask_request(world) -> str:
    """Bob asks Alice for AMOUNT: PAY <code> is then her command."""
    reply = world.sms(BOB, f"REQ 0712000001 {AMOUNT // KES}")
    return re.search(r"request (R\d+)", reply).group(1)


@dataclass(frozen=True)
class Flow:
    name: str
    command: Callable[[object], str]  # the payer's MO (PIN 1234), given the world
    done: str  # in the payer's reply once it is committed
    payee: Callable[[object], int]  # what the payee side holds (to see it paid once)

    def __repr__(self) -> str:
        return self.name


def _balance_of(msisdn):
    return lambda world: world.balance(msisdn)


def _biller_balance(world) -> int:
    from daemon.money.billers import get_biller_txn
    from ledger import get_balance

    with world.engine.begin() as conn:
        found = get_biller_txn(conn, "KPLC")
        return get_balance(conn, found.account_id).available


def _airtime_paid(world) -> int:
    from daemon.chart import SystemAccount
    from ledger import get_balance

    with world.engine.begin() as conn:
        return get_balance(conn, int(SystemAccount.AIRTIME_SETTLEMENT)).credits_posted


FLOWS = [
    Flow("PAY", lambda w: "PAY KPLC 12345678 5000 1234", "paid to KENYA POWER", _biller_balance),
    Flow("TILL", lambda w: "TILL 654321 5000 1234", "paid to MAMA MBOGA", _balance_of(MERCHANT)),
    Flow("BUY", lambda w: "BUY 5000 0733000003 1234", "Buying KES 5,000.00", _airtime_paid),
    Flow("WITHDRAW", lambda w: "WITHDRAW 123456 5000 1234", "withdrawn at", _balance_of(STORE)),
    Flow("PAY-request", lambda w: f"PAY {ask_request(w)} 1234", "sent to BOB O.", _balance_of(BOB)),
]


def finish(world) -> None:
    """Every confirmation delivered (posting what waits for it), and the airtime worker's round."""
    world.receipts()
    world.work()


def all_moves(world) -> list:
    with world.engine.begin() as conn:
        return conn.execute(select(moves).order_by(moves.c.id)).all()


def payer_moves(world) -> list:
    return [move for move in all_moves(world) if move.payer_msisdn == ALICE]


def holds(world) -> list:
    with world.engine.begin() as conn:
        return conn.execute(select(fraud_holds).order_by(fraud_holds.c.id)).all()


def requests(world) -> list:
    with world.engine.begin() as conn:
        return conn.execute(select(pay_requests).order_by(pay_requests.c.id)).all()


def charged(world) -> int:
    """What the payer's posted moves took: each amount and its fee."""
    return sum(m.amount_minor + m.fee_minor for m in payer_moves(world) if m.state == "posted")
