"""The reference device's copy of its channel (daemon.device.channel_copy): events sealed as the
server seals them (daemon.channels.crypto) are applied once and in order; a repeat is skipped, a
gap stops the page, a changed or moved event is refused and nothing after it is applied."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.channels.crypto import derive_event_key, event_plaintext, seal_event
from daemon.device.channel_copy import ChannelCopy, EventGap, EventRefused, apply_page
from daemon.device.state import DeviceState, load, save

REFERENCE = "ch0123456789abcdef01234567"
MASTER = b"m" * 32
KEY = derive_event_key(MASTER, REFERENCE, 1)


def sealed(seq: int, balance_minor: int | None = None, epoch: int = 1, key: bytes = KEY) -> dict:
    """An event as the API sends it (event_json), a posting leaving `balance_minor` (default:
    100 * seq)."""
    balance = 100 * seq if balance_minor is None else balance_minor
    plain = event_plaintext({
        "seq": seq, "type": "posting", "at": "2026-12-01T12:00:00.000Z", "state": "posted",
        "ref": f"R{seq}", "kind": "SEND", "direction": "debit", "amountMinor": 10,
        "feeMinor": 0, "currency": "KES", "counterparty": "254712000002",
        "balanceMinor": balance, "availableMinor": balance,
    })  # fmt: skip
    ciphertext = seal_event(key, REFERENCE, seq, plain)
    return {"seq": seq, "keyEpoch": epoch, "ciphertext": base64.b64encode(ciphertext).decode(),
            "createdAt": "2026-12-01T12:00:00.000Z"}  # fmt: skip


def keys(epoch: int) -> bytes | None:
    return KEY if epoch == 1 else None


def fresh() -> ChannelCopy:
    return ChannelCopy(reference=REFERENCE, key_epoch=1, wrapped_keys={1: "w"})


def test_events_are_applied_in_order_and_the_balance_is_the_latest_postings() -> None:
    copy = fresh()
    done = apply_page(copy, [sealed(1), sealed(2), sealed(3, balance_minor=7)], keys)
    assert done.applied == [1, 2, 3] and copy.applied_seq == 3
    assert (copy.balance_minor, copy.available_minor, copy.currency) == (7, 7, "KES")
    assert [event["seq"] for event in copy.recent] == [1, 2, 3]


def test_an_event_already_applied_is_skipped() -> None:
    copy = fresh()
    apply_page(copy, [sealed(1), sealed(2)], keys)
    done = apply_page(copy, [sealed(2, balance_minor=999), sealed(3)], keys)
    assert done.applied == [3] and done.repeated == 1
    assert [event["seq"] for event in copy.recent] == [1, 2, 3]
    assert copy.balance_minor == 300


def test_a_gap_stops_the_page_after_what_came_before_it() -> None:
    copy = fresh()
    with pytest.raises(EventGap, match="expected event 3, got 4"):
        apply_page(copy, [sealed(1), sealed(2), sealed(4)], keys)
    assert copy.applied_seq == 2


@pytest.mark.parametrize("change", ["flip", "moved", "other_key", "not_base64"])
def test_a_changed_event_is_refused_and_nothing_after_it_is_applied(change: str) -> None:
    copy = fresh()
    bad = sealed(2)
    raw = bytearray(base64.b64decode(bad["ciphertext"]))
    if change == "flip":
        raw[-1] ^= 1
        bad["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    elif change == "moved":  # event 3's ciphertext served as event 2
        bad["ciphertext"] = sealed(3)["ciphertext"]
    elif change == "other_key":
        bad = sealed(2, key=os.urandom(32))
    else:
        bad["ciphertext"] = "%%%"
    with pytest.raises(EventRefused, match="event 2"):
        apply_page(copy, [sealed(1), bad, sealed(3)], keys)
    assert copy.applied_seq == 1 and copy.balance_minor == 100


def test_an_event_of_an_epoch_whose_key_the_device_lacks_is_refused_unless_older() -> None:
    copy = ChannelCopy(reference=REFERENCE, key_epoch=2, wrapped_keys={2: "w"})
    key2 = derive_event_key(MASTER, REFERENCE, 2)
    done = apply_page(copy, [sealed(1), sealed(2, epoch=2, key=key2)],
                      lambda epoch: key2 if epoch == 2 else None)  # fmt: skip
    assert done.applied == [1, 2] and copy.skipped_old_epoch == 1 and copy.balance_minor == 200
    with pytest.raises(EventRefused, match="no key for epoch 3"):
        apply_page(copy, [sealed(3, epoch=3)], lambda epoch: None)


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 6)), max_size=25))
def test_any_pages_repeated_or_out_of_step_apply_each_event_once_in_order(windows) -> None:
    events = [sealed(seq) for seq in range(1, 13)]
    copy, applied = fresh(), []
    for start, length in windows:
        try:
            applied += apply_page(copy, events[start : start + length], keys).applied
        except EventGap:
            pass  # the device pulls again from its position
    applied += apply_page(copy, events[copy.applied_seq :], keys).applied  # the last pull
    assert applied == list(range(1, 13))
    assert [event["seq"] for event in copy.recent] == applied


def test_the_copy_is_kept_in_the_device_file_and_an_old_file_starts_empty(tmp_path) -> None:
    state = DeviceState.new("254712000001")
    state.channel.learn_token(
        {"token": "t.o.k", "expiresAt": "2026-12-31T00:00:00.000Z", "channel": REFERENCE,
         "keyEpoch": 1, "wrappedKey": "d2FwcGVk"}
    )  # fmt: skip
    apply_page(state.channel, [sealed(1)], keys)
    path = tmp_path / "device.json"
    save(state, path)
    again = load(path).channel
    assert again.to_json() == state.channel.to_json() and again.applied_seq == 1
    assert "t.o.k" not in repr(state.channel) and "t.o.k" not in repr(state)
    data = state.to_json()
    del data["channel"]
    assert DeviceState.from_json(data).channel.applied_seq == 0
