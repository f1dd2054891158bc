"""Health and status tell the truth: every bind down is 503 with the reason, and the status endpoint
says where it listens when it was given port 0."""

import os
import re
import signal
from pathlib import Path

from tests.e2e.harness import (
    PASSWORD,
    DaemonProcess,
    SimulatorProcess,
    daemon_settings,
    smscore_status,
    wait_for,
)


def _daemon(
    tmp_path: Path, simulator: SimulatorProcess, password: str = PASSWORD, **sections
) -> DaemonProcess:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    settings = daemon_settings(tmp_path / "state", url, simulator.port, **sections)
    settings["binds"][0]["password"] = password
    return DaemonProcess(tmp_path, settings)


def test_health_is_503_with_the_reason_while_every_bind_is_refused(tmp_path) -> None:
    # No lockout: at reconnect_max_delay_s 0.5 a busy machine's `smscore status` came after the
    # simulator's fifth wrong password, and its ESME_RBINDFAIL replaced ESME_RINVPASWD.
    simulator = SimulatorProcess(tmp_path, max_bind_failures=1000)
    daemon = _daemon(tmp_path, simulator, password="Wr0ngPw")
    try:
        daemon.start().wait_ready()
        bind = wait_for(
            lambda: (b := daemon.status()["binds"][0])["bind_failures"] >= 2 and b,
            15,
            "two refused binds",
        )
        code, body = daemon.health()
        shown = smscore_status(daemon.status_url)
    finally:
        assert daemon.stop() == 0, daemon.log()
        simulator.stop()
    assert (code, body["ok"], body["binds_up"]) == (503, False, 0)
    assert body["reason"].startswith("no bind is up; sim: ") and "ESME_RINVPASWD" in body["reason"]
    assert "Last errors" in shown and "sim: bind refused: ESME_RINVPASWD" in shown
    assert bind["state"] == "refused-credentials" and "REFUSED-CREDENTIALS" in shown
    assert "Wr0ngPw" not in shown + daemon.log()  # the password is never shown


def test_health_is_200_once_a_bind_is_up(tmp_path, simulator) -> None:
    daemon = _daemon(tmp_path, simulator)
    try:
        daemon.start().wait_ready()
        _, body = wait_for(
            lambda: (reply := daemon.health())[0] == 200 and reply, 15, "a healthy daemon"
        )
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert body == {"ok": True, "binds": 1, "binds_up": 1}


def test_status_on_port_0_logs_and_reports_the_port_it_got(tmp_path, simulator) -> None:
    daemon = _daemon(
        tmp_path, simulator, status={"listen": "127.0.0.1:0"}, logging={"level": "info"}
    )
    line = re.compile(r"status endpoint on http://(127\.0\.0\.1:(\d+))/status")
    try:
        daemon.start()
        found = wait_for(lambda: line.search(daemon.log()), 30, "the status endpoint's log line")
        address = found.group(1)
        assert int(found.group(2)) > 0
        daemon.settings["status"]["listen"] = address  # where the harness reads status from
        status = daemon.status()
        shown = smscore_status(f"http://{address}")
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert status["status_listen"] == address
    assert f"http://{address}/status" in shown


def test_a_second_sigterm_during_shutdown_is_ignored_quietly(tmp_path, simulator) -> None:
    daemon = _daemon(tmp_path, simulator, logging={"level": "info"})
    try:
        daemon.start().wait_ready()
        # A supervisor (or `timeout`) may signal the whole process group twice.
        assert daemon.process is not None
        os.killpg(daemon.process.pid, signal.SIGTERM)
        wait_for(lambda: "stopped" in daemon.log(), 15, "the shutdown under way")
        os.kill(daemon.process.pid, signal.SIGTERM)
        code = daemon.process.wait(timeout=30)
    finally:
        daemon.stop()
    log = daemon.log()
    assert code == 0, log
    assert "ReactorNotRunning" not in log and "Traceback" not in log, log
