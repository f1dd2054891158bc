"""Secrets through LoadCredential=: a path key may start with ${CREDENTIALS_DIRECTORY}/, expanded from
the environment systemd gives the unit; unset, `smscore run` refuses with one line naming the key."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from daemon.cli import main
from daemon.config import ConfigError, build_config
from daemon.config_base import credentials_path

CARRIER = "${CREDENTIALS_DIRECTORY}/smscore_carrier1"


def bind(**password: str) -> dict:
    return {"name": "carrier1", "host": "127.0.0.1", "system_id": "smscore", **password}


def test_a_bind_password_is_read_from_the_credentials_directory(tmp_path, monkeypatch) -> None:
    (tmp_path / "smscore_carrier1").write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    config = build_config({"binds": [bind(password_file=CARRIER)]})
    assert config.binds[0].password_file == tmp_path / "smscore_carrier1"
    assert config.binds[0].read_password().get_secret_value() == "s3cret"


def test_every_secret_file_key_takes_the_credentials_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    config = build_config(
        {
            "airtime": {"password_file": "${CREDENTIALS_DIRECTORY}/smscore_airtime"},
            "security": {"pin_pepper_file": "${CREDENTIALS_DIRECTORY}/smscore_pepper"},
            "api": {"callback_key_file": "${CREDENTIALS_DIRECTORY}/smscore_callbacks"},
            "channels": {"token_key_file": "${CREDENTIALS_DIRECTORY}/smscore_tokens"},
        }
    )
    assert config.airtime.password_file == tmp_path / "smscore_airtime"
    assert config.security.pin_pepper_file == tmp_path / "smscore_pepper"
    assert config.api.callback_key_file == tmp_path / "smscore_callbacks"
    assert config.channels.token_key_file == tmp_path / "smscore_tokens"


def test_without_credentials_directory_the_key_is_named_in_one_line(monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ConfigError) as raised:
        build_config({"binds": [bind(password_file=CARRIER)]}, "smscore.toml")
    message = str(raised.value)
    assert message.startswith("smscore.toml: binds.0.password_file: ${CREDENTIALS_DIRECTORY} ")
    assert "\n" not in message and "is not set" in message


def test_smscore_run_refuses_it_with_exit_code_2(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = tmp_path / "smscore.toml"
    path.write_text(f'[airtime]\npassword_file = "{CARRIER}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["run", "--config", str(path), "--check"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "airtime.password_file: " in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("${HOME}/carrier1", "only a leading ${CREDENTIALS_DIRECTORY}/ is expanded"),
        ("/etc/${CREDENTIALS_DIRECTORY}/x", "only a leading ${CREDENTIALS_DIRECTORY}/ is expanded"),
        (
            "${CREDENTIALS_DIRECTORY}/${USER}",
            "only a leading ${CREDENTIALS_DIRECTORY}/ is expanded",
        ),
        ("${CREDENTIALS_DIRECTORY}/", "must be followed by a credential's name"),
        ("${CREDENTIALS_DIRECTORY}/../shadow", "must be followed by a credential's name"),
        (
            "${CREDENTIALS_DIRECTORY}carrier1",
            "only a leading ${CREDENTIALS_DIRECTORY}/ is expanded",
        ),
    ],
)
def test_other_forms_are_refused(value: str, problem: str, monkeypatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/smscore.service")
    with pytest.raises(ConfigError, match=problem.replace("$", r"\$").replace("{", r"\{")):
        build_config({"binds": [bind(password_file=value)]})


def test_plain_paths_are_left_alone(monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = build_config({"binds": [bind(password_file="/etc/smscore/carrier1")]})
    assert config.binds[0].password_file == Path("/etc/smscore/carrier1")


@given(st.from_regex(r"[A-Za-z0-9_.-]{1,40}(/[A-Za-z0-9_-]{1,10})?", fullmatch=True))
def test_a_credential_name_lands_inside_the_directory(name: str) -> None:
    directory = "/run/credentials/smscore.service"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CREDENTIALS_DIRECTORY", directory)
        try:
            expanded = Path(credentials_path(f"${{CREDENTIALS_DIRECTORY}}/{name}"))
        except ValueError:
            assert ".." in Path(name).parts
            return
    assert expanded.parent == Path(directory) / Path(name).parent
    assert str(expanded).startswith(directory + "/")
