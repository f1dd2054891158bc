"""smpplib's client, an independent implementation, against our SMSCFactory over real TCP on 127.0.0.1.

Our side runs on a real reactor in a subprocess (tests/smscore/live_peer.py) that stops on its own
when stdin closes or after its lifetime; smpplib uses blocking sockets with a 5 s timeout.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions

ROOT = Path(__file__).resolve().parents[2]
LIFETIME_S = 30
MAX_READS = 20


def start_peer(*args: str) -> tuple[subprocess.Popen, int]:
    """Start live_peer serve; return it and the port it prints (bounded: it exits by itself)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.smscore.live_peer",
            "serve",
            "--lifetime-s",
            str(LIFETIME_S),
            *list(args),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise AssertionError(f"peer did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc, int(line.split()[1])


def stop_peer(proc: subprocess.Popen) -> None:
    proc.stdin.close()  # the peer stops on stdin EOF
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.fixture
def smsc_port() -> Iterator[int]:
    proc, port = start_peer()
    try:
        yield port
    finally:
        stop_peer(proc)
    assert proc.returncode == 0


def make_client(port: int) -> smpplib.client.Client:
    return smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)


def test_smpplib_binds_submits_receives_the_echo_and_unbinds(smsc_port):
    client = make_client(smsc_port)
    sent, received = [], []
    client.set_message_sent_handler(lambda pdu: sent.append(pdu))
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.connect()
    try:
        bind_resp = client.bind_transceiver(system_id="test", password="secret")
        assert bind_resp.status == smpplib.consts.SMPP_ESME_ROK
        assert bind_resp.system_id == b"SMSCORE"
        client.send_message(
            source_addr="100", destination_addr="254700000001", short_message=b"hello"
        )
        for _ in range(MAX_READS):
            if sent and received:
                break
            client.read_once()
        assert [pdu.message_id for pdu in sent] == [b"msg-1"]
        assert [pdu.short_message for pdu in received] == [b"echo: hello"]
        assert received[0].source_addr == b"254700000001"
        unbind_resp = client.unbind()
        assert unbind_resp.command == "unbind_resp" and unbind_resp.status == 0
    finally:
        client.disconnect()


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("test", "wrong", 0x0E), ("nobody", "secret", 0x0F)],
)
def test_smpplib_bind_refused_with_the_authenticators_status(
    smsc_port, system_id, password, status
):
    client = make_client(smsc_port)
    client.connect()
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            client.bind_transmitter(system_id=system_id, password=password)
        assert refused.value.args[1] == status
    finally:
        client.disconnect()
