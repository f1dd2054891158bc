"""The server side of the app channel through the TranProc: enrolment, encrypted commands run as the
plain-text path runs them, encrypted replies, and every refusal answered."""

import pytest
from sqlalchemy import select

from daemon.device.state import DeviceState
from daemon.schema import audit_log, devices
from daemon.security import channel
from daemon.security.channel import ErrorCode, Kind
from daemon.security.devices import revoke_device_txn
from tests.daemon.app_world import app_world, enrol, inbox_row, send_binary, send_frame_text

ALICE, BOB = "254712000001", "254712000002"
KES = 100


@pytest.fixture
def world(engine, tmp_path):
    world = app_world(engine, tmp_path)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    return world


def _error(device: DeviceState, reply: str) -> str:
    opened = device.open_reply(reply)
    assert opened.kind is Kind.ERROR
    return opened.body.decode()


def test_enrolment_then_an_encrypted_command_runs_and_the_reply_is_encrypted(world) -> None:
    device = enrol(world, ALICE)
    row_id, reply = send_frame_text(world, ALICE, device.command_text("BAL 1234"))
    assert channel.is_text_frame(reply) and "1,000" not in reply
    opened = device.open_reply(reply)
    assert opened.kind is Kind.TEXT and "1,000.00" in opened.text
    assert "1234" not in inbox_row(world, row_id).text  # the stored form has the PIN masked
    with world.engine.begin() as conn:
        actions = [row.action for row in conn.execute(select(audit_log))]
    assert "device.enrol" in actions


def test_an_encrypted_send_moves_money_like_the_plain_one(world) -> None:
    device = enrol(world, ALICE)
    _, reply = send_frame_text(world, ALICE, device.command_text(f"SEND {BOB} 100 1234"))
    assert "Confirmed" in device.open_reply(reply).text
    world.receipts()
    assert world.balance(BOB) == 100 * KES
    world.check()


def test_a_wrong_pin_inside_an_app_message_is_refused_encrypted(world) -> None:
    device = enrol(world, ALICE)
    _, reply = send_frame_text(world, ALICE, device.command_text("BAL 9999"))
    assert "wrong" in device.open_reply(reply).text.lower()


def test_binary_8bit_app_messages_over_several_parts(world) -> None:
    device = enrol(world, ALICE)
    parts = device.command_parts("HELP SEND " + "x" * 200)  # long: three 8-bit parts
    assert len(parts) > 1
    _, reply = send_binary(world, ALICE, parts)
    assert device.open_reply(reply).kind is Kind.TEXT


def test_replayed_counter_is_refused_and_runs_nothing(world) -> None:
    device = enrol(world, ALICE)
    frame = device.command_text(f"SEND {BOB} 100 1234")
    send_frame_text(world, ALICE, frame)
    _, again = send_frame_text(world, ALICE, frame)
    assert _error(device, again) == ErrorCode.REPLAYED
    world.receipts()
    assert world.balance(BOB) == 100 * KES  # once
    world.check()


def test_out_of_order_within_the_window_is_accepted_stale_is_not(world) -> None:
    device = enrol(world, ALICE)
    first, second = device.command_text("BAL 1234"), device.command_text("BAL 1234")
    assert device.open_reply(send_frame_text(world, ALICE, second)[1]).kind is Kind.TEXT
    assert device.open_reply(send_frame_text(world, ALICE, first)[1]).kind is Kind.TEXT
    old = device.command_text("BAL 1234")
    device.counter_out += 40  # the window is 32
    send_frame_text(world, ALICE, device.command_text("BAL 1234"))
    assert _error(device, send_frame_text(world, ALICE, old)[1]) == ErrorCode.STALE


def test_tampered_ciphertext_gets_an_encrypted_error(world) -> None:
    device = enrol(world, ALICE)
    frame = bytearray(device.seal(Kind.TEXT, b"BAL 1234"))
    frame[-3] ^= 0x10
    row_id, reply = send_frame_text(world, ALICE, channel.to_text(bytes(frame)))
    assert _error(device, reply) == ErrorCode.TAMPERED
    assert inbox_row(world, row_id).error == "app:Tampered"


def test_wrong_key_gets_an_error_only_the_real_device_reads(world) -> None:
    device = enrol(world, ALICE)
    impostor = DeviceState.new(ALICE)
    impostor.device_id, impostor.server_public = device.device_id, device.server_public
    row_id, reply = send_frame_text(world, ALICE, impostor.command_text("BAL 1234"))
    assert inbox_row(world, row_id).error == "app:WrongKey"
    assert _error(device, reply) == ErrorCode.TAMPERED
    with pytest.raises(channel.ChannelError):
        impostor.open_reply(reply)


def test_unknown_device_gets_a_plain_answer(world) -> None:
    device = enrol(world, ALICE)
    row_id, reply = send_frame_text(world, BOB, device.command_text("BAL 1234"))  # not Bob's
    assert inbox_row(world, row_id).error == "app:UnknownDevice"
    assert "could not be read" in reply


def test_malformed_frame_gets_a_plain_answer(world) -> None:
    row_id, reply = send_frame_text(world, ALICE, "#A1 not base64 at all!")
    assert inbox_row(world, row_id).error == "app:Malformed"
    assert "could not be read" in reply


def test_revoked_device_is_refused(world) -> None:
    device = enrol(world, ALICE)
    with world.engine.begin() as conn:
        revoke_device_txn(conn, device.device_id, "staff:test", world.now_ns)
    row_id, reply = send_frame_text(world, ALICE, device.command_text("BAL 1234"))
    assert inbox_row(world, row_id).error == "app:RevokedDevice"
    assert "no longer enrolled" in reply


def test_a_second_device_needs_the_code_sent_by_sms(world) -> None:
    enrol(world, ALICE)
    second = DeviceState.new(ALICE)
    asked = world.sms(ALICE, second.enrol_text("1234"))
    assert not second.accept_enrolment(asked)
    code = asked.split("code ")[1].split()[0]
    assert "Tries left: " in world.sms(
        ALICE, second.enrol_text("1234", "000000" if code != "000000" else "111111")
    )
    assert second.accept_enrolment(world.sms(ALICE, second.enrol_text("1234", code)))
    assert second.open_reply(send_frame_text(world, ALICE, second.command_text("BAL 1234"))[1])
    with world.engine.begin() as conn:
        states = [
            row.state for row in conn.execute(select(devices).where(devices.c.msisdn == ALICE))
        ]
    assert states == ["active", "active"]


def test_enrolment_needs_the_pin(world) -> None:
    device = DeviceState.new(ALICE)
    reply = world.sms(ALICE, device.enrol_text("9999"))
    assert not device.accept_enrolment(reply) and "wrong" in reply.lower()


def test_the_plain_text_limit_does_not_apply_to_the_app_channel(engine, tmp_path) -> None:
    world = app_world(engine, tmp_path)
    world.add(ALICE, balance_minor=5_000 * KES)
    world.add(BOB)
    device = enrol(world, ALICE)
    # Over [fraud] plain_text_max_minor (KES 1,000): encrypted it goes through...
    _, reply = send_frame_text(world, ALICE, device.command_text(f"SEND {BOB} 1500 1234"))
    assert "Confirmed" in device.open_reply(reply).text
    # ...while the same in plain text, which anyone can spoof, waits for a security check.
    assert "security check" in world.sms(ALICE, f"SEND {BOB} 1600 1234")
    world.receipts()
    assert world.balance(BOB) == 1_500 * KES
    world.check()
