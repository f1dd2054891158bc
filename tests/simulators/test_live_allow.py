"""Real TCP on 127.0.0.1: `smscore sim --allow` closes a connection from an address off its list
before it reads a PDU (the bind is never answered), counts it in /v1/stats and logs it."""

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from smscore.codec import encode
from smscore.pdu import BindTransceiver

SMSCORE = Path(sys.executable).with_name("smscore")


def run_simulator(*flags: str) -> tuple[subprocess.Popen, int, str]:
    command = [str(SMSCORE), "sim", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--esme", "live:secret", "--exit-after", "30", *flags]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    smpp_line = process.stdout.readline()  # type: ignore[union-attr]
    http_line = process.stdout.readline()  # type: ignore[union-attr]
    assert smpp_line.startswith("SMPP listening on"), smpp_line
    return process, int(smpp_line.rsplit(":", 1)[1]), http_line.split(" on ", 1)[1].strip()


def bind_answer(port: int) -> bytes:
    """Send a bind; what comes back before the link closes (at most 5 s)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as link:
        try:
            link.sendall(encode(BindTransceiver(system_id="live", password="secret")))
            while chunk := link.recv(4096):
                received += chunk
                if len(received) >= 16:
                    break
        except (BrokenPipeError, ConnectionResetError):  # closed by the peer: nothing came
            pass
    return received


def stats(api: str) -> dict:
    with urllib.request.urlopen(f"{api}/v1/stats", timeout=5) as response:
        return json.loads(response.read())


def test_an_address_off_the_allow_list_is_closed_unanswered_counted_and_logged():
    process, port, api = run_simulator("--allow", "10.0.0.0/8", "--allow", "192.168.0.0/16")
    try:
        assert bind_answer(port) == b""  # closed, the bind never answered
        assert stats(api)["connections_refused"] == 1
        assert stats(api)["connections"] == 0  # no SMPP protocol was ever built for it
    finally:
        process.terminate()
        _, log = process.communicate(timeout=10)
    assert "connection from 127.0.0.1 refused: not in allow (10.0.0.0/8, 192.168.0.0/16)" in log


def test_an_allowed_address_binds():
    process, port, api = run_simulator("--allow", "127.0.0.0/8")
    try:
        answer = bind_answer(port)
        assert len(answer) >= 16 and answer[12:16] == b"\x00\x00\x00\x00"  # ESME_ROK
        assert stats(api)["connections_refused"] == 0
    finally:
        process.terminate()
        process.communicate(timeout=10)
