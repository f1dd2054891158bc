"""Mobile money end to end: the real `smscore sim` and `smscore run`, subscribers seeded in the
database, phones that text the service through the simulator and read their handset inbox.

A `Phone` sends a text and waits for exactly the next SMS to its number (the simulator puts an SMS in
the handset inbox only once it is delivered). A `MoneyService` owns one simulator and one daemon for a
whole test module; each test takes fresh numbers from it, so tests share a daemon without sharing
anybody's money, and every test ends with `smscore ledger check` (the ledger's invariants and the
trust reconciliation) and with every phone having read every SMS it got.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, delete, insert, select, update

from daemon.chart import SystemAccount, deposit_txn, ensure_chart_txn, new_transfer_id
from daemon.cli import main as smscore_cli
from daemon.commands import Role
from daemon.components import pin_hasher
from daemon.config import Config
from daemon.migrate import upgrade_all
from daemon.money.common import money_env
from daemon.money.limits import service_day, usage_txn
from daemon.money.tariff import RecipientKind, Tariff
from daemon.outbox import OutboxStatus
from daemon.schema import daily_usage, moves, outbox, subscribers, vouchers
from daemon.subscribers import create_subscriber_txn, get_subscriber_txn
from ledger import get_balance, make_engine
from tests.e2e.harness import (
    SMSCORE,
    DaemonProcess,
    SimulatorProcess,
    daemon_settings,
    wait_for,
)

KES = 100  # minor units per shilling
PIN = "1234"
START = 10_000 * KES  # a customer's usual opening balance
AGENT_PIN = "2468"
FLOAT = 50_000 * KES  # an agent store's usual e-float
STORE_PREFIX = "2547220"
# The daemon's money timings, short so the tests are quick (see `money_settings`).
ROLLBACK_TIMEOUT_S = 3.0
CONFIRM_TIMEOUT_S = 4.0
CONFIRM_ABOVE = 8_000 * KES
VOUCHER_EXPIRY_DAYS = 0.00007  # six seconds
# The simulator's receipt rules pick a number's fate by its prefix: UNREACHABLE numbers never get an
# SMS (UNDELIV), SLOW ones get theirs only after SLOW_DLR_S, well after the rollback timeout (the
# receipt that does not come in time). Other numbers get theirs at once.
UNREACHABLE, SLOW = "2547990", "2547980"
SLOW_DLR_S = ROLLBACK_TIMEOUT_S + 2.0
DLR_RULES = [
    {"prefix": UNREACHABLE, "outcome": "UNDELIV", "delay_s": 0.05},
    {"prefix": SLOW, "outcome": "DELIVRD", "delay_s": SLOW_DLR_S},
]
REPLY_TIMEOUT_S = 20.0  # one SMS round trip takes well under a second; this is the failure bound
# An error line: the daemon logs JSON lines to a file (daemon.logs), text lines on a terminal.
_LOGGED_ERROR = re.compile(r'"level":"(error|critical)"|^\S+ \S+ (error|critical) ')
_FINAL = {OutboxStatus.DELIVERED, OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE}


def kes(amount_minor: int) -> str:
    """An amount as replies write it: `KES 1,234.50`."""
    return f"KES {amount_minor // KES:,}.{amount_minor % KES:02d}"


def money_settings() -> dict[str, Any]:
    """The daemon's config sections for the money tests (merged over daemon_settings)."""
    return {
        "inbox": {"dedupe_window_s": 30.0},
        "sweeper": {"interval_s": 0.2},
        "money": {
            "rollback_timeout_s": ROLLBACK_TIMEOUT_S,
            "settle_interval_s": 0.1,
            "confirm_timeout_s": CONFIRM_TIMEOUT_S,
            "confirm_above_minor": CONFIRM_ABOVE,
            "double_send_window_s": 60.0,
            "voucher_expiry_days": VOUCHER_EXPIRY_DAYS,
        },
    }


