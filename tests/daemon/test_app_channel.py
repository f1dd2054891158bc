"""The app channel's protocol (daemon.security.channel): keys, frames, framing, counters."""

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from daemon.security import channel
from daemon.security.channel import (
    CounterAhead,
    CounterState,
    Direction,
    Kind,
    Malformed,
    Replayed,
    SessionKeys,
    StaleCounter,
    Tampered,
    WrongKey,
)
from smscore.concat import concat_info

DEVICE_ID = bytes.fromhex("0123456789abcdef")
SERVER = X25519PrivateKey.from_private_bytes(bytes(range(32)))
DEVICE = X25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def _pair() -> tuple[SessionKeys, SessionKeys]:
    server = SessionKeys.agree(SERVER, DEVICE.public_key().public_bytes_raw(), DEVICE_ID)
    device = SessionKeys.agree(DEVICE, SERVER.public_key().public_bytes_raw(), DEVICE_ID)
    return server, device


SERVER_KEYS, DEVICE_KEYS = _pair()
FRAME = DEVICE_KEYS.seal(Direction.UP, 7, Kind.TEXT, b"SEND 0712345678 500 1234")


def test_both_sides_derive_the_same_keys_and_a_frame_opens() -> None:
    opened = SERVER_KEYS.open(Direction.UP, FRAME)
    assert (opened.kind, opened.text, opened.header.counter) == (
        Kind.TEXT,
        "SEND 0712345678 500 1234",
        7,
    )
    assert opened.header.device_id == DEVICE_ID
    assert b"1234" not in FRAME  # the PIN is not in clear


def test_directions_have_their_own_keys() -> None:
    with pytest.raises(Tampered):
        SERVER_KEYS.open(Direction.DOWN, FRAME)  # a device's frame played back as the server's
    reply = SERVER_KEYS.seal(Direction.DOWN, 1, Kind.TEXT, b"Balance KES 5.00")
    assert DEVICE_KEYS.open(Direction.DOWN, reply).text == "Balance KES 5.00"


def test_tampered_ciphertext_and_header_are_rejected() -> None:
    body = bytearray(FRAME)
    body[-1] ^= 1
    with pytest.raises(Tampered):
        SERVER_KEYS.open(Direction.UP, bytes(body))
    header = bytearray(FRAME)
    header[-1 - channel.TAG_BYTES - 3] ^= 0  # unchanged ciphertext...
    header[channel.HEADER_BYTES - 1] ^= 1  # ...but the counter in the header changed
    with pytest.raises(Tampered):
        SERVER_KEYS.open(Direction.UP, bytes(header))


def test_a_frame_sealed_with_other_keys_is_the_wrong_key() -> None:
    stranger = SessionKeys.agree(
        X25519PrivateKey.generate(), SERVER.public_key().public_bytes_raw(), DEVICE_ID
    )
    with pytest.raises(WrongKey):
        SERVER_KEYS.open(Direction.UP, stranger.seal(Direction.UP, 1, Kind.TEXT, b"BAL 1234"))


@given(st.data())
def test_any_byte_flip_is_refused(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(FRAME) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(FRAME)
    changed[position] ^= flip
    with pytest.raises(channel.ChannelError):
        SERVER_KEYS.open(Direction.UP, bytes(changed))


@pytest.mark.parametrize(
    "frame", [b"", FRAME[:30], bytes([2]) + FRAME[1:], FRAME[:13] + bytes(8) + FRAME[21:]]
)
def test_malformed_frames(frame: bytes) -> None:
    with pytest.raises(Malformed):
        SERVER_KEYS.open(Direction.UP, frame)


def test_text_framing_round_trips_and_refuses_junk() -> None:
    text = channel.to_text(FRAME)
    assert text.startswith(channel.TEXT_PREFIX) and text.isascii() and len(text) <= 160
    assert channel.from_text(text[:20] + " " + text[20:]) == FRAME
    for junk in ("#A1!!!!", "#A1" + "QUJD", "BAL 1234"):
        with pytest.raises(Malformed):
            channel.from_text(junk)


@pytest.mark.parametrize("size", [10, 112, 113, 400])
def test_binary_parts_carry_the_port_and_reassemble(size: int) -> None:
    frame = DEVICE_KEYS.seal(Direction.UP, 1, Kind.TEXT, b"x" * size)
    parts = channel.binary_parts(frame, reference=9)
    assert all(len(part) <= 140 for part in parts)
    assert all(
        part[1:7] == bytes([5, 4]) + channel.APP_PORT.to_bytes(2, "big") * 2 for part in parts
    )
    bodies = []
    for part in parts:
        info, body = concat_info(0x40, part, {})  # what the LIS does with each deliver_sm
        assert (info is None) == (len(parts) == 1)
        bodies.append(body)
    whole = b"".join(bodies)
    assert channel.is_binary_frame(whole)
    assert SERVER_KEYS.open(Direction.UP, whole).body == b"x" * size


def test_keys_are_not_printed() -> None:
    assert repr(SERVER_KEYS) == "SessionKeys(device_id=0123456789abcdef)"


class TestCounters:
    def test_in_order_and_out_of_order_within_the_window(self) -> None:
        state = CounterState()
        for counter in (1, 2, 5, 3, 4):
            state = state.accept(counter, window=8, max_ahead=100)
        assert (state.highest, state.seen) == (5, 0b11111)

    def test_replayed_counter(self) -> None:
        state = CounterState().accept(1, 8, 100).accept(3, 8, 100)
        for counter in (1, 3):
            with pytest.raises(Replayed):
                state.accept(counter, 8, 100)
        assert state.accept(2, 8, 100).highest == 3

    def test_stale_counter_behind_or_too_far_ahead(self) -> None:
        state = CounterState().accept(20, 8, 100)
        with pytest.raises(StaleCounter):
            state.accept(12, 8, 100)
        with pytest.raises(CounterAhead):
            state.accept(121, 8, 100)
        assert state.accept(120, 8, 100).highest == 120
        assert state.accept(13, 8, 100).highest == 20

    @given(st.lists(st.integers(1, 200), max_size=60))
    def test_no_counter_is_ever_accepted_twice(self, counters: list[int]) -> None:
        state, accepted = CounterState(), set()
        for counter in counters:
            try:
                state = state.accept(counter, 16, 50)
            except channel.ChannelError:
                continue
            assert counter not in accepted
            accepted.add(counter)
            assert 0 <= state.seen < 1 << 16
