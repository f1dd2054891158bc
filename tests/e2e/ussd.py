"""USSD end to end: the real `smscore sim` (its USSD subscribers) and `smscore run` with a bind
that speaks one USSD dialect, the shipped menu, and the money of tests/e2e/money.py.

A `Dial` is one subscriber's dialogue through the simulator's control API (/v1/ussd/sessions): each
answer waits (bounded) for the next screen the daemon sends over SMPP. `ussd_service(workdir,
dialect)` starts a simulator whose account speaks `dialect` and a daemon whose bind does, with the
network's timers short so that a timeout takes seconds, and the airtime provider of the simulator.
SMS that follow a dialogue (confirmations, notices) are read with the phones of tests/e2e/money.py.
"""

from __future__ import annotations

import json
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from daemon.admin.cli import admin
from daemon.chart import ensure_chart_txn
from daemon.migrate import upgrade_all
from daemon.schema import outbox
from daemon.schema_ussd import ussd_sessions
from daemon.ussd.menu_file import menu_path
from ledger import make_engine
from tests.e2e.harness import (
    SHORT_CODE,
    DaemonProcess,
    SimulatorProcess,
    daemon_settings,
    to_toml,
    wait_for,
)
from tests.e2e.money import REPLY_TIMEOUT_S, MoneyService, money_settings

CODE = "*334#"
DIALECTS = ("smpp34", "dialog", "umr")
# The network's timers (the simulator's [ussd]): a dialogue nobody finishes is released after
# SESSION_TIMEOUT_S, long enough for a walk with a daemon restart in it (a few seconds here);
# a screen must come within SCREEN_TIMEOUT_S of the subscriber's answer.
SESSION_TIMEOUT_S = 25.0
SCREEN_TIMEOUT_S = 5.0
# The scripted subscribers answer at a machine's speed ("98", "0", "98" within a second), not a
# person's: [ussd] copy_window_s, which takes an MO equal to an earlier one of its dialogue that soon
# for the SMSC's copy, is set below that here. The simulator sends no USSD PDU again that soon (only
# after its response_timeout_s); tests/daemon/test_ussd_copies.py tests the copies.
COPY_WINDOW_S = 0.05
# The towns of the e2e menu's "Find an agent": more than one screen holds ("98. More").
TOWNS = ("Nairobi", "Mombasa", "Kisumu", "Nakuru", "Eldoret", "Thika", "Malindi", "Kitale",
         "Garissa", "Kakamega", "Nyeri", "Machakos", "Meru", "Kericho", "Naivasha", "Voi",
         "Lamu", "Embu", "Isiolo", "Narok")  # fmt: skip
SCREEN_WAIT_S = 10.0  # one screen takes well under a second; this is the failure bound
BILLER, BILL_ACCOUNT = "KPLC", "12345674"  # 1234567 and its Luhn check digit
AIRTIME = {
    "enabled": True,
    "timeout_s": 1.0,
    "query_after_s": 0.3,
    "backoff": 1.0,
    "max_queries": 3,
    "late_checks": 2,
    "poll_interval_s": 0.1,
}


class ScreenMissing(AssertionError):
    pass


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=SCREEN_WAIT_S + 10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass
class Dial:
    """One USSD dialogue of `msisdn`, as the phone shows it: `screen` is what it shows now."""

    simulator: SimulatorProcess
    msisdn: str
    session: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, simulator: SimulatorProcess, msisdn: str, code: str = CODE) -> Dial:
        dial = cls(simulator, msisdn)
        url = f"{simulator.api}/v1/ussd/sessions?wait_s={SCREEN_WAIT_S:g}"
        status, dial.session = _http("POST", url, {"msisdn": msisdn, "code": code})
        assert status == 201, dial.session
        return dial.waited("the first screen")

    @property
    def id(self) -> str:
        return self.session["id"]

    @property
    def state(self) -> str:
        return self.session["state"]

    @property
    def screen(self) -> str:
        return self.session["screen"] or ""

    @property
    def screens(self) -> list[str]:
        return [screen["text"] for screen in self.session["screens"]]

    def answer(self, text: str, wait: bool = True) -> str:
        """Type `text`; the screen it brings (`wait`: fail unless one came)."""
        assert self.state == "waiting_answer", self.session
        shown = len(self.session["screens"])
        wait_s = SCREEN_WAIT_S if wait else 0
        url = f"{self.simulator.api}/v1/ussd/sessions/{self.id}/answer?wait_s={wait_s:g}"
        status, self.session = _http("POST", url, {"text": text})
        assert status == 200, self.session
        if wait:
            self.waited(f"the screen after {text!r}")
            assert len(self.session["screens"]) == shown + 1, self.session
        return self.screen

    def walk(self, *answers: str) -> str:
        for text in answers:
            self.answer(text)
        return self.screen

    def choose(self, label: str) -> str:
        """Pick the choice `label` of the menu shown, paging on ("98") until it shows."""
        for _ in range(5):
            for line in self.screen.splitlines():
                number, _, text = line.partition(". ")
                if text == label and number.isdigit():
                    return self.answer(number)
            if "\n98. " not in self.screen:
                break
            self.answer("98")
        raise ScreenMissing(f"no choice {label!r} on {self.screens}")

    def refresh(self) -> dict[str, Any]:
        status, self.session = _http("GET", f"{self.simulator.api}/v1/ussd/sessions/{self.id}")
        assert status == 200, self.session
        return self.session

    def hang_up(self) -> None:
        status, self.session = _http("DELETE", f"{self.simulator.api}/v1/ussd/sessions/{self.id}")
        assert status == 200, self.session

    def wait_state(self, *states: str, timeout_s: float = REPLY_TIMEOUT_S) -> dict[str, Any]:
        return wait_for(
            lambda: self.refresh()["state"] in states and self.session,
            timeout_s,
            lambda: f"USSD session {self.id} of {self.msisdn} to be {'/'.join(states)}",
        )

    def waited(self, what: str) -> Dial:
        if self.state == "waiting_screen":
            url = f"{self.simulator.api}/v1/ussd/sessions/{self.id}?wait_s={SCREEN_WAIT_S:g}"
            _, self.session = _http("GET", url)
        if self.state == "waiting_screen":
            raise ScreenMissing(f"{self.msisdn}: no screen came: {what} ({self.session})")
        return self


