"""`smscore bench e2e --encrypted`: the same open-loop BAL load, but every simulated subscriber is an
enrolled app device (daemon.device.state) and every MO is its encrypted `BAL <PIN>` frame in the
`#A1` text form; each reply is opened by the device, and a reply that does not open counts against
exactly-once.

The devices are seeded straight into the daemon's database before it starts (rows as
daemon.security.devices.create_device_txn writes them: active, counters 0; without its audit
event, as the bench seeds subscribers without theirs), and the server's app key file is made in the
state dir beforehand (daemon.security.app_key) so both sides share keys. Every frame is sealed
before the load starts, so the load generator spends no time sealing while it measures; replies
are opened as they arrive (each device's session keys agreed once).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.device.state import DeviceState
from daemon.security.channel import ChannelError, SessionKeys

if TYPE_CHECKING:
    from simulators.store import HandsetMessage

SEED_CHUNK = 1000


class BenchDevice(DeviceState):
    """A reference device whose session keys are agreed once (DeviceState agrees them per frame,
    which would make the load generator, not the daemon, the bottleneck)."""

    _cached: SessionKeys | None = None

    def keys(self) -> SessionKeys:
        if self._cached is None:
            self._cached = super().keys()
        return self._cached


def seed_devices(config_path: Path, msisdns: list[str]) -> dict[str, BenchDevice]:
    """One active device per number, enrolled with the server's key (made now if missing)."""
    from sqlalchemy import insert

    from daemon.config import load_config
    from daemon.schema import devices as devices_table
    from daemon.security.app_key import server_key
    from daemon.security.channel import DEVICE_ID_BYTES, device_id_text
    from daemon.security.devices import DeviceState as Stored
    from daemon.service import open_database

    config = load_config(config_path)
    server_public = server_key(config).public_bytes
    database = open_database(config, reactor=None)
    now_ns = time.time_ns()
    made: dict[str, BenchDevice] = {}
    for msisdn in msisdns:
        fresh = DeviceState.new(msisdn)
        device = BenchDevice(fresh.channel_key, fresh.signing_key, msisdn)
        device.device_id = device_id_text(secrets.token_bytes(DEVICE_ID_BYTES))
        device.server_public = server_public
        made[msisdn] = device

    def row(device: BenchDevice) -> dict[str, Any]:
        return {
            "device_id": device.device_id, "msisdn": device.msisdn, "label": "",
            "channel_public_key": device.channel_key.public_key().public_bytes_raw(),
            "signing_public_key": device.signing_key.public_key().public_bytes_raw(),
            "state": Stored.ACTIVE.value, "counter_in": 0, "counter_seen": 0, "counter_out": 0,
            "created_at_ns": now_ns, "enrolled_at_ns": now_ns,
        }  # fmt: skip

    def seed_txn(conn: Any, chunk: list[BenchDevice]) -> None:
        conn.execute(insert(devices_table), [row(device) for device in chunk])

    everyone = list(made.values())
    for start in range(0, len(everyone), SEED_CHUNK):
        database.run_sync("bench.devices", seed_txn, everyone[start : start + SEED_CHUNK])
    database.engine.dispose()
    return made


def seal_all(devices: dict[str, BenchDevice], msisdns: list[str], command: str) -> list[str]:
    """MO i's text: its sender's next encrypted frame of `command`, in the order they will be sent."""
    return [devices[msisdn].command_text(command) for msisdn in msisdns]


class ReplyOpener:
    """Opens each reply on its device; counts those that do not open (wrong key, tampered, a
    replayed counter, or plain text where an encrypted reply was due)."""

    def __init__(self, devices: dict[str, BenchDevice], expected_part: str) -> None:
        self.devices = devices
        self.expected_part = expected_part
        self.opened = 0
        self.not_opened = 0
        self.unexpected_text = 0

    def open(self, message: HandsetMessage) -> None:
        device = self.devices.get(message.msisdn)
        try:
            if device is None:
                raise ChannelError("no device for this number")
            text = device.open_reply(message.text).text
        except (ChannelError, ValueError):
            self.not_opened += 1
            return
        self.opened += 1
        if self.expected_part not in text:
            self.unexpected_text += 1

    def result(self) -> dict[str, Any]:
        return {
            "replies_opened": self.opened,
            "replies_not_opened": self.not_opened,
            "replies_opened_but_not_a_balance": self.unexpected_text,
            "replies_all_open": self.not_opened == 0 and self.unexpected_text == 0,
        }
