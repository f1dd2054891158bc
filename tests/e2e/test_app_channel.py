"""The encrypted app channel end to end: the reference device (`smscore device`) enrols through the
simulator and the real daemon (and asks for the receipt key, RKEY), sends an encrypted SEND and
reads the encrypted reply it decrypts, whose signed receipt it verifies; the money moves as for a
plain SEND, and nothing readable went over the air."""

import json

from click.testing import CliRunner

from daemon.cli import main as smscore_cli
from daemon.device.state import load
from daemon.security import channel
from tests.e2e.money import KES, PIN, START, kes


def _device(money, path, *args: str):
    api = ["--api", money.simulator.api, "--file", str(path)]
    return CliRunner().invoke(smscore_cli, ["device", *args, *api])


def test_a_device_enrols_sends_an_encrypted_send_and_reads_the_reply(money, tmp_path) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="Bob Otieno")
    path = tmp_path / "alice-device.json"
    made = CliRunner().invoke(
        smscore_cli, ["device", "init", "--file", str(path), "--phone", alice.msisdn]
    )
    assert made.exit_code == 0, made.output
    assert path.stat().st_mode & 0o077 == 0
    enrolled = _device(money, path, "enrol", "--pin", PIN)
    assert enrolled.exit_code == 0 and "enrolled as device" in enrolled.output, enrolled.output
    assert "receipt keys known: K1" in enrolled.output
    sent = _device(money, path, "send", f"SEND {bob.msisdn} 500 {PIN}")
    assert sent.exit_code == 0, sent.output
    assert f"Confirmed. {kes(500 * KES)} sent to BOB O." in sent.output
    assert sent.output.rstrip().endswith("signature OK (K1)")
    over_the_air = [message["text"] for message in money.simulator.inbox(alice.msisdn)]
    assert len(over_the_air) == 3  # enrolled (plain), the receipt key, the confirmation
    assert all(channel.is_text_frame(text) for text in over_the_air[1:])
    assert "Confirmed" not in over_the_air[2]
    alice.read.extend(over_the_air)
    bob.next("the recipient's notice")  # plain: Bob has no device
    money.quiet()
    assert money.posted(bob.msisdn) == 500 * KES
    assert json.loads(path.read_text())["counter_out"] == 2  # RKEY, SEND


def test_a_tampered_message_is_answered_with_an_encrypted_refusal(money, tmp_path) -> None:
    alice = money.customer(START)
    path = tmp_path / "device.json"
    CliRunner().invoke(
        smscore_cli, ["device", "init", "--file", str(path), "--phone", alice.msisdn]
    )
    assert _device(money, path, "enrol", "--pin", PIN).exit_code == 0
    alice.read.extend(message["text"] for message in money.simulator.inbox(alice.msisdn))
    state = load(path)
    frame = bytearray(state.seal(channel.Kind.TEXT, f"BAL {PIN}".encode()))
    frame[-1] ^= 1
    reply = alice.send(channel.to_text(bytes(frame)))
    assert state.open_reply(reply).body == b"tampered"


def test_after_a_rotation_the_device_fetches_the_new_key_and_old_receipts_still_verify(
    money, tmp_path
) -> None:
    from daemon.security.signing import key_directory

    alice = money.customer(START)
    bob = money.customer()
    path = tmp_path / "alice-device.json"
    CliRunner().invoke(
        smscore_cli, ["device", "init", "--file", str(path), "--phone", alice.msisdn]
    )
    assert "receipt keys known: K1" in _device(money, path, "enrol", "--pin", PIN).output
    first = _device(money, path, "send", f"SEND {bob.msisdn} 100 {PIN}")
    assert first.exit_code == 0 and first.output.rstrip().endswith("signature OK (K1)")
    state_dir = key_directory(money.config).parent
    rotated = CliRunner().invoke(smscore_cli, [
        "receipt", "keys", "rotate", "--actor", "ops", "--state-dir", str(state_dir),
        "--db", money.config.database_url,
    ])  # fmt: skip
    assert rotated.exit_code == 0 and "K2 signs from now on" in rotated.output, rotated.output
    second = _device(money, path, "send", f"SEND {bob.msisdn} 50 {PIN}")
    assert second.exit_code == 0, second.output
    assert second.output.rstrip().endswith("signature OK (K2)")  # K2 fetched by its serial
    assert json.loads(path.read_text())["counter_out"] == 4  # RKEY, SEND, SEND, RKEY K2
    kept = _device(money, path, "receipts")
    assert kept.exit_code == 0, kept.output
    assert [line.rsplit(": ", 1)[1] for line in kept.output.splitlines()] == [
        "signature OK (K1)",
        "signature OK (K2)",
    ]
    money.quiet()  # first: Bob's second notice may still be on its way
    alice.read.extend(message["text"] for message in money.simulator.inbox(alice.msisdn))
    bob.read.extend(message["text"] for message in money.simulator.inbox(bob.msisdn))
    assert money.posted(bob.msisdn) == 150 * KES
