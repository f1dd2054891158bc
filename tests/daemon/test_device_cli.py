"""`smscore device send|keys|receipts|flush` end to end through the TranProc (the World standing in
for the simulator): what the device says and the exit code it ends with, for a revoked device, a
confirmation it cannot check, one whose signature is not genuine, and a receipt key revoked or
rotated after the device fetched it."""

import base64
import json

import pytest

from daemon.device.answers import Exit
from daemon.security.devices import revoke_device_txn
from daemon.security.receipt_keys import revoke_key, rotate_keyring
from tests.daemon.device_cli_world import ALICE, BOB, KES, device_world_fixture


@pytest.fixture
def device_world(engine, tmp_path, monkeypatch):
    yield from device_world_fixture(engine, tmp_path, monkeypatch)


def _file(runner) -> dict:
    return json.loads(runner.path.read_text())


def _write(runner, data: dict) -> None:
    runner.path.write_text(json.dumps(data))
    runner.path.chmod(0o600)


def test_a_confirmation_is_shown_with_its_receipt_checked_and_kept(device_world) -> None:
    _world, device = device_world
    device.enrol()
    sent = device("send", f"SEND {BOB} 100 1234")
    assert sent.exit_code == 0, sent.output
    assert "Confirmed" in sent.output and sent.output.rstrip().endswith("signature OK (K1)")
    assert len(_file(device)["receipts"]) == 1


def test_send_from_a_revoked_device_shows_the_plain_reply_and_says_so(device_world) -> None:
    world, device = device_world
    device.enrol()
    with world.engine.begin() as conn:
        revoke_device_txn(conn, _file(device)["device_id"], "staff:ops", world.now_ns)
    sent = device("send", "BAL 1234")
    assert sent.exit_code == Exit.NOT_ENROLLED == 5
    assert "This app is no longer enrolled for your number" in sent.output  # the server's SMS
    assert "this device is no longer enrolled: the server revoked it" in sent.output
    assert "did not verify" not in sent.output and "Malformed" not in sent.output


def test_a_device_unknown_to_the_server_is_told_it_is_not_enrolled_there(device_world) -> None:
    _, device = device_world
    device.enrol()
    data = _file(device)
    data["device_id"] = "00000000deadbeef"
    _write(device, data)
    sent = device("send", "BAL 1234")
    assert sent.exit_code == Exit.NOT_ENROLLED and "could not be read" in sent.output
    assert "no longer enrolled there" in sent.output


def test_with_no_key_known_the_device_fetches_rkey_by_itself(device_world) -> None:
    _, device = device_world
    device.enrol()
    data = _file(device)
    data["receipt_keys"] = {}
    _write(device, data)
    before = len(device.sent)
    sent = device("send", f"SEND {BOB} 100 1234")
    assert sent.exit_code == 0 and sent.output.rstrip().endswith("signature OK (K1)")
    assert len(device.sent) == before + 2  # the SEND, then RKEY K1 for its receipt


def test_with_no_key_given_by_the_server_the_device_says_it_cannot_check(
    engine, tmp_path, monkeypatch
) -> None:
    from daemon.device import cli as device_cli
    from tests.daemon.device_cli_world import DeviceRunner, WorldLink, world_with_keys

    world, keys = world_with_keys(engine, tmp_path, receipts=False)  # nothing signs
    sent: list[str] = []
    monkeypatch.setattr(device_cli, "SimulatorLink", lambda *_: WorldLink(world, sent))
    device = DeviceRunner(world, tmp_path / "alice.json", keys, sent)
    device.enrol()
    result = device("send", "BAL 1234")
    assert "1,000.00" in result.output
    assert "no receipt key known (the server gave none): receipts cannot be checked" in (
        result.output
    )
    assert "device keys" in result.output


def test_a_signature_that_does_not_check_says_the_payment_was_made(device_world) -> None:
    world, device = device_world
    device.enrol()
    data = _file(device)
    data["receipt_keys"]["K1"] = base64.b64encode(bytes(32)).decode()  # not the server's key
    _write(device, data)
    sent = device("send", f"SEND {BOB} 100 1234")
    assert sent.exit_code == Exit.RECEIPT_NOT_GENUINE == 4
    assert "Confirmed" in sent.output and "the payment was made" in sent.output
    assert "NOT genuine (signature INVALID (K1))" in sent.output
    assert "refused" not in sent.output
    world.receipts()
    assert world.balance(BOB) == 100 * KES  # the money moved: the receipt is what is not proof


def test_send_help_documents_the_exit_codes(device_world) -> None:
    _, device = device_world
    shown = device("send", "--help").output
    for code, words in ((3, "could not be checked"), (4, "NOT genuine"), (5, "no longer enrolled")):
        assert f"{code}  " in shown and words in shown


