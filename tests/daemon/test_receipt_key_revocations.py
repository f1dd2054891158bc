"""RKEY reports revocations (daemon.security.receipt_key_command): every answer lists the revoked
serials as ranges (`#V1:K1-K3,K5`) after the key token a device already reads; a revoked serial
asked for by name is answered as revoked; the worst answer stays within a few SMS parts."""

from hypothesis import given
from hypothesis import strategies as st

from daemon import replies
from daemon.device.receipts import key_from_reply, learn_keys
from daemon.device.state import DeviceState
from daemon.security import channel
from daemon.security.channel import Direction, Kind, SessionKeys
from daemon.security.receipt_key_command import key_token, revoked_serials, revoked_token
from daemon.security.receipt_keys import MAX_SERIAL, ReceiptKey, revoke_key
from tests.daemon.app_world import enrol, send_frame_text
from tests.daemon.device_cli_world import ALICE, world_with_keys

_TEXT_PART_CHARS = 153  # a concatenated GSM-7 part


def test_ranges_are_short_and_read_back() -> None:
    assert revoked_token([5, 1, 2, 3]) == "#V1:K1-K3,K5"
    assert revoked_token([]) == ""
    assert revoked_serials("Receipt key K6: #R1:K6:x #V1:K1-K3,K5") == {"K1", "K2", "K3", "K5"}
    assert revoked_serials("Receipt key K1: #R1:K1:x") == set()


@given(st.sets(st.integers(1, MAX_SERIAL)))
def test_any_set_of_serials_round_trips(numbers) -> None:
    assert revoked_serials(f"text {revoked_token(numbers)}") == {f"K{n}" for n in numbers}


def _key(number: int) -> ReceiptKey:
    return ReceiptKey.from_seed(number, bytes([number]) * 32, 7, 0)


def test_a_device_made_before_revocations_still_reads_the_key() -> None:
    text = replies.render("en", "receipt_key", serial="K2",
                          token=f"{key_token(_key(2))} {revoked_token([1])}")  # fmt: skip
    assert key_from_reply(text) == ("K2", _key(2).public_key())  # the device's parse, unchanged


def test_learning_drops_revoked_keys_and_never_keeps_one() -> None:
    device = DeviceState.new(ALICE)
    device.receipt_keys = {"K1": _key(1).public_key(), "K2": _key(2).public_key()}
    assert learn_keys(device, f"#R1:K3:x {revoked_token([1])}") is None  # a malformed key token
    assert set(device.receipt_keys) == {"K2"} and device.revoked_keys == {"K1"}
    forged = key_token(_key(1))  # a key for a serial the device knows is revoked is not kept
    assert learn_keys(device, forged) is None and "K1" not in device.receipt_keys


def test_the_worst_answer_fits_a_few_parts_of_one_frame() -> None:
    alternate = range(1, MAX_SERIAL - 1, 2)  # every other serial revoked: the most ranges
    token = f"{key_token(_key(MAX_SERIAL))} {revoked_token(alternate)}"
    keys = SessionKeys(bytes(32), bytes(8))
    for language in ("en", "sw"):
        text = replies.render(language, "receipt_key", serial=f"K{MAX_SERIAL}", token=token)
        sealed = channel.to_text(keys.seal(Direction.DOWN, 1, Kind.TEXT, text.encode()))
        assert len(sealed) <= 3 * _TEXT_PART_CHARS, len(sealed)


def test_rkey_for_a_revoked_serial_says_revoked(engine, tmp_path) -> None:
    world, keys = world_with_keys(engine, tmp_path)
    try:
        device = enrol(world, ALICE)
        revoke_key(keys, "K1", 7, world.now_ns)
        _, reply = send_frame_text(world, ALICE, device.command_text("RKEY K1"))
        text = device.open_reply(reply).text
        assert text.startswith("Receipt key K1 is revoked") and text.endswith("#V1:K1")
        _, reply = send_frame_text(world, ALICE, device.command_text("RKEY"))
        assert device.open_reply(reply).text.endswith(" #V1:K1")  # with K2's key token
        _, reply = send_frame_text(world, ALICE, device.command_text("RKEY K9"))
        assert "not in use" in device.open_reply(reply).text
    finally:
        from daemon.security.signing import deactivate

        deactivate(world.config)
