"""The real daemon binds to the simulator with its password from a file or the environment, and the
password shows nowhere: not in its log, `smscore status`, or the status JSON."""

import json
from pathlib import Path

import pytest

from tests.e2e.harness import (
    PASSWORD,
    DaemonProcess,
    SimulatorProcess,
    daemon_settings,
    smscore_status,
    wait_for,
)


def _bound_daemon(tmp_path: Path, simulator: SimulatorProcess, **source) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    settings = daemon_settings(tmp_path / "state", url, simulator.port, logging={"level": "debug"})
    del settings["binds"][0]["password"]
    settings["binds"][0].update(source)
    daemon = DaemonProcess(tmp_path, settings)
    try:
        daemon.start().wait_ready()
        status = wait_for(
            lambda: (s := daemon.status())["binds"][0]["bound"] and s, 15, "the bind up"
        )
        shown = smscore_status(daemon.status_url)
    finally:
        assert daemon.stop() == 0, daemon.log()
    return json.dumps(status) + shown, (tmp_path / "daemon.1.log").read_text(errors="replace")


@pytest.mark.parametrize("source", ["password_file", "password_env"])
def test_the_daemon_binds_with_a_password_it_never_shows(tmp_path, simulator, monkeypatch, source):
    if source == "password_file":
        secret = tmp_path / "bind.password"
        secret.write_text(PASSWORD + "\n")
        secret.chmod(0o600)
        keys = {"password_file": str(secret)}
    else:
        monkeypatch.setenv("SMSCORE_E2E_BIND_PASSWORD", PASSWORD)
        keys = {"password_env": "SMSCORE_E2E_BIND_PASSWORD"}
    shown, log = _bound_daemon(tmp_path, simulator, **keys)
    assert "UP" in shown and "bind_transceiver" not in shown
    assert "bind sim is up" in log  # debug logging on: every PDU line the daemon writes is here
    assert PASSWORD not in shown and PASSWORD not in log
