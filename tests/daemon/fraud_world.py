"""Helpers for the fraud tests, over the shared World (tests.daemon.money_world, not edited here):
a World with a [fraud] section, holds and moves read back, a staff decision, a SIM swap, a device."""

from __future__ import annotations

import uuid

from sqlalchemy import func, insert, select

from daemon.config import build_config
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.schema import audit_log, devices, fraud_holds, inbox, moves
from daemon.security.review import Reviewer, reject_txn, release_txn
from daemon.security.sim_swaps import Swap, record_swap_txn
from daemon.tranproc import TranProcEnv
from tests.daemon.money_world import HASHER, SHORT_CODE, World

ALICE, BOB, CAROL = "254712000001", "254712000002", "254712000003"
STORE = "254722000100"
KES = 100
WALLET = 10_000 * KES


def fraud_world(engine, fraud: dict | None = None, **money: object) -> World:
    """A World whose config has `fraud` as its [fraud] section."""
    world = World(engine, **money)
    data = {"money": money, "sender": {"source_addr": SHORT_CODE}, "fraud": fraud or {}}
    world.config = build_config(data)
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.settle_env = SettleEnv(world.config, HASHER)
    return world


def holds(world: World) -> list:
    with world.engine.begin() as conn:
        return conn.execute(select(fraud_holds).order_by(fraud_holds.c.id)).all()


def move_of(world: World, move_id: int):
    with world.engine.begin() as conn:
        return conn.execute(select(moves).where(moves.c.id == move_id)).one()


def count_moves(world: World) -> int:
    with world.engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(moves)).scalar()


def actions(world: World, action: str) -> list:
    with world.engine.begin() as conn:
        return conn.execute(select(audit_log).where(audit_log.c.action == action)).all()


def reviewer(world: World, actor: str = "carol") -> Reviewer:
    return Reviewer(world.config, actor, HASHER)


def release(world: World, hold_id: int):
    with world.engine.begin() as conn:
        return release_txn(conn, reviewer(world), hold_id, world.now_ns)


def reject(world: World, hold_id: int, reason: str = "not the customer"):
    with world.engine.begin() as conn:
        return reject_txn(conn, reviewer(world), hold_id, reason, world.now_ns)


def swap_sim(world: World, msisdn: str, hours_ago: float = 0.0) -> None:
    at_ns = world.now_ns - int(hours_ago * 3600 * 10**9)
    with world.engine.begin() as conn:
        record_swap_txn(conn, Swap(msisdn, at_ns), "staff:test", "test", world.now_ns)


def enrol_device(world: World, msisdn: str, state: str = "active") -> None:
    with world.engine.begin() as conn:
        conn.execute(
            insert(devices).values(
                device_id=uuid.uuid4().hex[:24], msisdn=msisdn, label="phone",
                channel_public_key=b"k" * 32, state=state, counter_in=0, counter_out=0,
                created_at_ns=world.now_ns, enrolled_at_ns=world.now_ns,
            )
        )  # fmt: skip


def redeliver(world: World, sender: str, text: str, key: str) -> int:
    """An MO stored with a fixed dedupe key: the same key twice is a re-delivery (daemon.repeats)."""
    with world.engine.begin() as conn:
        row_id = conn.execute(
            insert(inbox).values(
                received_at_ns=world.now_ns, bind_name="smsc1", source_addr=sender,
                destination_addr=SHORT_CODE, data_coding=8, payload=text.encode("utf-16-be"),
                text=text, dedupe_key=key, status="new", attempts=0,
            )
        ).inserted_primary_key[0]  # fmt: skip
    world.run_tranproc()
    return row_id
