"""End-to-end harness: the real `smscore sim` and `smscore run` as subprocesses on 127.0.0.1.

Every process is bounded twice: it runs under `timeout -s KILL` (so nothing outlives a crashed test
run) and the fixtures stop it in `finally`. Tests synchronise only by polling a condition with a
deadline (`wait_for`), never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select

from daemon.chart import deposit_txn, ensure_chart_txn, new_transfer_id
from daemon.components import pin_hasher
from daemon.config import Config, build_config
from daemon.migrate import upgrade_all
from daemon.schema import inbox, outbox, outbox_parts
from daemon.subscribers import create_subscriber_txn
from ledger import make_engine

SMSCORE = Path(sys.executable).with_name("smscore")
SHORT_CODE = "12345"
SYSTEM_ID, PASSWORD = "smscore", "secret"
PROCESS_LIFETIME_S = 200  # hard cap on any process a test starts (the suite budget is ~4 minutes)
T = TypeVar("T")


class Timeout(AssertionError):
    pass


def wait_for(
    condition: Callable[[], T],
    timeout_s: float,
    what: str | Callable[[], str],
    interval_s: float = 0.05,
) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline
    (a callable `what` is asked then, so it can describe the state things were left in)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            raise Timeout(f"timed out after {timeout_s}s waiting for {described} (last: {last!r})")
        # The pause between polls bounds the polling rate; it is not used to order events.
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML for our configs: tables of scalars/lists, and arrays of tables."""
    lines: list[str] = []
    for section, values in data.items():
        tables = values if isinstance(values, list) else [values]
        for table in tables:
            lines.append(f"[[{section}]]" if isinstance(values, list) else f"[{section}]")
            for key, value in table.items():
                if isinstance(value, dict):
                    inline = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
                    lines.append(f"{key} = {{ {inline} }}")
                else:
                    lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. one of the simulator's receipt rules
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _bounded(command: list[str]) -> list[str]:
    return ["timeout", "-s", "KILL", str(PROCESS_LIFETIME_S), *command]


def _http(method: str, url: str, body: Any = None, timeout_s: float = 10) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, method=method)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def smscore_status(url: str, *options: str) -> str:
    """What `smscore status --url URL [options]` prints (it must succeed)."""
    command = [str(SMSCORE), "status", "--url", url, *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout


# --- the simulator ----------------------------------------------------------------------------


class SimulatorProcess:
    """`smscore sim` with a TOML config; `port` and `api` are read from its first output lines."""

    def __init__(self, workdir: Path, **settings: Any) -> None:
        config = {
            "listen": "127.0.0.1:0",
            "http": "127.0.0.1:0",
            "redelivery_interval_s": 0.3,
            "max_delivery_attempts": 1000,
            "response_timeout_s": 2.0,
            **settings,
        }
        config.setdefault("dlr", {"delay_s": 0.05})
        path = workdir / "simulator.toml"
        path.write_text(_sim_toml(config), encoding="utf-8")
        self.log_path = workdir / "simulator.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                _bounded([str(SMSCORE), "sim", "--config", str(path)]),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        smpp_line = self.process.stdout.readline()  # type: ignore[union-attr]
        http_line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not smpp_line.startswith("SMPP listening on"):
            self.stop()
            raise AssertionError(f"simulator did not start: {smpp_line!r} {self.log()}")
        self.port = int(smpp_line.rsplit(":", 1)[1])
        self.api = http_line.split(" on ", 1)[1].strip()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def send_mo(self, source: str, text: str, count: int = 1) -> None:
        _http(
            "POST",
            f"{self.api}/v1/mo",
            {"from": source, "to": SHORT_CODE, "text": text, "count": count},
        )

    def inbox(self, msisdn: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"msisdn": msisdn})
        return _http("GET", f"{self.api}/v1/messages?{query}")["messages"]

    def all_messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            since = messages[-1]["seq"] if messages else 0
            page = _http("GET", f"{self.api}/v1/messages?since={since}&limit=10000")["messages"]
            if not page:
                return messages
            messages.extend(page)

    def stats(self) -> dict[str, Any]:
        return _http("GET", f"{self.api}/v1/stats")

    def faults(self, specs: dict[str, Any]) -> None:
        _http("POST", f"{self.api}/v1/faults", specs)

    def stop(self) -> None:
        _stop(self.process)


def _sim_toml(config: dict[str, Any]) -> str:
    top = {k: v for k, v in config.items() if not isinstance(v, dict | list)}
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    # `account`: more settings of the one account (e.g. its ussd_dialect); `ussd`: the network's
    # USSD timers ([ussd] of simulators.config).
    account = {"system_id": SYSTEM_ID, "password": PASSWORD, **config.get("account", {})}
    lines.append(to_toml({"account": [account]}).rstrip("\n"))
    lines.append(to_toml({"dlr": config["dlr"]}))
    if config.get("ussd"):
        lines.append(to_toml({"ussd": config["ussd"]}))
    if config.get("faults"):
        lines.append(
            to_toml({f"faults.{name}": params for name, params in config["faults"].items()})
        )
    return "\n".join(lines) + "\n"


