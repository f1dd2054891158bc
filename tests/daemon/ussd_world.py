"""USSD dialogues for daemon-level tests: the money World (tests/daemon/money_world.py) with the
shipped menu stored as the daemon stores it at start, MOs as the LIS stores USSD (the three inbox
columns set), screens read from the outbox, and a screen's submit answered by hand (`delivered` as
the sender marks it on submit_sm_resp OK, or failed)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, insert, select, update

from daemon.config import build_config
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.outbox import OutboxStatus
from daemon.schema import inbox, outbox
from daemon.schema_ussd import ussd_sessions
from daemon.tranproc import TranProcEnv, process_batch_txn
from daemon.ussd.menu import Menu
from daemon.ussd.menu_store import store_menu_txn
from daemon.ussd.menu_watch import load_config_menu
from smscore.ussd import UssdOp
from tests.daemon.money_world import HASHER, SHORT_CODE, World

CODE = "*334#"
BIND = "ussd1"
# A person reading a screen and typing an answer: longer than [ussd] copy_window_s, within which an
# MO equal to an earlier one of its dialogue is the SMSC's copy (daemon.ussd.copies).
A_PERSON_S = 3.0


@dataclass(frozen=True)
class ScreenRow:
    id: int
    to: str
    text: str
    op: int
    end: bool
    status: str
    on_failure: str | None
    session_key: str
    source_addr: str

    @property
    def final(self) -> bool:
        return self.op == UssdOp.PSSR_RESPONSE and self.end


class UssdWorld(World):
    def __init__(self, engine: Engine, key_dir: Path | None = None, **money: object) -> None:
        super().__init__(engine, **money)
        if key_dir is not None:  # receipt tags signed with keys there (SignedWorld's way)
            self.config = build_config(
                {"money": money, "sender": {"source_addr": SHORT_CODE},
                 "receipts": {"key_dir": str(key_dir)}}
            )  # fmt: skip
            self.settle_env = SettleEnv(self.config, HASHER)
        self.env = self.tranproc_env()
        self._keys = itertools.count(7001)
        self.menu = self.load_menu(load_config_menu(self.config))  # as the daemon starts

    def load_menu(self, menu: Menu) -> Menu:
        """The menu watcher's (re)load: new sessions start on `menu`, running ones keep theirs."""
        with self.engine.begin() as conn:
            store_menu_txn(conn, menu, self.now_ns)
        return menu

    def tranproc_env(self) -> TranProcEnv:
        """A (second) TranProc's environment: the same database, config and menus."""
        return TranProcEnv.build(service_registry(), self.config, HASHER)

    # --- MOs

    def ussd_mo(
        self, msisdn: str, text: str, key: str, op: UssdOp, end: bool = False,
        dedupe_key: str | None = None,
    ) -> int:  # fmt: skip
        with self.engine.begin() as conn:
            return conn.execute(
                insert(inbox).values(
                    received_at_ns=self.now_ns, bind_name=BIND, source_addr=msisdn,
                    destination_addr=CODE, data_coding=0, payload=text.encode(), text=text,
                    dedupe_key=dedupe_key or uuid.uuid4().hex, status="new", attempts=0,
                    ussd_session=key, ussd_op=int(op), ussd_end=end,
                )
            ).inserted_primary_key[0]  # fmt: skip

    def dial(self, msisdn: str, code: str = CODE, key: str | None = None) -> Dialogue:
        dialogue = Dialogue(self, msisdn, key or str(next(self._keys)))
        dialogue.first = dialogue.turn(code, UssdOp.PSSR_INDICATION)
        return dialogue

    # --- screens

    def screens(self, inbox_id: int | None = None, to: str | None = None) -> list[ScreenRow]:
        query = select(outbox).where(outbox.c.ussd_op.is_not(None)).order_by(outbox.c.id)
        if inbox_id is not None:
            query = query.where(outbox.c.inbox_id == inbox_id)
        if to is not None:
            query = query.where(outbox.c.destination_addr == to)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [
            ScreenRow(r.id, r.destination_addr, r.text, r.ussd_op, r.ussd_end, r.status,
                      r.on_failure, r.ussd_session, r.source_addr)
            for r in rows
        ]  # fmt: skip

    def sms_to(self, msisdn: str) -> list[str]:
        """The SMS (not screens) sent to msisdn, oldest first."""
        query = select(outbox.c.text).where(
            outbox.c.destination_addr == msisdn, outbox.c.ussd_op.is_(None)
        )
        with self.engine.begin() as conn:
            return list(conn.execute(query.order_by(outbox.c.id)).scalars())

    def submitted(self, screen: ScreenRow, status: OutboxStatus = OutboxStatus.DELIVERED) -> None:
        """The sender's answer for a screen: delivered (submit_sm_resp OK) or failed."""
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == screen.id)
                .values(status=status, final_at_ns=self.now_ns)
            )

    def session(self, key: str):
        with self.engine.begin() as conn:
            return conn.execute(
                select(ussd_sessions).where(ussd_sessions.c.session_key == key)
            ).one()

    def inbox_row(self, row_id: int):
        with self.engine.begin() as conn:
            return conn.execute(select(inbox).where(inbox.c.id == row_id)).one()

    def run_with(self, env: TranProcEnv) -> None:
        with self.engine.begin() as conn:
            process_batch_txn(conn, env, self.now_ns, 200)


class Dialogue:
    """One subscriber's USSD dialogue: each turn is an MO, answered by exactly one screen."""

    def __init__(self, world: UssdWorld, msisdn: str, key: str) -> None:
        self.world, self.msisdn, self.key = world, msisdn, key
        self.first: ScreenRow | None = None
        self.last_mo: int | None = None

    def turn(self, text: str, op: UssdOp = UssdOp.USSR_CONFIRM) -> ScreenRow:
        self.last_mo = self.world.ussd_mo(self.msisdn, text, self.key, op)
        self.world.run_tranproc()
        row = self.world.inbox_row(self.last_mo)
        assert row.status != "failed", f"{text!r}: the handler failed: {row.error}"
        screens = self.world.screens(inbox_id=self.last_mo)
        assert len(screens) == 1, f"{text!r}: {len(screens)} screens: {screens}"
        assert screens[0].session_key == self.key
        return screens[0]

    def answer(self, text: str) -> ScreenRow:
        """Answer the current screen, once it was submitted (nobody answers a screen not sent)."""
        self.shown()
        return self.turn(text)

    def shown(self) -> None:
        """Every screen of this dialogue still queued was submitted OK."""
        for screen in self.world.screens(to=self.msisdn):
            if screen.session_key == self.key and screen.status == OutboxStatus.QUEUED:
                self.world.submitted(screen)

    def walk(self, *answers: str) -> ScreenRow:
        screen = self.first
        for text in answers:
            assert screen is not None and not screen.final, f"ended before {text!r}: {screen}"
            screen = self.answer(text)
        assert screen is not None
        return screen

    def release(self) -> int:
        """The user (or the network) ends the dialogue: an MO with the end flag, no screen back."""
        row_id = self.world.ussd_mo(self.msisdn, "", self.key, UssdOp.USSR_CONFIRM, end=True)
        self.world.run_tranproc()
        assert self.world.screens(inbox_id=row_id) == []
        return row_id
