"""`smscore bench e2e --encrypted`, tiny: 60 enrolled devices, 2 s at 20 BAL/s through the SMSC
simulator and a real daemon process on 127.0.0.1; every reply opens on its device and every check
passes. Then the opener itself: a reply that does not open is counted, and breaks exactly-once."""

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks.e2e import BenchPlan, Load, Tally, _load_result
from benchmarks.e2e_encrypted import BenchDevice, ReplyOpener
from daemon.device.state import DeviceState
from daemon.security import channel
from daemon.security.channel import Direction, Kind, SessionKeys

REPO = Path(__file__).resolve().parent.parent.parent
MOS = 60  # 20/s for 1 s of warm-up and 2 s measured
RUN_TIMEOUT_S = 240


def test_every_encrypted_balance_is_answered_once_and_opens_on_its_device(tmp_path):
    command = [sys.executable, "-m", "benchmarks.e2e", "--encrypted", "--rate", "20",
               "--duration", "2", "--warmup", "1", "--drain", "30", "--keep-dir", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert done.returncode == 0 and result["exactly_once"] is True, result
    assert result["encrypted"] is True and result["sent"] == result["replies"] == MOS
    assert result["replies_opened"] == MOS and result["replies_not_opened"] == 0
    assert result["replies_opened_but_not_a_balance"] == 0
    assert result["database"]["inbox_by_status"] == {"done": MOS}
    with sqlite3.connect(tmp_path / "state" / "smscore.db") as conn:
        counters = conn.execute(
            "SELECT counter_in, counter_out, count(*) FROM devices GROUP BY 1, 2"
        )
        # The daemon took each device's one frame and answered it on the channel.
        assert counters.fetchall() == [(1, 1, MOS)]
        texts = [text for (text,) in conn.execute("SELECT text FROM outbox")]
    assert all("balance" not in text for text in texts)  # nothing readable went back over the air


@dataclass
class Message:
    msisdn: str
    text: str
    delivered_at_s: float = 0.0


def enrolled(msisdn: str) -> tuple[BenchDevice, SessionKeys]:
    server = X25519PrivateKey.generate()
    fresh = DeviceState.new(msisdn)
    device = BenchDevice(fresh.channel_key, fresh.signing_key, msisdn, "00112233445566aa")
    device.server_public = server.public_key().public_bytes_raw()
    peer = fresh.channel_key.public_key().public_bytes_raw()
    return device, SessionKeys.agree(server, peer, channel.device_id_bytes(device.device_id))


def reply(keys: SessionKeys, counter: int, text: str) -> str:
    return channel.to_text(keys.seal(Direction.DOWN, counter, Kind.TEXT, text.encode()))


def test_a_reply_that_does_not_open_is_counted_and_breaks_exactly_once():
    device, server = enrolled("254711000000")
    opener = ReplyOpener({device.msisdn: device}, "balance is")
    good = reply(server, 1, "Your balance is KES 100.00.")
    opener.open(Message(device.msisdn, good))
    assert (opener.opened, opener.not_opened) == (1, 0) and opener.result()["replies_all_open"]
    tampered = bytearray(channel.from_text(reply(server, 2, "Your balance is KES 100.00.")))
    tampered[-1] ^= 1
    for bad in (good, channel.to_text(bytes(tampered)), "Your balance is KES 100.00."):
        opener.open(Message(device.msisdn, bad))  # a replay, a changed tag, plain text
    opener.open(Message(device.msisdn, reply(server, 3, "Wrong PIN.")))
    assert (opener.opened, opener.not_opened, opener.unexpected_text) == (2, 3, 1)

    plan = BenchPlan(rate_per_s=1, duration_s=1, warmup_s=0, encrypted=True)
    load = Load.__new__(Load)  # only what _load_result reads: no reactor, no simulator
    load.plan, load.opener = plan, opener
    load.tally = Tally(sent=1, replies=1, sent_per_msisdn={"x": 1}, replies_per_msisdn={"x": 1})
    summary = _load_result(load, plan, 0.0)
    assert summary["handsets_exactly_once"] is False and summary["replies_not_opened"] == 3