def _stop(process: subprocess.Popen, timeout_s: float = 15) -> int:
    """SIGTERM the process group, then SIGKILL if it does not exit in time."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return process.wait(timeout=timeout_s)


# --- the daemon -------------------------------------------------------------------------------


def daemon_settings(
    state_dir: Path, db_url: str, sim_port: int | None, role: str = "all", **sections: Any
) -> dict[str, Any]:
    """A daemon config with short timers for tests; `sections` are merged over each section."""
    settings: dict[str, Any] = {
        "service": {"state_dir": str(state_dir), "role": role},
        "database": {"url": db_url},
        "logging": {"level": "warn"},
        "inbox": {"group_commit_max_wait_ms": 5.0},
        "tranproc": {"poll_interval_s": 0.1},
        "sender": {
            "poll_interval_s": 0.1,
            "retry_delay_s": 0.2,
            # A reply whose attempts run out is marked undeliverable (no reply, by design); the
            # fault tests inject failures every few requests, so they allow more attempts.
            "max_attempts": 20,
            "in_flight_timeout_s": 30.0,
        },
        "sweeper": {"interval_s": 0.5},
        "status": {"listen": f"127.0.0.1:{free_port()}"},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
    }
    if sim_port is not None:
        settings["binds"] = [
            {
                "name": "sim",
                "host": "127.0.0.1",
                "port": sim_port,
                "system_id": SYSTEM_ID,
                "password": PASSWORD,
                "response_timeout_s": 1.0,
                "enquire_link_interval_s": 5.0,
                "reconnect_initial_delay_s": 0.1,
                "reconnect_max_delay_s": 0.5,
            }
        ]
    for section, values in sections.items():
        settings.setdefault(section, {}).update(values)
    return settings


@dataclass
class DaemonProcess:
    """`smscore run --config FILE` in its own process group, so SIGKILL reaches the daemon itself."""

    workdir: Path
    settings: dict[str, Any]
    name: str = "daemon"
    process: subprocess.Popen | None = None
    starts: int = 0
    config_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config_path = self.workdir / f"{self.name}.toml"
        self.config_path.write_text(to_toml(self.settings), encoding="utf-8")

    @property
    def config(self) -> Config:
        return build_config(self.settings)

    @property
    def status_url(self) -> str:
        return f"http://{self.settings['status']['listen']}"

    def start(self) -> DaemonProcess:
        self.starts += 1
        log = (self.workdir / f"{self.name}.{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            _bounded([str(SMSCORE), "run", "--config", str(self.config_path)]),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def wait_ready(self, timeout_s: float = 30) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.process.returncode}: {self.log()}")
            try:
                return _http("GET", f"{self.status_url}/status", timeout_s=2)
            except OSError:
                return None

        return wait_for(ready, timeout_s, f"{self.name} status endpoint")

    def status(self) -> dict[str, Any]:
        return _http("GET", f"{self.status_url}/status")

    def health(self) -> tuple[int, dict[str, Any]]:
        """HTTP status code and body of GET /health (503 is an answer, not an error)."""
        try:
            return 200, _http("GET", f"{self.status_url}/health")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def log(self) -> str:
        text = (self.workdir / f"{self.name}.{self.starts}.log").read_text(errors="replace")
        return text[-3000:]

    def kill(self) -> None:
        """SIGKILL, no goodbye: the process group (the daemon and its `timeout` wrapper)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process is None:
            return 0
        return _stop(self.process)


# --- the database -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscriber:
    msisdn: str
    pin: str
    balance_minor: int


def seed_subscribers(config: Config, subscribers: Iterable[Subscriber]) -> None:
    """Create the schema, the chart and the subscribers (with opening balances) before any daemon
    starts, as `smscore subscriber add` would."""
    engine = make_engine(config.database_url)
    hasher = pin_hasher(config)
    now = time.time_ns()
    try:
        with engine.begin() as conn:
            upgrade_all(conn)
            ensure_chart_txn(conn, config.service.currency, now)
            for subscriber in subscribers:
                created = create_subscriber_txn(
                    conn,
                    subscriber.msisdn,
                    pin=subscriber.pin,
                    hasher=hasher,
                    currency=config.service.currency,
                    now_ns=now,
                )
                deposit_txn(
                    conn,
                    created.account_id,
                    subscriber.balance_minor,
                    config.service.currency,
                    now,
                    transfer_id=new_transfer_id(),
                    user_data="e2e opening balance",
                )
    finally:
        engine.dispose()


def subscribers(count: int, first: int = 254_712_000_000) -> list[Subscriber]:
    return [Subscriber(str(first + i), f"{1000 + i % 9000}", 10_000 + i) for i in range(count)]


def for_engine(people: list[Subscriber], db_url: str) -> list[Subscriber]:
    """The subscribers a load test uses on this engine: half of them on PostgreSQL, whose variants
    of the SQLite tests check the same things with fewer MOs (the suite's budget is ~4 minutes)."""
    return people if db_url.startswith("sqlite") else people[: len(people) // 2]


@dataclass
class Tables:
    """Read-only views of the daemon's tables, for assertions."""

    engine: Engine

    @classmethod
    def open(cls, url: str) -> Tables:
        return cls(make_engine(url))

    def inbox_rows(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(inbox).order_by(inbox.c.id)))

    def outbox_rows(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(outbox).order_by(outbox.c.id)))

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
            return {status: count for status, count in conn.execute(query)}

    def recorded_message_ids(self) -> dict[str, int]:
        """SMSC message id -> outbox row, for every part whose submit_sm_resp the daemon stored."""
        with self.engine.connect() as conn:
            query = select(outbox_parts.c.message_id, outbox_parts.c.outbox_id)
            return {message_id: outbox_id for message_id, outbox_id in conn.execute(query)}

    def close(self) -> None:
        self.engine.dispose()


def match_replies(
    messages: list[dict[str, Any]], recorded: dict[str, int]
) -> tuple[dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Phone messages by the outbox row whose recorded message id they carry, and the rest: copies
    the SMSC accepted but the daemon never learnt of (its submit_sm_resp was lost to it)."""
    by_row: dict[int, list[dict[str, Any]]] = {}
    unrecorded = []
    for message in messages:
        [message_id] = message["message_ids"]  # replies here are single-part
        if message_id in recorded:
            by_row.setdefault(recorded[message_id], []).append(message)
        else:
            unrecorded.append(message)
    return by_row, unrecorded