def test_a_key_revoked_after_it_was_fetched_is_dropped_on_refresh(device_world) -> None:
    world, device = device_world
    device.enrol()  # fetches K1
    assert device("send", f"SEND {BOB} 100 1234").exit_code == 0  # a K1 receipt, kept
    made = revoke_key(device.keys, "K1", 7, world.now_ns)  # staff revoke K1: K2 signs
    assert made is not None and made.serial == "K2"
    assert device("receipts").output.rstrip().endswith("signature OK (K1)")  # not told yet
    refreshed = device("keys")
    assert refreshed.exit_code == 0, refreshed.output
    assert "receipt keys known: K2" in refreshed.output
    assert "revoked (their receipts are not genuine): K1" in refreshed.output
    assert "K1" not in _file(device)["receipt_keys"] and _file(device)["revoked_keys"] == ["K1"]
    checked = device("receipts")
    assert checked.exit_code == Exit.RECEIPT_NOT_GENUINE
    assert checked.output.rstrip().endswith("revoked key K1")
    new = device("send", f"SEND {BOB} 50 1234")
    assert new.exit_code == 0 and new.output.rstrip().endswith("signature OK (K2)")


def test_a_rotation_is_learnt_by_serial_and_old_receipts_still_verify(device_world) -> None:
    world, device = device_world
    device.enrol()
    assert device("send", f"SEND {BOB} 100 1234").output.rstrip().endswith("signature OK (K1)")
    rotate_keyring(device.keys, 7, world.now_ns)  # staff rotate to K2
    before = len(device.sent)
    new = device("send", f"SEND {BOB} 50 1234")
    assert new.exit_code == 0 and new.output.rstrip().endswith("signature OK (K2)")
    assert len(device.sent) == before + 2  # the SEND, then RKEY K2: fetched by its serial
    assert sorted(_file(device)["receipt_keys"]) == ["K1", "K2"]
    kept = device("receipts")
    assert kept.exit_code == 0, kept.output
    assert [line.rsplit(": ", 1)[1] for line in kept.output.splitlines()] == [
        "signature OK (K1)",
        "signature OK (K2)",
    ]


def test_a_revocation_is_learnt_with_the_next_key_fetched(device_world) -> None:
    world, device = device_world
    device.enrol()
    revoke_key(device.keys, "K1", 7, world.now_ns)  # K2 made
    new = device("send", f"SEND {BOB} 50 1234")  # names K2: RKEY K2 also reports K1 revoked
    assert new.output.rstrip().endswith("signature OK (K2)")
    assert _file(device)["revoked_keys"] == ["K1"] and "K1" not in _file(device)["receipt_keys"]


def test_flush_checks_each_delivered_receipt(device_world) -> None:
    _world, device = device_world
    device.enrol()
    assert device("offline-send", "254712000002", "100").exit_code == 0
    flushed = device("flush")
    assert flushed.exit_code == 0, flushed.output
    assert "#O1:1:posted" in flushed.output
    assert flushed.output.rstrip().endswith("signature OK (K1)")
    data = _file(device)
    data["receipt_keys"]["K1"] = base64.b64encode(bytes(32)).decode()
    _write(device, data)
    assert device("offline-send", "254712000002", "50").exit_code == 0
    forged = device("flush")
    assert forged.exit_code == Exit.RECEIPT_NOT_GENUINE, forged.output
    assert "the payment was made" in forged.output


def test_flush_from_a_revoked_device_says_it_is_no_longer_enrolled(device_world) -> None:
    world, device = device_world
    device.enrol()
    assert device("offline-send", "254712000002", "100").exit_code == 0
    with world.engine.begin() as conn:
        revoke_device_txn(conn, _file(device)["device_id"], "staff:ops", world.now_ns)
    flushed = device("flush")
    assert flushed.exit_code == Exit.NOT_ENROLLED
    assert "not delivered: This app is no longer enrolled" in flushed.output
    assert _file(device)["offline_queue"][0]["outcome"] == "pending"


def test_an_old_device_file_without_the_new_lists_still_loads(device_world) -> None:
    _, device = device_world
    device.enrol()
    data = _file(device)
    del data["revoked_keys"], data["receipts"]
    _write(device, data)
    assert device("send", "BAL 1234").exit_code == 0
    assert _file(device)["revoked_keys"] == []


def test_flush_again_says_a_repeat_carries_no_receipt_without_failing(device_world) -> None:
    _, device = device_world
    device.enrol()
    assert device("offline-send", "254712000002", "100").exit_code == 0
    assert device("flush").exit_code == 0
    again = device("flush", "--again")
    assert again.exit_code == 0, again.output
    assert "#O1:1:posted" in again.output
    assert "a repeated answer carries no signed receipt: it was checked when" in again.output


def test_an_enrolment_that_enrolled_nothing_exits_5(device_world) -> None:
    """A wrong PIN (or a second device's code still to type) enrols nothing: a script must see it."""
    _world, device = device_world
    assert device("init", "--phone", ALICE).exit_code == 0
    refused = device("enrol", "--pin", "9999")
    assert refused.exit_code == 5, refused.output
    assert "not enrolled" in refused.output
    assert "enrolled as device" not in refused.output