def national(msisdn: str) -> str:
    """How a subscriber types a number: 0712000001."""
    return "0" + msisdn[3:]


def code_in(text: str, pattern: str = r"YES (\d{4})") -> str:
    found = re.search(pattern, text)
    assert found, f"no code in {text!r}"
    return found.group(1)


def ref_in(text: str) -> str:
    """The transaction reference a confirmation starts with."""
    found = re.match(r"([A-Z0-9]{8,12})\b", text)
    assert found, f"no reference at the start of {text!r}"
    return found.group(1)


@dataclass
class Phone:
    """One handset: what it sends, and the SMS it has read so far, in the order they arrived."""

    simulator: SimulatorProcess
    msisdn: str
    read: list[str] = field(default_factory=list)
    agent_number: str | None = None  # of an agent store

    def send(self, text: str) -> str:
        """Text the service; the next SMS this phone gets (the reply)."""
        self.simulator.send_mo(self.msisdn, text)
        return self.next(f"the reply to {text!r}")

    def send_twice(self, text: str) -> tuple[str, str]:
        """The same text twice at once (as an SMSC re-delivers it): the reply to each, the second
        one saying it is a repeat."""
        self.simulator.send_mo(self.msisdn, text, count=2)
        first, second = self.next(f"the reply to {text!r}"), self.next(f"the repeat of {text!r}")
        assert second.startswith("You sent this message already, so nothing was done again."), (
            second
        )
        return first, second

    def next(self, what: str = "the next SMS") -> str:
        seen = len(self.read)

        def arrived() -> list[dict[str, Any]] | None:
            inbox = self.simulator.inbox(self.msisdn)
            return inbox if len(inbox) > seen else None

        inbox = wait_for(arrived, REPLY_TIMEOUT_S, f"{self.msisdn}: {what}")
        text = inbox[seen]["text"]
        self.read.append(text)
        return text

    def unread(self) -> list[str]:
        return [message["text"] for message in self.simulator.inbox(self.msisdn)[len(self.read) :]]


