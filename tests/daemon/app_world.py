"""The World (tests/daemon/money_world.py) with the app channel configured, and a reference device
(daemon.device.state) that sends through it: encrypted MOs as the LIS stores them (text-framed, or
8-bit with the LIS's hex text), replies read back and decrypted."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import insert, select

from daemon.config import build_config
from daemon.device.state import DeviceState
from daemon.money.commands import service_registry
from daemon.schema import inbox
from daemon.tranproc import TranProcEnv
from smscore.concat import concat_info
from tests.daemon.money_world import HASHER, SHORT_CODE, World


def app_world(engine, tmp_path: Path, **app: object) -> World:
    world = World(engine)
    world.config = build_config(
        {
            "sender": {"source_addr": SHORT_CODE},
            "app": {"key_file": str(tmp_path / "app_key"), **app},
        }
    )
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    return world


def enrol(world: World, msisdn: str, pin: str = "1234") -> DeviceState:
    device = DeviceState.new(msisdn)
    reply = world.sms(msisdn, device.enrol_text(pin))
    assert device.accept_enrolment(reply), reply
    return device


def send_frame_text(world: World, sender: str, text: str) -> tuple[int, str]:
    """An app message as text; (inbox id, the reply text to the sender)."""
    row_id = world.mo(sender, text)
    return row_id, _reply(world, row_id, sender)


def send_binary(world: World, sender: str, parts: list[bytes]) -> tuple[int, str]:
    """8-bit parts as the LIS stores the reassembled message: the bodies joined, text = hex."""
    body = b"".join(concat_info(0x40, part, {})[1] for part in parts)
    with world.engine.begin() as conn:
        row_id = conn.execute(
            insert(inbox).values(
                received_at_ns=world.now_ns, bind_name="smsc1", source_addr=sender,
                destination_addr=SHORT_CODE, data_coding=4, payload=body, text=body.hex(),
                dedupe_key=uuid.uuid4().hex, status="new", attempts=0,
            )
        ).inserted_primary_key[0]  # fmt: skip
    return row_id, _reply(world, row_id, sender)


def _reply(world: World, row_id: int, sender: str) -> str:
    world.run_tranproc()
    with world.engine.begin() as conn:
        row = conn.execute(select(inbox).where(inbox.c.id == row_id)).one()
    assert row.status == "done", row.error
    replies = [m for m in world.outbox(inbox_id=row_id) if m.to == sender]
    assert len(replies) == 1, replies
    return replies[0].text


def inbox_row(world: World, row_id: int):
    with world.engine.begin() as conn:
        return conn.execute(select(inbox).where(inbox.c.id == row_id)).one()
