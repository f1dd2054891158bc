"""A SIGHUP reload as systemd and `smscore status` see it: the sd_notify reload handshake
(RELOADING=1 + MONOTONIC_USEC, then READY=1), a refusal kept on the STATUS= line and in GET /status
until the next good reload; and `smscore run`'s re-read keeping every command-line option."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from twisted.internet.defer import succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from daemon import run_cli, runner
from daemon.config import Config, build_config
from daemon.db import InlineDatabase
from daemon.migrate import upgrade_all
from daemon.reload import changed_keys
from daemon.service import assemble_daemon
from daemon.signals import HupReload
from daemon.systemd_notify import SystemdNotifier, status_line
from ledger import make_engine
from tests.daemon.test_reload import DEFAULT_TARIFF, bind, settings

MONOTONIC_USEC = 123_456_789
BROKEN_TARIFF = "[fees]\nsend_registered = 3\n"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'smscore.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def tariff_file(tmp_path: Path) -> Path:
    path = tmp_path / "tariff.toml"
    path.write_text(DEFAULT_TARIFF.read_text(encoding="utf-8"), encoding="utf-8")
    return path


class InlinePool:
    """A thread pool that runs the work at once, in the caller's thread."""

    def callInThreadWithCallback(self, on_result: Any, work: Any, *args: Any) -> None:
        try:
            result, ok = work(*args), True
        except Exception:
            result, ok = Failure(), False
        on_result(ok, result)


class Reactor(MemoryReactorClock):
    def getThreadPool(self) -> InlinePool:
        return InlinePool()

    def callFromThread(self, function: Any, *args: Any) -> None:  # type: ignore[override]
        function(*args)


class Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: str) -> bool:
        self.sent.append(message)
        return True


def ready_notifier(reactor: Reactor) -> tuple[SystemdNotifier, Socket]:
    sock = Socket()
    notifier = SystemdNotifier(reactor, sock, monotonic=lambda: MONOTONIC_USEC)  # type: ignore[arg-type]
    notifier.ready(lambda: succeed({"role": "all", "binds": [], "queues": {}}))
    assert sock.sent[0].startswith("READY=1\n")
    sock.sent.clear()
    return notifier, sock


def test_a_reload_is_told_to_systemd_and_a_refusal_stays_visible(tmp_path, engine, tariff_file):
    data = settings(tmp_path, tariff_file, [bind("sim")])
    reactor = Reactor()
    daemon = assemble_daemon(build_config(data), reactor, InlineDatabase(engine))
    notifier, sock = ready_notifier(reactor)
    hup = HupReload(reactor, daemon, lambda: build_config(data), "smscore.toml", notifier)

    hup.request()
    assert sock.sent[0] == (
        f"RELOADING=1\nMONOTONIC_USEC={MONOTONIC_USEC}\nSTATUS=reloading the configuration"
    )
    assert sock.sent[1].startswith("READY=1\nSTATUS=reloaded: binds added: none;")
    assert daemon.last_reload is not None and daemon.last_reload.result == "ok"

    sock.sent.clear()
    tariff_file.write_text(BROKEN_TARIFF, encoding="utf-8")
    hup.request()
    assert sock.sent[0].startswith("RELOADING=1\n")
    assert sock.sent[1].startswith("READY=1\nSTATUS=reload refused: ")
    assert "tariff.toml" in sock.sent[1]
    snapshot = daemon.snapshot()
    shown: list = []
    snapshot.addCallback(shown.append)
    [body] = shown
    assert body["reload"]["result"] == "refused" and "tariff.toml" in body["reload"]["detail"]
    assert status_line(body).startswith("reload refused: ")  # every STATUS= line until fixed
    assert (hup.reloads, hup.refusals) == (1, 1)

    tariff_file.write_text(DEFAULT_TARIFF.read_text(encoding="utf-8"), encoding="utf-8")
    hup.request()
    assert daemon.last_reload.result == "ok"
    shown.clear()
    daemon.snapshot().addCallback(shown.append)
    assert status_line(shown[0]).startswith("binds 0/1 up")  # the refusal is gone


def test_no_handshake_before_ready_nor_once_stopping():
    reactor = Reactor()
    sock = Socket()
    notifier = SystemdNotifier(reactor, sock)  # type: ignore[arg-type]
    notifier.reloading()  # a SIGHUP during the start-up: READY=1 now would end it early
    notifier.reloaded("reloaded: x")
    assert sock.sent == []
    notifier, sock = ready_notifier(reactor)
    notifier.reloading()
    notifier.stopping()
    notifier.reloaded("reloaded: x")
    assert [m.split("\n")[0] for m in sock.sent] == ["RELOADING=1", "STOPPING=1"]


def test_the_monotonic_clock_is_the_hosts():
    import time

    from daemon.systemd_notify import monotonic_usec

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert before <= monotonic_usec() <= before + 60_000_000


def test_the_sighup_re_read_keeps_every_command_line_option(tmp_path, monkeypatch):
    path = tmp_path / "smscore.toml"
    path.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    seen: dict[str, Any] = {}

    def run_forever(config: Config, read_config: Any = None, where: str = "", **_: Any) -> int:
        seen["running"], seen["again"] = config, read_config()
        return 0

    monkeypatch.setattr(runner, "run_forever", run_forever)
    options = ["--config", str(path), "--role", "tranproc", "--instance-name", "tranproc-2"]
    options += ["--status-listen", "127.0.0.1:8799", "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    result = CliRunner().invoke(run_cli.run, options)
    assert result.exit_code == 0, result.output
    assert seen["again"].service.instance_name == "tranproc-2"
    assert changed_keys(seen["running"], seen["again"]) == []  # no "needs a restart" warning
