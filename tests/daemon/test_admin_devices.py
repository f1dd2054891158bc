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


def _outbox(engine) -> list:
    from sqlalchemy import select

    from daemon.schema import outbox

    with engine.begin() as conn:
        return conn.execute(select(outbox).order_by(outbox.c.id)).all()


def test_revoking_tells_the_subscriber_by_sms_in_their_language(cli, engine) -> None:
    from daemon.subscribers import create_subscriber_txn
    from tests.daemon.money_world import HASHER

    with engine.begin() as conn:
        create_subscriber_txn(conn, ALICE, pin="1234", hasher=HASHER, currency="KES",
                              now_ns=10**18, language="sw")  # fmt: skip
    device_id = _device(engine)
    revoked = cli("device", "revoke", device_id, "--actor", "ops")
    assert revoked.exit_code == 0, revoked.output
    assert "the subscriber is told by SMS" in revoked.output
    (sms,) = _outbox(engine)
    assert sms.destination_addr == ALICE and sms.status == "queued"
    assert device_id in sms.text and "kimefutwa" in sms.text  # Kiswahili: her language
    assert "huduma" in sms.text


def test_the_revocation_sms_names_the_device_and_time_and_fits_one_sms() -> None:
    from daemon import replies
    from smscore.text import gsm7_septet_length

    for language in ("en", "sw"):
        template = replies.template(language, "device_revoked_notice")
        assert replies.template_fields(template) == {"service", "device", "when"}
        text = replies.render(language, "device_revoked_notice", service="smscore",
                              device="0123456789abcdef", when="30/12/26 23:59")  # fmt: skip
        assert gsm7_septet_length(text) <= 160, (language, len(text), text)
