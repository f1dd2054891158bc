"""Notices on the channels: security (a device enrolled or revoked, the PIN locked, a payment held
after a SIM change), a limit refusal, and `smscore admin notice` (one event per channel, in
batches, audited); their texts come from the catalogue in the subscriber's language and fit an SMS."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon import replies
from daemon.schema import audit_log
from daemon.schema_api import channel_events
from daemon.security.devices import revoke_device_txn
from smscore.text import gsm7_septet_length
from tests.api.channels import ALICE, BOB, CAROL, KES, ChannelWorld, opened
from tests.daemon.catalogue_keys import keys_in
from tests.daemon.fraud_world import swap_sim
from tests.daemon.test_admin_cli import AdminRunner


@pytest.fixture
def world(engine, tmp_path):
    world = ChannelWorld(engine, tmp_path)
    world.add(ALICE, balance_minor=30_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku", language="sw")
    yield world
    world.close()
    world.check()


def _notices(world, device) -> list[dict]:
    grant = world.token(device)
    return [e for e in opened(device, grant, world.events(grant["token"])) if e["type"] == "notice"]


def test_enrolling_a_device_is_a_security_notice_in_the_subscribers_language(world):
    device = world.enrol(BOB)
    [notice] = _notices(world, device)
    assert notice["topic"] == "security"
    assert notice["text"] == replies.render("sw", "notice_device_enrolled", device=device.device_id)


def test_a_second_device_and_a_revocation_are_told_to_the_devices_left(world):
    first = world.enrol(ALICE)
    second = world.enrol(ALICE)
    with world.engine.begin() as conn:
        revoke_device_txn(conn, second.device_id, "staff:test", world.now_ns)
    texts = [n["text"] for n in _notices(world, first)]
    assert texts == [
        replies.render("en", "notice_device_enrolled", device=first.device_id),
        replies.render("en", "notice_device_enrolled", device=second.device_id),
        replies.render("en", "notice_device_revoked", device=second.device_id),
    ]


def test_a_pin_locked_by_wrong_tries_is_a_security_notice(world):
    device = world.enrol(ALICE)
    for _ in range(world.config.security.pin_max_failures):
        world.sms(ALICE, "BAL 9999")
    [_, locked] = _notices(world, device)
    assert locked["topic"] == "security"
    assert locked["text"] == replies.render("en", "notice_pin_locked", tries=3, minutes=15)


def test_a_limit_refusal_is_a_limit_notice_with_the_refusal(world):
    device = world.enrol(ALICE)
    reply = world.sms(ALICE, "SEND 0712000002 25000 1234")  # over the tier's 20,000 at once
    [_, refused] = _notices(world, device)
    assert refused["topic"] == "limit" and refused["text"] == reply
    assert "limit per transaction" in reply


def test_a_payment_held_after_a_sim_swap_is_a_security_notice(world):
    device = world.enrol(ALICE)
    swap_sim(world, ALICE, hours_ago=1)
    reply = world.sms(ALICE, "SEND 0712000002 2000 1234")  # over the rule's 1,000
    assert "is held for a security check" in reply
    [_, held] = _notices(world, device)
    assert held["topic"] == "security" and "SIM was changed" in held["text"]


def test_admin_notice_reaches_every_channel_in_batches_and_is_audited(world, tmp_path):
    alice, bob = world.enrol(ALICE), world.enrol(BOB)
    world.add(CAROL)  # no device, no channel: nothing for her
    config = tmp_path / "smscore.toml"
    config.write_text(
        f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n'
        f'[channels]\nevent_key_file = "{tmp_path / "channel_event_key"}"\n'
    )
    cli = AdminRunner(
        ["--db", world.engine.url.render_as_string(hide_password=False), "--config", str(config)]
    )
    done = cli("notice", "Maintenance  tonight 22:00-23:00.", "--batch", "1", "--actor", "ops")
    assert done.exit_code == 0, done.output
    assert "2 channel(s)" in done.output
    for device in (alice, bob):
        last = _notices(world, device)[-1]
        assert (last["topic"], last["text"]) == ("global", "Maintenance tonight 22:00-23:00.")
    with world.engine.begin() as conn:
        [entry] = conn.execute(select(audit_log).where(audit_log.c.action == "notice.global")).all()
    assert entry.actor == "ops" and "Maintenance" in entry.detail


def test_admin_notice_needs_the_daemons_event_key(world, tmp_path):
    config = tmp_path / "other.toml"
    config.write_text(f'[channels]\nevent_key_file = "{tmp_path / "missing_key"}"\n')
    cli = AdminRunner(
        ["--db", world.engine.url.render_as_string(hide_password=False), "--config", str(config)]
    )
    refused = cli("notice", "hello", "--actor", "ops")
    assert refused.exit_code == 2 and "no channel event key" in refused.output
    with world.engine.begin() as conn:
        assert conn.execute(select(channel_events.c.id)).all() == []
    assert cli("notice", "   ", "--actor", "ops").exit_code == 2


WORST = {"device": "f" * 16, "tries": 20, "minutes": 99999, "ref": "ABCDEFGHJK",
         "amount": "KES 999,999,999.99", "service": "smscore"}  # fmt: skip


def test_en_and_sw_have_the_same_notice_keys_and_fields() -> None:
    found = keys_in("channels.po")
    en = {key for language, key in found if language == "en"}
    assert en == {key for language, key in found if language == "sw"} and len(en) == 4
    for key in en:
        fields = replies.template_fields(replies.template("en", key))
        assert fields == replies.template_fields(replies.template("sw", key)), key


@pytest.mark.parametrize(("language", "key"), keys_in("channels.po"))
def test_every_notice_fits_one_sms_with_the_worst_values(language, key) -> None:
    fields = replies.template_fields(replies.template(language, key))
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert gsm7_septet_length(text) <= 160, f"{len(text)}: {text}"


def _notice_cli(world, tmp_path) -> AdminRunner:
    config = tmp_path / "smscore.toml"
    config.write_text(
        f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n'
        f'[channels]\nevent_key_file = "{tmp_path / "channel_event_key"}"\n'
    )
    return AdminRunner(
        ["--db", world.engine.url.render_as_string(hide_password=False), "--config", str(config)]
    )


def _global_count(world) -> int:
    with world.engine.begin() as conn:
        return sum(1 for _ in conn.execute(select(channel_events.c.id)))


def test_admin_notice_retries_a_deadlocked_batch_and_resumes_after_a_failure(
    world, tmp_path, monkeypatch
):
    """Review 15, finding 22: a batch that loses a deadlock is retried; one that keeps failing
    stops with the id to resume from, and --after resumes without sending a batch twice."""
    from sqlalchemy.exc import OperationalError

    from daemon.admin import notices

    world.enrol(ALICE), world.enrol(BOB)
    before = _global_count(world)
    real = notices.notice_batch_txn
    failures = {"left": 1}

    def flaky(conn, text, after_id, limit, now_ns):
        if after_id > 0 and failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(conn, text, after_id, limit, now_ns)

    monkeypatch.setattr(notices, "notice_batch_txn", flaky)
    cli = _notice_cli(world, tmp_path)
    done = cli("notice", "one", "--batch", "1", "--actor", "ops")
    assert done.exit_code == 0, done.output
    assert _global_count(world) == before + 2  # each channel once
    failures["left"] = 100
    stopped = cli("notice", "two", "--batch", "1", "--actor", "ops")
    assert stopped.exit_code == 2 and "--after" in stopped.output
    after = stopped.output.split("--after ")[1].split()[0]
    assert _global_count(world) == before + 3  # the first batch went
    failures["left"] = 0
    resumed = cli("notice", "two", "--batch", "1", "--after", after, "--actor", "ops")
    assert resumed.exit_code == 0, resumed.output
    assert _global_count(world) == before + 4  # the rest, not the first again
