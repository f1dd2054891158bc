"""`smscore run --check` checks everything `smscore run` would stop on, and `run` stops on each of
them the same way: one line naming the file, the key and the problem, exit code 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli import main
from tests.e2e.harness import to_toml

SMSCORE = Path(sys.executable).with_name("smscore")
BIND = {"name": "a", "host": "127.0.0.1", "system_id": "x", "password": "pw"}


def write_config(tmp_path: Path, **sections) -> Path:
    settings = {"service": {"state_dir": str(tmp_path / "state")}, "binds": [BIND]}
    for name, values in sections.items():
        settings[name] = (
            values if isinstance(values, list) else {**settings.get(name, {}), **values}
        )
    path = tmp_path / "smscore.toml"
    path.write_text(to_toml(settings))
    return path


def bad_pepper(tmp_path: Path) -> dict:
    pepper = tmp_path / "pepper"
    pepper.write_text("not hex at all\n")
    pepper.chmod(0o600)
    return {"security": {"pin_pepper_file": str(pepper)}}


def regular_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("")
    return path


def bad_app_key(tmp_path: Path) -> dict:
    key = tmp_path / "app_key"
    key.write_text("not a key\n")
    key.chmod(0o600)
    return {"app": {"key_file": str(key)}}


CASES = {
    "app key file not a key": (bad_app_key, "app.key_file: "),
    "receipt key directory under /proc": (
        lambda t: {"receipts": {"key_dir": "/proc/smscore-check/receipt-keys"}},
        "receipts.key_dir: cannot create",
    ),
    "tls CA file missing": (
        lambda t: {"binds": [{**BIND, "tls": True, "tls_ca_file": str(t / "missing.pem")}]},
        "binds.0.tls_ca_file: cannot read",
    ),
    "tls CA file not a certificate": (
        lambda t: {"binds": [{**BIND, "tls": True, "tls_ca_file": str(regular_file(t))}]},
        "binds.0.tls_ca_file: ",
    ),
    "pepper not hex": (bad_pepper, "security.pin_pepper_file: "),
    "state dir under /proc": (
        lambda t: {"service": {"state_dir": "/proc/smscore-check/state"}},
        "service.state_dir: cannot create",
    ),
    "state dir below a regular file": (
        lambda t: {"service": {"state_dir": str(regular_file(t) / "state")}},
        "service.state_dir: cannot create",
    ),
    "sqlite path below a regular file": (
        lambda t: {"database": {"url": f"sqlite:///{regular_file(t)}/smscore.db"}},
        "database.url: cannot create",
    ),
    "status port out of range": (
        lambda t: {"status": {"listen": "127.0.0.1:99999"}},
        "status.listen: the port must be",
    ),
    "bool as a string": (
        lambda t: {"sender": {"request_receipts": "yes"}},
        "sender.request_receipts: Input should be a valid boolean",
    ),
    "USSD bind with no address for its SMS": (
        lambda t: {"binds": [{**BIND, "ussd_dialect": "smpp34"}]},
        "sender.source_addr: bind a carries USSD",
    ),
    "ussd on a receiver bind": (
        lambda t: {
            "binds": [{**BIND, "bind_type": "receiver", "ussd_dialect": "smpp34", "serves": ["1"]}]
        },
        "binds.0.ussd_dialect: bind a is a receiver",
    ),
    "bind without a password": (
        lambda t: {"binds": [{**{k: v for k, v in BIND.items() if k != "password"}}]},
        "binds.0.password: empty",
    ),
}


@pytest.fixture
def no_reactor(monkeypatch):
    """`run` must stop before the daemon starts; reaching the reactor fails the test."""

    def reached(*args, **kwargs):
        raise AssertionError("smscore run started the daemon")

    monkeypatch.setattr("daemon.runner.run_forever", reached)


@pytest.mark.parametrize("extra", [["--check"], []], ids=["check", "run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_one_line_with_file_key_and_exit_2(tmp_path, no_reactor, case, extra):
    sections, expected = CASES[case]
    path = write_config(tmp_path, **sections(tmp_path))
    result = CliRunner().invoke(main, ["run", "--config", str(path), *extra])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"smscore: {path}: {expected}"), line
    assert "Traceback" not in result.output and "not hex at all" not in result.output


def test_the_real_command_stops_in_one_line_too(tmp_path):
    path = write_config(tmp_path, **bad_pepper(tmp_path))
    result = subprocess.run(
        [str(SMSCORE), "run", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == f"smscore: {path}: security.pin_pepper_file: {tmp_path / 'pepper'}: the PIN pepper is not hex\n"
    )


def test_a_config_without_binds_is_allowed_with_a_warning(tmp_path):
    path = write_config(tmp_path, binds=[])
    result = CliRunner().invoke(main, ["run", "--config", str(path), "--check"])
    assert result.exit_code == 0
    assert f"smscore: warning: {path}: binds: none configured" in result.output
    assert "config OK: role all, 0 bind(s)" in result.output


def test_check_creates_nothing(tmp_path):
    path = write_config(tmp_path)
    assert CliRunner().invoke(main, ["run", "--config", str(path), "--check"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smscore.toml"]


def test_check_hides_the_database_password(tmp_path):
    path = write_config(tmp_path, database={"url": "postgresql://smscore:hunter2@127.0.0.1:5432/x"})
    result = CliRunner().invoke(main, ["run", "--config", str(path), "--check"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "smscore:***@127.0.0.1" in result.output
