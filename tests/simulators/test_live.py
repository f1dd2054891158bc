"""Real TCP on 127.0.0.1: smpplib (an independent client) against `smscore sim` in a subprocess."""

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts

from smscore.constants import EsmClass

SMSCORE = Path(sys.executable).with_name("smscore")


@pytest.fixture
def running_simulator() -> Iterator[tuple[int, str]]:
    command = [str(SMSCORE), "sim", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--esme", "live:secret", "--dlr-delay", "0.2", "--exit-after", "30"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        smpp_line = process.stdout.readline()  # type: ignore[union-attr]
        http_line = process.stdout.readline()  # type: ignore[union-attr]
        assert smpp_line.startswith("SMPP listening on"), smpp_line
        yield int(smpp_line.rsplit(":", 1)[1]), http_line.split(" on ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_smpplib_submits_gets_a_receipt_and_an_injected_mo(running_simulator) -> None:  # type: ignore[no-untyped-def]
    port, api = running_simulator
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    received: list = []
    sent: list = []
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.set_message_sent_handler(lambda pdu: sent.append(pdu))
    client.connect()
    try:
        client.bind_transceiver(system_id="live", password="secret")
        client.send_message(
            source_addr="3456", destination_addr="254711000001", short_message=b"hello live",
            registered_delivery=1,
        )  # fmt: skip
        _post(f"{api}/v1/mo", {"from": "254711000009", "to": "3456", "text": "BAL 1234"})
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            client.read_once()
    finally:
        client.unbind()
        client.disconnect()
    message_id = sent[0].message_id.decode()
    receipts = [pdu for pdu in received if pdu.esm_class & EsmClass.TYPE_DELIVERY_RECEIPT]
    mos = [pdu for pdu in received if not pdu.esm_class & EsmClass.TYPE_DELIVERY_RECEIPT]
    assert receipts[0].receipted_message_id.decode() == message_id
    assert f"id:{message_id} " in receipts[0].short_message.decode()
    assert "stat:DELIVRD" in receipts[0].short_message.decode()
    assert mos[0].short_message == b"BAL 1234" and mos[0].source_addr.decode() == "254711000009"
    with urllib.request.urlopen(f"{api}/v1/messages?msisdn=254711000001", timeout=5) as response:
        inbox = json.loads(response.read())["messages"]
    assert [message["text"] for message in inbox] == ["hello live"]
