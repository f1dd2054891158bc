"""The reference device's file (daemon.device.state): private, round-trips, refuses bad files."""

import pytest

from daemon.device.state import DeviceFileError, DeviceState, NotEnrolled, load, save


def test_round_trip_keeps_keys_and_counters_and_is_owner_only(tmp_path) -> None:
    state = DeviceState.new("254712000001")
    state.device_id, state.server_public, state.counter_out = "0123456789abcdef", b"k" * 32, 5
    path = tmp_path / "device.json"
    save(state, path)
    assert path.stat().st_mode & 0o077 == 0
    again = load(path)
    assert again.to_json() == state.to_json()
    assert "channel_key" not in repr(again) and again.public_keys_b64() == state.public_keys_b64()


def test_bad_files_are_one_line_errors(tmp_path) -> None:
    path = tmp_path / "device.json"
    with pytest.raises(DeviceFileError, match="no device file"):
        load(path)
    path.write_text("{}")
    path.chmod(0o600)
    with pytest.raises(DeviceFileError, match="malformed"):
        load(path)
    save(DeviceState.new(), path)
    path.chmod(0o644)
    with pytest.raises(DeviceFileError, match="owner only"):
        load(path)


def test_a_device_that_is_not_enrolled_cannot_send() -> None:
    with pytest.raises(NotEnrolled):
        DeviceState.new().command_text("BAL 1234")


def test_init_reads_the_phone_as_people_write_it(tmp_path):
    from click.testing import CliRunner

    from daemon.device.cli import device
    from daemon.device.state import load

    path = tmp_path / "alice.json"
    made = CliRunner().invoke(device, ["init", "--phone", "0712 000 001", "--file", str(path)])
    assert made.exit_code == 0, made.output
    assert load(path).msisdn == "254712000001"  # as the SMSC gives it, so replies are found
    bad = CliRunner().invoke(device, ["init", "--phone", "12", "--file", str(tmp_path / "b.json")])
    assert bad.exit_code != 0 and "not a phone number of KE" in bad.output
