"""Signed confirmations on the app channel: an encrypted money confirmation carries its receipt's
Ed25519 signature (daemon.security.app_receipt), which the reference device checks with the
receipt key it asks for over the channel (RKEY; daemon.device.receipts)."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.config import build_config
from daemon.device.receipts import check_receipt, learn_keys
from daemon.device.state import DeviceState
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.security.app_receipt import (
    ReceiptFrameError,
    SignedReceipt,
    encode_body,
    split_body,
)
from daemon.security.receipt_keys import revoke_key, rotate_keyring
from daemon.security.receipts import ReceiptFields
from daemon.security.signing import activate, deactivate
from daemon.tranproc import TranProcEnv
from tests.daemon.app_world import enrol, send_frame_text
from tests.daemon.money_world import HASHER, SHORT_CODE, World

ALICE, BOB = "254712000001", "254712000002"
KES = 100


@pytest.fixture
def keys(tmp_path):
    return tmp_path / "receipt-keys"


@pytest.fixture
def world(engine, tmp_path, keys):
    world = World(engine)
    world.config = build_config(
        {"sender": {"source_addr": SHORT_CODE}, "money": {"post_on_delivery": []},
         "app": {"key_file": str(tmp_path / "app_key")}, "receipts": {"key_dir": str(keys)}}
    )  # fmt: skip
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.settle_env = SettleEnv(world.config, HASHER)
    activate(world.config, world.now_ns)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    yield world
    deactivate(world.config)
    world.check()


def ask_key(world: World, device: DeviceState, serial: str = "") -> str | None:
    """What `smscore device` does for an unknown serial: RKEY over the channel, learnt."""
    _, reply = send_frame_text(world, device.msisdn, device.command_text(f"RKEY {serial}".strip()))
    return learn_keys(device, device.open_reply(reply).text)


def command(world: World, device: DeviceState, text: str) -> tuple[str, SignedReceipt | None]:
    _, reply = send_frame_text(world, device.msisdn, device.command_text(text))
    return split_body(device.open_reply(reply).body)


def check(world: World, device: DeviceState, receipt: SignedReceipt):
    return check_receipt(device, receipt, lambda serial: ask_key(world, device, serial))


def test_a_signed_encrypted_send_confirmation_verifies_on_the_device(world) -> None:
    device = enrol(world, ALICE)
    assert ask_key(world, device) is not None and set(device.receipt_keys) == {"K1"}
    text, receipt = command(world, device, f"SEND {BOB} 100 1234")
    assert "Confirmed" in text and "Sig K1-" in text  # the SMS's tag stays in the text
    assert receipt is not None and receipt.serial == "K1" and len(receipt.signature) == 64
    assert (receipt.fields.amount_minor, receipt.fields.currency) == (100 * KES, "KES")
    assert (receipt.fields.payer, receipt.fields.payee) == (ALICE, BOB)
    assert receipt.fields.ref in text
    result = check(world, device, receipt)
    assert result.genuine and result.shown == "signature OK (K1)"
    world.receipts()


def test_a_tampered_signature_or_field_is_refused(world) -> None:
    device = enrol(world, ALICE)
    ask_key(world, device)
    _, receipt = command(world, device, f"SEND {BOB} 100 1234")
    assert receipt is not None
    bad_signature = bytes([receipt.signature[0] ^ 1]) + receipt.signature[1:]
    more = dataclasses.replace(receipt.fields, amount_minor=receipt.fields.amount_minor + 1)
    other_payee = dataclasses.replace(receipt.fields, payee="254712999999")
    for forged in (
        dataclasses.replace(receipt, signature=bad_signature),
        dataclasses.replace(receipt, fields=more),
        dataclasses.replace(receipt, fields=other_payee),
    ):
        result = check(world, device, forged)
        assert not result.genuine and result.shown == "signature INVALID (K1)"
    world.receipts()


def test_a_reply_that_is_not_a_confirmation_carries_no_signature(world) -> None:
    device = enrol(world, ALICE)
    text, receipt = command(world, device, "BAL 1234")
    assert "1,000.00" in text and receipt is None
    text, receipt = command(world, device, f"SEND {BOB} 5000 1234")  # more than Alice has
    assert "Sig" not in text and receipt is None
    text, receipt = command(world, device, f"SEND {BOB} 100 9999")  # wrong PIN
    assert receipt is None


def test_after_a_rotation_the_device_verifies_old_and_new(world, keys) -> None:
    device = enrol(world, ALICE)
    ask_key(world, device)
    _, old = command(world, device, f"SEND {BOB} 100 1234")
    rotate_keyring(keys, 7, world.now_ns)
    _, new = command(world, device, f"SEND {BOB} 50 1234")
    assert old is not None and new is not None and (old.serial, new.serial) == ("K1", "K2")
    assert check(world, device, new).shown == "signature OK (K2)"  # K2 asked for, then checked
    assert set(device.receipt_keys) == {"K1", "K2"}
    assert check(world, device, old).shown == "signature OK (K1)"
    world.receipts()


def test_a_revoked_key_is_not_given_so_its_receipts_are_reported_revoked(world, keys) -> None:
    device = enrol(world, ALICE)
    _, receipt = command(world, device, f"SEND {BOB} 100 1234")
    revoke_key(keys, "K1", 7, world.now_ns)
    assert receipt is not None
    result = check(world, device, receipt)  # the device never had K1: it asks, is told revoked
    assert not result.genuine and result.shown == "revoked key K1"
    assert device.receipt_keys == {} and device.revoked_keys == {"K1"}  # no key given to keep


def test_a_key_revoked_after_the_device_fetched_it_is_dropped(world, keys) -> None:
    device = enrol(world, ALICE)
    assert ask_key(world, device) == "K1"
    _, old = command(world, device, f"SEND {BOB} 100 1234")
    assert old is not None and check(world, device, old).genuine
    revoke_key(keys, "K1", 7, world.now_ns)  # staff revoke K1: K2 signs from now on
    assert ask_key(world, device) == "K2"  # the device refreshes (smscore device keys)
    assert set(device.receipt_keys) == {"K2"} and device.revoked_keys == {"K1"}
    assert check(world, device, old).shown == "revoked key K1"
    _, new = command(world, device, f"SEND {BOB} 50 1234")
    assert new is not None and check(world, device, new).shown == "signature OK (K2)"
    world.receipts()


def test_a_serial_never_made_is_unchecked_not_revoked(world) -> None:
    device = enrol(world, ALICE)
    _, receipt = command(world, device, f"SEND {BOB} 100 1234")
    assert receipt is not None
    made_up = dataclasses.replace(receipt, serial="K7")
    result = check(world, device, made_up)
    assert not result.genuine and result.shown == "no key K7"
    world.receipts()
    world.receipts()


def test_the_device_file_keeps_its_receipt_keys() -> None:
    device = DeviceState.new(ALICE)
    device.receipt_keys["K3"] = bytes(range(32))
    assert DeviceState.from_json(device.to_json()).receipt_keys == {"K3": bytes(range(32))}


_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


@given(
    text=_TEXT, ref=_TEXT, payer=_TEXT, payee=_TEXT,
    amount=st.integers(0, 10**15), minute=st.integers(0, 10**9),
    serial=st.from_regex(r"K[1-9][0-9]?", fullmatch=True), signature=st.binary(min_size=64, max_size=64),
)  # fmt: skip
def test_the_framing_reads_back_what_it_wrote(
    text, ref, payer, payee, amount, minute, serial, signature
):
    fields = ReceiptFields(ref, amount, "KES", payer, payee, minute)
    receipt = SignedReceipt(serial, signature, fields)
    assert split_body(encode_body(text, receipt)) == (text, receipt)
    assert split_body(encode_body(text, None)) == (text, None)
    body = encode_body(text, receipt)
    for cut in (1, 17, 85):  # 85: the shortest trailer, all but the NUL
        with pytest.raises(ReceiptFrameError):
            split_body(body[:-cut])
