"""`smscore admin device list|revoke` through click's runner on a real database."""

from __future__ import annotations

import pytest

from daemon.security.devices import DeviceState, create_device_txn, get_device_txn
from tests.daemon.test_admin_cli import AdminRunner, audit_rows

ALICE = "254712000001"


@pytest.fixture
def cli(engine, tmp_path) -> AdminRunner:
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    return AdminRunner(
        ["--db", engine.url.render_as_string(hide_password=False), "--config", str(config)]
    )


def _device(engine) -> str:
    with engine.begin() as conn:
        made = create_device_txn(conn, ALICE, b"k" * 32, b"s" * 32, DeviceState.ACTIVE, 10**18)
    return made.device_id


def test_list_then_revoke_is_audited_and_refused_twice(cli, engine) -> None:
    device_id = _device(engine)
    listed = cli("device", "list", "0712 000 001")
    assert listed.exit_code == 0 and device_id in listed.output and "active" in listed.output
    revoked = cli("device", "revoke", device_id, "--actor", "ops")
    assert revoked.exit_code == 0, revoked.output
    with engine.begin() as conn:
        assert get_device_txn(conn, device_id).state == DeviceState.REVOKED
    entries = [(row["actor"], row["action"]) for row in audit_rows(engine)]
    assert ("ops", "device.revoke") in entries
    again = cli("device", "revoke", device_id, "--actor", "ops")
    assert again.exit_code != 0 and "already revoked" in again.output


def test_unknown_device_and_no_devices(cli, engine) -> None:
    assert "no devices" in cli("device", "list", "0712 000 009").output
    unknown = cli("device", "revoke", "00000000deadbeef", "--actor", "ops")
    assert unknown.exit_code != 0 and "no device" in unknown.output
