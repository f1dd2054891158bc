"""The security figures of `smscore status` (daemon.status_security): app messages refused by
reason, PIN and OTP lockouts since the start, fraud holds waiting; read from the database."""

from daemon import status_security
from daemon.security import channel
from daemon.security.channel import Kind
from daemon.status import Snapshot
from daemon.status_security import SecurityCounts, reason_name
from daemon.status_table import format_status
from tests.daemon.app_world import app_world, enrol, send_frame_text
from tests.daemon.fraud_world import swap_sim

ALICE, BOB = "254712000001", "254712000002"
KES = 100


def _read(world, counts: SecurityCounts) -> dict[str, int]:
    with world.engine.begin() as conn:
        return counts.read_txn(conn)


def test_reason_names() -> None:
    assert reason_name("app:StaleCounter") == "stale_counter"
    assert reason_name("app:WrongKey") == "wrong_key"
    assert reason_name("app:Tampered") == "tampered"


def test_refusals_lockouts_and_holds_are_counted_from_the_start(engine, tmp_path) -> None:
    world = app_world(engine, tmp_path)
    world.add(ALICE, balance_minor=10_000 * KES)
    world.add(BOB)
    device = enrol(world, ALICE)
    frame = device.command_text("BAL 1234")
    send_frame_text(world, ALICE, frame)
    send_frame_text(world, ALICE, frame)  # before the start: not counted
    counts = SecurityCounts()
    with world.engine.begin() as conn:
        counts.start_txn(conn)
    assert _read(world, counts) == {"pin_lockouts": 0, "otp_lockouts": 0, "fraud_holds_waiting": 0}
    send_frame_text(world, ALICE, frame)  # replayed
    tampered = bytearray(device.seal(Kind.TEXT, b"BAL 1234"))
    tampered[-2] ^= 1
    send_frame_text(world, ALICE, channel.to_text(bytes(tampered)))
    send_frame_text(world, BOB, device.command_text("BAL 1234"))  # not Bob's device
    for _ in range(world.config.security.pin_max_failures):
        world.sms(BOB, "BAL 9999")
    swap_sim(world, ALICE)
    assert "held" in world.sms(ALICE, "SEND 0712000002 5000 1234")
    figures = _read(world, counts)
    assert figures == {
        "app_refused.replayed": 1,
        "app_refused.tampered": 1,
        "app_refused.unknown_device": 1,
        "pin_lockouts": 1,
        "otp_lockouts": 0,
        "fraud_holds_waiting": 1,
    }
    assert _read(world, counts) == figures  # read again: nothing counted twice


def test_a_message_still_waiting_is_counted_once_it_is_answered(engine, tmp_path) -> None:
    world = app_world(engine, tmp_path)
    world.add(ALICE)
    device = enrol(world, ALICE)
    counts = SecurityCounts()
    with world.engine.begin() as conn:
        counts.start_txn(conn)
    frame = device.command_text("BAL 1234")
    send_frame_text(world, ALICE, frame)
    world.mo(ALICE, frame)  # the replay, not yet run by the TranProc
    assert "app_refused.replayed" not in _read(world, counts)
    world.run_tranproc()
    assert _read(world, counts)["app_refused.replayed"] == 1


def test_one_reading_reads_a_bounded_step(engine, tmp_path, monkeypatch) -> None:
    world = app_world(engine, tmp_path)
    world.add(ALICE)
    device = enrol(world, ALICE)
    counts = SecurityCounts()
    with world.engine.begin() as conn:
        counts.start_txn(conn)
    frame = device.command_text("BAL 1234")
    for _ in range(4):
        send_frame_text(world, ALICE, frame)  # one answered, three replays
    monkeypatch.setattr(status_security, "STEP_ROWS", 2)
    assert _read(world, counts)["app_refused.replayed"] == 1  # rows 1-2 of the four
    assert _read(world, counts)["app_refused.replayed"] == 3  # the rest, at the next reading


def test_status_shows_the_security_line() -> None:
    snapshot = Snapshot("all", "127.0.0.1:8780", 0.0, 10.0, [], {}, security={
        "app_refused.tampered": 2, "fraud_holds_waiting": 1, "otp_lockouts": 0,
    })  # fmt: skip
    data = snapshot.as_json({})
    assert data["security"]["app_refused.tampered"] == 2
    text = format_status(data)
    rows = [line.split() for line in text.splitlines()]
    assert [
        row
        for row in rows
        if row[:1] in (["app_refused.tampered"], ["fraud_holds_waiting"], ["otp_lockouts"])
    ] == [["app_refused.tampered", "2"], ["fraud_holds_waiting", "1"], ["otp_lockouts", "0"]]
