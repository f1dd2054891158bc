"""Offline transfers end to end: the reference device (`smscore device`) signs a transfer with no
network, then delivers it twice through the simulator and the real daemon; it posts once, both
deliveries are answered with the same reference, and the ledger checks after."""

import json

from click.testing import CliRunner

from daemon.cli import main as smscore_cli
from daemon.security import channel
from tests.e2e.money import KES, PIN, START, kes


def _device(money, path, *args: str, api: bool = True):
    where = ["--api", money.simulator.api] if api else []
    return CliRunner().invoke(smscore_cli, ["device", *args, *where, "--file", str(path)])


def test_a_transfer_signed_offline_and_delivered_twice_posts_once(money, tmp_path) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="Bob Otieno")
    path = tmp_path / "alice-device.json"
    made = _device(money, path, "init", "--phone", alice.msisdn, api=False)
    assert made.exit_code == 0, made.output
    assert _device(money, path, "enrol", "--pin", PIN).exit_code == 0
    queued = _device(money, path, "offline-send", bob.msisdn, "250", api=False)  # no network
    assert queued.exit_code == 0 and "signed and queued" in queued.output, queued.output
    assert json.loads(path.read_text())["offline_queue"][0]["outcome"] == "pending"

    first = _device(money, path, "flush")
    assert first.exit_code == 0, first.output
    assert f"Confirmed. {kes(250 * KES)} sent to BOB O." in first.output
    assert "#O1:1:posted" in first.output
    assert json.loads(path.read_text())["offline_queue"][0]["outcome"] == "posted"
    assert _device(money, path, "flush").output == ""  # nothing left to deliver
    again = _device(money, path, "flush", "--again")  # delivered a second time
    assert again.exit_code == 0 and "#O1:1:posted" in again.output, again.output
    assert "already" in again.output

    [move] = money.moves_of(alice.msisdn)
    assert move.ref in first.output and move.ref in again.output
    over_the_air = [message["text"] for message in money.simulator.inbox(alice.msisdn)]
    assert all(channel.is_text_frame(text) for text in over_the_air[1:])
    alice.read.extend(over_the_air)
    bob.next("the recipient's notice")
    money.quiet()
    assert money.posted(bob.msisdn) == 250 * KES
    assert bob.unread() == []  # told once
    money.ledger_check()
