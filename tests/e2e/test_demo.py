"""`smscore demo --exit-after N`, the README's first command, works end to end."""

import socket
import subprocess

from tests.e2e.harness import SMSCORE, free_port


def test_demo_shows_pong_and_a_balance_and_exits_0(tmp_path) -> None:
    command = [
        str(SMSCORE), "demo", "--exit-after", "14", "--state-dir", str(tmp_path / "demo"),
        "--sim-http", "127.0.0.1:0", "--status-listen", f"127.0.0.1:{free_port()}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "254712000001 <- 12345: PONG" in result.stdout
    assert "254712000001 <- 12345: Your smscore balance is KES 1,000.50." in result.stdout
    assert "254712000002 <- 12345: Your smscore balance is KES 250.00." in result.stdout
    assert "!!" not in result.stdout and "Traceback" not in result.stderr


def test_demo_stops_with_one_line_when_its_status_port_is_taken(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [
            str(SMSCORE), "demo", "--exit-after", "5", "--state-dir", str(tmp_path / "demo"),
            "--sim-http", "127.0.0.1:0", "--status-listen", f"127.0.0.1:{port}",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""  # no banner advertising a port it does not have
    [line] = result.stderr.splitlines()
    assert line.startswith(f"smscore: status.listen 127.0.0.1:{port}: ") and "in use" in line