@dataclass
class MoneyService:
    simulator: SimulatorProcess
    daemon: DaemonProcess
    engine: Engine
    phones: list[Phone] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def start(cls, workdir: Path, db_url: str) -> MoneyService:
        simulator = SimulatorProcess(workdir, dlr={"delay_s": 0.05, "rule": DLR_RULES})
        sections = money_settings()
        try:
            daemon = DaemonProcess(
                workdir, daemon_settings(workdir / "state", db_url, simulator.port, **sections)
            )
            engine = make_engine(daemon.config.database_url)
            service = cls(simulator, daemon, engine)
            with engine.begin() as conn:
                upgrade_all(conn)
                ensure_chart_txn(conn, daemon.config.service.currency, time.time_ns())
            daemon.start().wait_ready()
            wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
        except BaseException:
            simulator.stop()
            raise
        return service

    def stop(self) -> int:
        """Stop the daemon, which logged no error while it ran (a settle step that failed, a handler
        that raised); the ledger checked once more by the `smscore` executable itself."""
        try:
            errors = [line for line in self.daemon_log() if _LOGGED_ERROR.search(line)]
            assert not errors, "\n".join(errors)
            code = self.daemon.stop()
            self.ledger_check()
            return code
        finally:
            self.engine.dispose()
            self.simulator.stop()

    def daemon_log(self) -> list[str]:
        path = self.daemon.workdir / f"{self.daemon.name}.{self.daemon.starts}.log"
        return path.read_text(errors="replace").splitlines()

    @property
    def config(self) -> Config:
        return self.daemon.config

    @property
    def tariff(self) -> Tariff:
        return money_env(self.config).tariff

    def fee(
        self, amount_minor: int, kind: RecipientKind = RecipientKind.REGISTERED, command="SEND"
    ) -> int:
        return self.tariff.fee_minor(command, amount_minor, kind)

    def commission(self, command: str, amount_minor: int) -> int:
        return self.tariff.commission_minor(command, amount_minor)

    # --- people

    def number(self, prefix: str = "2547120") -> str:
        """A number nobody in this module has used yet (`prefix` picks its receipt rule)."""
        return f"{prefix}{next(self._numbers):0{12 - len(prefix)}d}"

    def agent_number(self) -> str:
        """A short agent number (what a customer types in WITHDRAW) nobody here has yet."""
        return str(100_000 + next(self._numbers))  # six digits, never starting with 0

    def phone(self, msisdn: str) -> Phone:
        phone = Phone(self.simulator, msisdn)
        self.phones.append(phone)
        return phone

    def customer(
        self, balance_minor: int = 0, name: str = "", prefix: str = "2547120", **fields: Any
    ) -> Phone:
        """A registered subscriber (PIN 1234) with an opening balance, and their phone."""
        msisdn = self.number(prefix)
        self.add(msisdn, balance_minor, name=name, **fields)
        return self.phone(msisdn)

    def store(self, float_minor: int = FLOAT, name: str = "Duka Moja") -> Phone:
        """An agent store (PIN AGENT_PIN) with `float_minor` e-float, and its phone."""
        msisdn = self.number(STORE_PREFIX)
        number = self.agent_number()
        self.add(msisdn, float_minor, Role.AGENT, name=name, agent_number=number, pin=AGENT_PIN)
        phone = self.phone(msisdn)
        phone.agent_number = number
        return phone

    def add(
        self, msisdn: str, balance_minor: int = 0, role: Role = Role.CUSTOMER, **fields: Any
    ) -> None:
        """Seed a subscriber directly in the database (as `smscore subscriber add` does), with
        `balance_minor` deposited from the trust account (e-money issued against cash)."""
        config = self.config
        now_ns = time.time_ns()
        fields.setdefault("pin", PIN)
        with self.engine.begin() as conn:
            created = create_subscriber_txn(
                conn, msisdn, hasher=pin_hasher(config), currency=config.service.currency,
                now_ns=now_ns, role=role, **fields,
            )  # fmt: skip
            if balance_minor:
                deposit_txn(
                    conn, created.account_id, balance_minor, config.service.currency, now_ns,
                    transfer_id=new_transfer_id(), user_data="e2e opening balance",
                )  # fmt: skip

    def set_state(self, msisdn: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(subscribers).where(subscribers.c.msisdn == msisdn).values(values))

    def use_today(self, msisdn: str, value_minor: int, count: int) -> None:
        """Set today's earlier use, as the daemon records each transaction (its daily limits)."""
        day = service_day(time.time_ns(), self.config.money.timezone)
        with self.engine.begin() as conn:
            conn.execute(
                delete(daily_usage).where(daily_usage.c.msisdn == msisdn, daily_usage.c.day == day)
            )
            conn.execute(
                insert(daily_usage).values(
                    msisdn=msisdn, day=day, value_minor=value_minor, count=count
                )
            )

    def usage_today(self, msisdn: str) -> tuple[int, int]:
        day = service_day(time.time_ns(), self.config.money.timezone)
        with self.engine.connect() as conn:
            found = usage_txn(conn, msisdn, day)
        return found.value_minor, found.count

    # --- what the database says

    def balance(self, msisdn: str) -> tuple[int, int]:
        """(posted, pending debits) of the number's wallet or float, in minor units."""
        with self.engine.connect() as conn:
            found = get_subscriber_txn(conn, msisdn)
            assert found is not None, f"{msisdn} is not registered"
            balance = get_balance(conn, found.account_id)
        assert balance is not None
        posted = balance.credits_posted - balance.debits_posted
        return posted, balance.debits_pending

    def posted(self, msisdn: str) -> int:
        posted, pending = self.balance(msisdn)
        assert pending == 0, f"{msisdn} still has {pending} pending"
        return posted

    def moves_of(self, msisdn: str) -> list[Any]:
        with self.engine.connect() as conn:
            query = select(moves).where(moves.c.payer_msisdn == msisdn).order_by(moves.c.id)
            return list(conn.execute(query))

    def wait_move_state(self, payer: str, state: str) -> Any:
        """The payer's latest move, once it is in `state`."""
        return wait_for(
            lambda: (found := self.moves_of(payer)) and found[-1].state == state and found[-1],
            REPLY_TIMEOUT_S,
            f"{payer}'s latest move to be {state}",
        )

    def wait_voucher_state(self, recipient: str, state: str) -> Any:
        return wait_for(
            lambda: (found := self.vouchers_for(recipient)) and found[-1].state == state,
            REPLY_TIMEOUT_S,
            f"the voucher for {recipient} to be {state}",
        )

    def registered(self, msisdn: str) -> bool:
        with self.engine.connect() as conn:
            return get_subscriber_txn(conn, msisdn) is not None

    def suspense(self) -> int:
        """What the voucher suspense account holds (posted)."""
        with self.engine.connect() as conn:
            balance = get_balance(conn, int(SystemAccount.VOUCHER_SUSPENSE))
        assert balance is not None
        return balance.credits_posted - balance.debits_posted

    def vouchers_for(self, msisdn: str) -> list[Any]:
        with self.engine.connect() as conn:
            query = select(vouchers).where(vouchers.c.recipient_msisdn == msisdn)
            return list(conn.execute(query.order_by(vouchers.c.id)))

    def outbox_to(self, msisdn: str) -> list[Any]:
        with self.engine.connect() as conn:
            query = select(outbox).where(outbox.c.destination_addr == msisdn)
            return list(conn.execute(query.order_by(outbox.c.id)))

    def wait_outbox_text(self, msisdn: str, phrase: str) -> Any:
        """The SMS to `msisdn` containing `phrase`, once the daemon queued it (for a number the
        network cannot reach, where the phone will never show it)."""
        rows = wait_for(
            lambda: [row for row in self.outbox_to(msisdn) if phrase in row.text],
            REPLY_TIMEOUT_S,
            f"an SMS to {msisdn} saying {phrase!r}",
        )
        return rows[0]

    # --- the end of every test

    def quiet(self, timeout_s: float = REPLY_TIMEOUT_S, states_too: bool = True) -> None:
        """Every SMS the daemon queued has its final status and (`states_too`) every money move
        its final state: nothing more can reach any phone."""

        def settled() -> bool:
            with self.engine.connect() as conn:
                statuses = set(conn.execute(select(outbox.c.status).distinct()).scalars())
                states = set(conn.execute(select(moves.c.state).distinct()).scalars())
            open_states = {"pending", "held", "confirming"} if states_too else {"pending"}
            return statuses <= _FINAL and not states & open_states

        wait_for(settled, timeout_s, "every SMS final and every move settled")

    def ledger_check(self, in_process: bool = False) -> str:
        """`smscore ledger check`: the invariants, the hash chain and the trust reconciliation.
        `in_process` runs the same command through click's runner: no interpreter start-up (a
        second per test on this machine); the module's last check runs the real executable."""
        args = ["ledger", "check", "--db", self.config.database_url]
        if in_process:
            result = CliRunner().invoke(smscore_cli, args)
            output, code = result.output, result.exit_code
        else:
            done = subprocess.run([str(SMSCORE), *args], capture_output=True, text=True, timeout=60)
            output, code = done.stdout + done.stderr, done.returncode
        assert code == 0, output
        assert "trust reconciles" in output and "ledger ok" in output, output
        return output

    def finish_test(self) -> None:
        """Nothing left in flight; no phone got an SMS its test did not read; the ledger holds."""
        self.quiet()
        unread = {phone.msisdn: phone.unread() for phone in self.phones if phone.unread()}
        self.phones.clear()
        assert not unread, f"SMS nobody expected: {unread}"
        self.ledger_check(in_process=True)
