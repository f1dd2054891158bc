"""`smscore run` as systemd runs it: a subprocess with $NOTIFY_SOCKET (a datagram socket in
tmp_path standing in for the service manager) and $WATCHDOG_USEC, each failure one line on stderr
and its exit code (daemon/exit_codes.py), and READY=1 only when the daemon really serves.

The healthy run also applies the kernel's memory-deny-write-execute (prctl PR_SET_MDWE, what the
units' MemoryDenyWriteExecute=yes asks of systemd) before exec'ing smscore: the whole start-up (the
schema, the keys cryptography makes, the API server) must work under it."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from daemon import exit_codes
from tests.daemon.test_systemd_notify import Manager
from tests.e2e.harness import (
    PROCESS_LIFETIME_S,
    SMSCORE,
    SimulatorProcess,
    daemon_settings,
    free_port,
    to_toml,
    wait_for,
)

# Refuse memory that is (or becomes) writable and executable, then become smscore.
UNDER_MDWE = (
    "import ctypes, os, sys\n"
    "PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1\n"
    "if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0):\n"
    "    sys.exit(f'prctl(PR_SET_MDWE) failed: errno {ctypes.get_errno()}')\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


@dataclass
class Run:
    """One `smscore run --config FILE` with its own notify socket; stdout and stderr kept apart."""

    workdir: Path
    settings: dict
    manager: Manager
    mdwe: bool = False
    process: subprocess.Popen | None = None
    datagrams: list[str] = field(default_factory=list)

    def start(self) -> "Run":
        config = self.workdir / "smscore.toml"
        config.write_text(to_toml(self.settings), encoding="utf-8")
        command = [str(SMSCORE), "run", "--config", str(config)]
        if self.mdwe:
            command = [sys.executable, "-c", UNDER_MDWE, *command]
        env = {**os.environ, "NOTIFY_SOCKET": self.manager_path, "WATCHDOG_USEC": "1000000"}
        with (self.workdir / "out").open("wb") as out, (self.workdir / "err").open("wb") as err:
            self.process = subprocess.Popen(
                ["timeout", "-s", "KILL", str(PROCESS_LIFETIME_S), *command],
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        return self

    @property
    def manager_path(self) -> str:
        return self.manager.socket.getsockname()

    def said(self) -> list[str]:
        self.datagrams += self.manager.received()
        return self.datagrams

    def wait(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

    def stderr(self) -> str:
        return (self.workdir / "err").read_text(errors="replace")

    def log(self) -> str:
        return self.stderr() + (self.workdir / "out").read_text(errors="replace")[-3000:]

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    listener = Manager(str(tmp_path / "notify"))
    try:
        yield listener
    finally:
        listener.socket.close()


def settings_for(tmp_path: Path, smsc_port: int, **sections) -> dict:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    return daemon_settings(tmp_path / "state", url, smsc_port, **sections)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smscore: "), text
    assert "Traceback" not in text
    return lines[0]


def test_an_unreachable_smsc_keeps_retrying_while_the_rest_runs(tmp_path: Path, manager) -> None:
    smsc_port = free_port()  # nobody listens there yet
    settings = settings_for(tmp_path, smsc_port)
    status_url = f"http://{settings['status']['listen']}"
    run = Run(tmp_path, settings, manager, mdwe=True).start()
    simulator = None
    try:
        wait_for(lambda: any(m.startswith("READY=1\n") for m in run.said()), 60, run.log)
        # READY=1 came after the endpoints opened and the components started: they answer now.
        status = get(f"{status_url}/status")[1]
        heartbeat = get(f"http://{settings['api']['listen']}/heartbeat")[0]
        code, health = wait_for(
            lambda: (
                "connect failed" in (answer := get(f"{status_url}/health"))[1].get("reason", "")
                and answer
            ),
            30,
            "/health telling why the bind is down",
        )
        wait_for(lambda: run.said().count("WATCHDOG=1") >= 2, 10, "two watchdog pings")
        simulator = SimulatorProcess(tmp_path, listen=f"127.0.0.1:{smsc_port}")
        wait_for(lambda: get(f"{status_url}/health")[0] == 200, 30, "the bind up once the SMSC is")
    finally:
        stopped = run.stop()
        if simulator is not None:
            simulator.stop()
    assert (code, health["ok"]) == (503, False)
    assert health["reason"].startswith("no bind is up; sim: connect failed:"), health
    assert status["binds"][0]["bound"] is False and heartbeat == 200
    ready = next(m for m in run.said() if m.startswith("READY=1\n"))
    assert ready == "READY=1\nSTATUS=binds 0/1 up; inbox_new 0; outbox_queued 0; outbox_in_flight 0"
    assert stopped == exit_codes.OK, run.log()
    assert "STOPPING=1\nSTATUS=stopping" in run.said()
    assert "retrying with backoff" in run.log() and "Traceback" not in run.log()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[service]\nrole = 'everything'\n", "service.role: Input should be 'all', 'lis' or 'tranproc'"),
        ("[service\n", "not valid TOML"),
        ("[status]\nlisten_on = '127.0.0.1:1'\n", "status.listen_on: unknown key"),
        (
            "[security]\npin_pepper_file = '${CREDENTIALS_DIRECTORY}/smscore_pepper'\n",
            "security.pin_pepper_file: ${CREDENTIALS_DIRECTORY} is not set",
        ),
    ],
)  # fmt: skip
def test_a_broken_config_is_one_line_and_exit_2(
    tmp_path: Path, manager, text: str, problem: str
) -> None:
    config = tmp_path / "smscore.toml"
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    done = subprocess.run(
        [str(SMSCORE), "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "NOTIFY_SOCKET": manager.socket.getsockname()},
    )
    assert done.returncode == exit_codes.CONFIG, done.stderr
    assert one_line(done.stderr).startswith(f"smscore: {config}: ")
    assert problem in done.stderr
    assert manager.received() == []  # refused before anything started: no READY, nothing


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path, manager) -> None:
    closed = free_port()
    settings = settings_for(tmp_path, free_port())
    settings["database"]["url"] = f"postgresql://smscore@127.0.0.1:{closed}/smscore"
    run = Run(tmp_path, settings, manager).start()
    assert run.wait() == exit_codes.FAILURE, run.log()
    line = one_line(run.stderr())
    assert f"127.0.0.1:{closed}" in line and "Connection refused" in line
    said = run.said()
    assert said and all(m.startswith("STATUS=failed: database ") for m in said), said


def test_an_unwritable_sqlite_path_is_a_config_error_naming_the_key(
    tmp_path: Path, manager
) -> None:
    # Not a database that is down: a path the operator must change, so systemd must not retry.
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    settings = settings_for(tmp_path, free_port())
    settings["database"]["url"] = f"sqlite:///{tmp_path / 'a-file' / 'smscore.db'}"
    run = Run(tmp_path, settings, manager).start()
    assert run.wait() == exit_codes.CONFIG, run.log()
    assert ": database.url: cannot create " in one_line(run.stderr())


@pytest.mark.parametrize("key", ["status", "api"])
def test_a_port_in_use_is_one_line_naming_the_key_and_exit_1(
    tmp_path: Path, manager, key: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        settings = settings_for(tmp_path, free_port(), **{key: {"listen": address}})
        run = Run(tmp_path, settings, manager).start()
        code = run.wait()
    assert code == exit_codes.FAILURE, run.log()
    line = one_line(run.stderr())
    assert line.startswith(f"smscore: {key}.listen {address}: ") and "in use" in line, line
    said = run.said()
    assert not any("READY=1" in m for m in said)
    assert any(m.startswith(f"STATUS=failed: {key}.listen {address}: ") for m in said), said