def ussd_settings(workdir: Path, sim: SimulatorProcess, dialect: str) -> dict[str, Any]:
    """The daemon's config: the money tests' timings, the bind speaking `dialect`, short USSD
    timers, and BUY through the simulator's airtime provider."""
    secret = workdir / "airtime_password"
    secret.write_text("e2e-airtime-secret\n")
    airtime = {**AIRTIME, "url": f"{sim.api}/airtime/v1", "password_file": str(secret)}
    ussd = {
        "menu_file": str(e2e_menu(workdir)),
        "session_timeout_s": SESSION_TIMEOUT_S,
        "answer_timeout_s": SCREEN_TIMEOUT_S,
        "copy_window_s": COPY_WINDOW_S,
    }
    settings = daemon_settings(
        workdir / "state", f"sqlite:///{workdir / 'ussd.db'}", sim.port,
        **money_settings(), airtime=airtime, ussd=ussd,
    )  # fmt: skip
    settings["binds"][0]["ussd_dialect"] = dialect
    # The SMS after a dialogue (confirmations, notices) cannot come from the dialled code: they
    # come from the configured sender (with none, they are undeliverable).
    settings["sender"]["source_addr"] = SHORT_CODE
    return settings


def e2e_menu(workdir: Path) -> Path:
    """The shipped menu with one more choice for customers, "Find an agent": a list of TOWNS,
    longer than a screen, each leading to the same text."""
    document = tomllib.loads(menu_path(None).read_text(encoding="utf-8"))
    document["menu"]["version"] = "e2e.1"
    screens = document.pop("screens")
    screens["main"]["choices"].append(
        {"label": {"en": "Find an agent", "sw": "Tafuta wakala"}, "roles": ["customer"],
         "next": "agents"}
    )  # fmt: skip
    screens["agents"] = {
        "title": {"en": "Find an agent in", "sw": "Tafuta wakala"},
        "choices": [{"label": {"en": t, "sw": t}, "next": "agent_sign"} for t in TOWNS],
    }
    screens["agent_sign"] = {
        "text": {"en": "Look for the green sign.", "sw": "Tafuta alama ya kijani."}
    }
    tables = {"menu": document["menu"], **{f"screens.{k}": v for k, v in screens.items()}}
    path = workdir / "menu.toml"
    path.write_text(to_toml(tables), encoding="utf-8")
    return path


def ussd_service(workdir: Path, dialect: str) -> MoneyService:
    """A simulator and a daemon speaking `dialect`, with the biller KPLC (its account rule)."""
    network = {"session_timeout_s": SESSION_TIMEOUT_S, "answer_timeout_s": SCREEN_TIMEOUT_S}
    simulator = SimulatorProcess(
        workdir, dlr={"delay_s": 0.05}, account={"ussd_dialect": dialect}, ussd=network
    )
    try:
        daemon = DaemonProcess(workdir, ussd_settings(workdir, simulator, dialect))
        engine = make_engine(daemon.config.database_url)
        with engine.begin() as conn:
            upgrade_all(conn)
            ensure_chart_txn(conn, daemon.config.service.currency, time.time_ns())
        service = MoneyService(simulator, daemon, engine)
        staff(service, "biller", "add", BILLER, "--name", "Kenya Power",
              "--account-rule", "digits:8,luhn")  # fmt: skip
        daemon.start().wait_ready()
        wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
    except BaseException:
        simulator.stop()
        raise
    return service


def staff(service: MoneyService, *args: str) -> str:
    where = ["--db", service.config.database_url, "--actor", "e2e"]
    result = CliRunner().invoke(admin, [*args, *where])
    assert result.exit_code == 0, result.output
    return result.output


def restart(service: MoneyService) -> None:
    """Stop the daemon (SIGTERM: it exits 0) and start it again on the same database."""
    assert service.daemon.stop() == 0, service.daemon.log()
    service.daemon.start().wait_ready()
    wait_for(lambda: service.simulator.stats()["binds"] >= 1, 15, "the daemon to bind again")


def sessions_of(service: MoneyService, msisdn: str) -> list[Any]:
    with service.engine.connect() as conn:
        query = select(ussd_sessions).where(ussd_sessions.c.msisdn == msisdn)
        return list(conn.execute(query.order_by(ussd_sessions.c.id)))


def screens_to(service: MoneyService, msisdn: str) -> list[Any]:
    """The daemon's screens (outbox rows with a ussd_op) to `msisdn`, oldest first."""
    with service.engine.connect() as conn:
        query = select(outbox).where(
            outbox.c.destination_addr == msisdn, outbox.c.ussd_op.is_not(None)
        )
        return list(conn.execute(query.order_by(outbox.c.id)))
