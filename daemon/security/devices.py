"""Enrolled devices (table `devices`): their public keys, state and counters. Several per number,
each revocable. The server's own key is in daemon.security.app_key, never here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from daemon.audit import SecurityEvent, record_security_event_txn
from daemon.channels.events import bump_epoch_txn, ensure_channel_txn
from daemon.channels.notices import NoticeTopic, notify_key_txn
from daemon.schema import devices
from daemon.security.channel import (
    DEVICE_ID_BYTES,
    CounterState,
    Replayed,
    RevokedDevice,
    UnknownDevice,
    device_id_text,
)

_CAS_ATTEMPTS = 8  # another TranProc accepting counters of the same device at the same moment


class DeviceState(StrEnum):
    PENDING = "pending"  # waiting for the OTP that confirms a further device
    ACTIVE = "active"
    REVOKED = "revoked"


class DeviceError(Exception):
    """A staff request on devices that cannot be done (one line)."""


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str  # 16 hex digits: the 8 octets in every frame's header
    msisdn: str
    label: str
    channel_public_key: bytes
    signing_public_key: bytes | None
    state: str
    counter_in: int
    counter_seen: int
    counter_out: int
    created_at_ns: int
    enrolled_at_ns: int | None
    revoked_at_ns: int | None

    @property
    def counters(self) -> CounterState:
        return CounterState(self.counter_in, self.counter_seen)


_COLUMNS = [devices.c[name] for name in Device.__dataclass_fields__]


def get_device_txn(conn: Connection, device_id: str) -> Device | None:
    row = conn.execute(select(*_COLUMNS).where(devices.c.device_id == device_id)).one_or_none()
    return Device(*row) if row is not None else None


def usable_device_txn(conn: Connection, device_id: str, msisdn: str) -> Device:
    """The device a frame names, if it is the sender's and active; UnknownDevice, RevokedDevice."""
    found = get_device_txn(conn, device_id)
    if found is None or found.msisdn != msisdn:
        raise UnknownDevice("no such device for this number")
    if found.state != DeviceState.ACTIVE:
        raise RevokedDevice(f"device is {found.state}")
    return found


def list_devices_txn(conn: Connection, msisdn: str) -> list[Device]:
    query = select(*_COLUMNS).where(devices.c.msisdn == msisdn).order_by(devices.c.id)
    return [Device(*row) for row in conn.execute(query)]


def has_active_device_txn(conn: Connection, msisdn: str) -> bool:
    query = select(devices.c.id).where(
        devices.c.msisdn == msisdn, devices.c.state == DeviceState.ACTIVE
    )
    return conn.execute(query.limit(1)).first() is not None


def create_device_txn(
    conn: Connection,
    msisdn: str,
    channel_public_key: bytes,
    signing_public_key: bytes | None,
    state: DeviceState,
    now_ns: int,
) -> Device:
    device_id = device_id_text(secrets.token_bytes(DEVICE_ID_BYTES))
    conn.execute(
        insert(devices).values(
            device_id=device_id,
            msisdn=msisdn,
            label="",
            channel_public_key=channel_public_key,
            signing_public_key=signing_public_key,
            state=state,
            counter_in=0,
            counter_seen=0,
            counter_out=0,
            created_at_ns=now_ns,
            enrolled_at_ns=now_ns if state is DeviceState.ACTIVE else None,
        )
    )
    if state is DeviceState.ACTIVE:
        _audit_enrol(conn, msisdn, device_id, now_ns)
    found = get_device_txn(conn, device_id)
    assert found is not None
    return found


def pending_device_txn(conn: Connection, msisdn: str, channel_public_key: bytes) -> Device | None:
    query = select(*_COLUMNS).where(
        devices.c.msisdn == msisdn,
        devices.c.channel_public_key == channel_public_key,
        devices.c.state == DeviceState.PENDING,
    )
    row = conn.execute(query.order_by(devices.c.id.desc()).limit(1)).first()
    return Device(*row) if row is not None else None


def activate_device_txn(conn: Connection, device: Device, now_ns: int) -> Device:
    conn.execute(
        update(devices)
        .where(devices.c.device_id == device.device_id, devices.c.state == DeviceState.PENDING)
        .values(state=DeviceState.ACTIVE, enrolled_at_ns=now_ns)
    )
    _audit_enrol(conn, device.msisdn, device.device_id, now_ns)
    found = get_device_txn(conn, device.device_id)
    assert found is not None
    return found


def _audit_enrol(conn: Connection, msisdn: str, device_id: str, now_ns: int) -> None:
    record_security_event_txn(
        conn, f"sms:{msisdn}", SecurityEvent.DEVICE_ENROL, msisdn, f"device {device_id}", now_ns
    )
    ensure_channel_txn(conn, msisdn, now_ns)  # an active device reads its subscriber's channel
    notify_key_txn(
        conn, msisdn, NoticeTopic.SECURITY, "notice_device_enrolled", now_ns, device=device_id
    )


def accept_counter_txn(
    conn: Connection, device: Device, counter: int, window: int, max_ahead: int
) -> None:
    """Record `counter` as accepted, exactly once: the UPDATE is guarded by the state it was
    computed from, so two TranProcs cannot both accept one counter (the loser re-reads: Replayed,
    or accepts on the new state a different counter). Replayed, StaleCounter."""
    state = device.counters
    for _ in range(_CAS_ATTEMPTS):
        new = state.accept(counter, window, max_ahead)
        result = conn.execute(
            update(devices)
            .where(
                devices.c.device_id == device.device_id,
                devices.c.counter_in == state.highest,
                devices.c.counter_seen == state.seen,
            )
            .values(counter_in=new.highest, counter_seen=new.seen)
        )
        if result.rowcount == 1:
            return
        current = get_device_txn(conn, device.device_id)
        assert current is not None
        state = current.counters
    raise Replayed("the device's counters kept changing under us")


def next_counter_out_txn(conn: Connection, device_id: str) -> int:
    """A counter for a frame to the device, never given twice (the row is locked until commit)."""
    conn.execute(
        update(devices)
        .where(devices.c.device_id == device_id)
        .values(counter_out=devices.c.counter_out + 1)
    )
    found = get_device_txn(conn, device_id)
    assert found is not None
    return found.counter_out


def revoke_device_txn(conn: Connection, device_id: str, actor: str, now_ns: int) -> Device:
    found = get_device_txn(conn, device_id)
    if found is None:
        raise DeviceError(f"no device {device_id}")
    if found.state == DeviceState.REVOKED:
        raise DeviceError(f"device {device_id} is already revoked")
    conn.execute(
        update(devices)
        .where(devices.c.device_id == device_id)
        .values(state=DeviceState.REVOKED, revoked_at_ns=now_ns)
    )
    record_security_event_txn(
        conn, actor, SecurityEvent.DEVICE_REVOKE, found.msisdn, f"device {device_id}", now_ns
    )
    # New events are sealed under a new epoch's key, which only a device still active can get
    # (daemon.channels.grant); the notice is the first of them.
    bump_epoch_txn(conn, found.msisdn)
    notify_key_txn(
        conn, found.msisdn, NoticeTopic.SECURITY, "notice_device_revoked", now_ns, device=device_id
    )
    revoked = get_device_txn(conn, device_id)
    assert revoked is not None
    return revoked
