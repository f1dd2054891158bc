"""The app channel's server side, hardened: session keys cached (bounded; a new device key or server
key never meets a stale entry; a revoked device still refused), a counter too far ahead refused
with its own reason."""

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from daemon.config import build_config
from daemon.security import app_inbox
from daemon.security.channel import ErrorCode, Kind, SessionKeys
from daemon.security.devices import Device, revoke_device_txn
from tests.daemon.app_world import app_world, enrol, inbox_row, send_frame_text

ALICE, BOB = "254712000001", "254712000002"
KES = 100


@pytest.fixture
def world(engine, tmp_path):
    world = app_world(engine, tmp_path)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    return world


@pytest.fixture(autouse=True)
def _empty_cache():
    app_inbox.clear_key_cache()
    yield
    app_inbox.clear_key_cache()


def _device(device_id: str = "00112233aabbccdd", public: bytes | None = None) -> Device:
    key = public or X25519PrivateKey.generate().public_key().public_bytes_raw()
    return Device(device_id, ALICE, "", key, None, "active", 0, 0, 0, 0, 0, None)


def _config(tmp_path, name: str = "app_key"):
    return build_config({"app": {"key_file": str(tmp_path / name)}})


def _agreements(monkeypatch) -> list[bytes]:
    seen: list[bytes] = []
    agree = SessionKeys.agree.__func__  # type: ignore[attr-defined]

    def counting(cls, own, peer_public, device_id):
        seen.append(peer_public)
        return agree(cls, own, peer_public, device_id)

    monkeypatch.setattr(SessionKeys, "agree", classmethod(counting))
    return seen


def test_a_device_s_keys_are_agreed_once_for_many_messages(world, monkeypatch) -> None:
    device = enrol(world, ALICE)
    seen = _agreements(monkeypatch)
    for _ in range(3):
        _, reply = send_frame_text(world, ALICE, device.command_text("BAL 1234"))
        assert device.open_reply(reply).kind is Kind.TEXT
    device_public = device.channel_key.public_key().public_bytes_raw()
    assert seen.count(device_public) == 1  # the server's side (the device agrees with its own)


def test_a_new_device_key_under_the_same_id_is_agreed_anew(tmp_path, monkeypatch) -> None:
    config = _config(tmp_path)
    first = _device()
    again = replace(first, channel_public_key=_device().channel_public_key)  # re-enrolled
    seen = _agreements(monkeypatch)
    keys = app_inbox.device_keys(config, first)
    assert app_inbox.device_keys(config, first) is keys
    assert app_inbox.device_keys(config, again).key_id != keys.key_id
    assert len(seen) == 2


def test_a_new_server_key_never_meets_a_cached_entry(tmp_path) -> None:
    device = _device()
    old = app_inbox.device_keys(_config(tmp_path, "old_key"), device)
    new = app_inbox.device_keys(_config(tmp_path, "new_key"), device)
    assert new.key_id != old.key_id


def test_the_cache_is_bounded(tmp_path) -> None:
    config = _config(tmp_path)
    for n in range(app_inbox.KEY_CACHE_SIZE + 10):
        app_inbox.device_keys(config, _device(f"{n:016x}"))
    assert app_inbox.key_cache_size() == app_inbox.KEY_CACHE_SIZE


def test_a_revoked_device_is_refused_though_its_keys_are_cached(world) -> None:
    device = enrol(world, ALICE)
    _, reply = send_frame_text(world, ALICE, device.command_text("BAL 1234"))
    assert device.open_reply(reply).kind is Kind.TEXT  # its keys are cached now
    with world.engine.begin() as conn:
        revoke_device_txn(conn, device.device_id, "staff:test", world.now_ns)
    row_id, reply = send_frame_text(world, ALICE, device.command_text(f"SEND {BOB} 100 1234"))
    assert inbox_row(world, row_id).error == "app:RevokedDevice"
    assert "1234" not in reply and not reply.startswith("#A1")
    assert world.balance(BOB) == 0


def test_a_counter_too_far_ahead_has_its_own_reason(world) -> None:
    device = enrol(world, ALICE)
    device.counter_out += 10_001  # [app] counter_max_ahead is 10,000
    row_id, reply = send_frame_text(world, ALICE, device.command_text("BAL 1234"))
    opened = device.open_reply(reply)
    assert opened.kind is Kind.ERROR and opened.body.decode() == ErrorCode.AHEAD == "counter_ahead"
    assert inbox_row(world, row_id).error == "app:CounterAhead"
