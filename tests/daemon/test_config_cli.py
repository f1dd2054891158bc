"""`smscore config check FILE`: the run checks, then the effective config with every secret masked,
as TOML that loads back into the same config, or as JSON."""

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr

from daemon.cli import main
from daemon.config import build_config, load_config
from daemon.config_cli import MASK, masked
from daemon.config_services import AppConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "smscore.toml"
PASSWORD = "s3cr3t!"
DB_PASSWORD = "dbpass-7781"
CONFIG = f"""
[service]
state_dir = "state"

[database]
url = "postgresql://smscore:{DB_PASSWORD}@db.internal:5432/smscore"

[logging]
levels = {{smpp = "debug"}}

[[binds]]
name = "carrier1"
host = "10.0.0.1"
system_id = "smscore"
password = "{PASSWORD}"
serves = ["12345"]

[[binds]]
name = "carrier2"
host = "10.0.0.2"
system_id = "smscore"
password_env = "CARRIER2_PASSWORD"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "smscore.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the relative state_dir is probed here


def check(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    environ = {"CARRIER2_PASSWORD": "other", **(env or {})}
    return CliRunner().invoke(main, ["config", "check", *args], env=environ)


def test_prints_the_effective_config_with_defaults_and_no_secret(tmp_path, config_file):
    result = check(tmp_path, str(config_file))
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and DB_PASSWORD not in result.output
    shown = tomllib.loads(result.output)
    assert shown["binds"][0]["password"] == MASK
    assert shown["binds"][1]["password"] == ""  # none in the file: it comes from the variable
    assert shown["binds"][1]["password_env"] == "CARRIER2_PASSWORD"  # where it is: shown
    assert shown["database"]["url"] == "postgresql://smscore:***@db.internal:5432/smscore"
    assert shown["sender"]["batch_size"] == 200  # a default the file does not set
    assert shown["binds"][0]["window"] == 10
    assert shown["logging"]["levels"] == {"smpp": "debug"}


def test_the_toml_loads_back_into_the_same_config_but_for_the_secrets(tmp_path, config_file):
    result = check(tmp_path, str(config_file))
    original = load_config(config_file, environ={})
    shown = build_config(tomllib.loads(result.output))
    secret_free = original.model_copy(
        update={
            "binds": [b.model_copy(update={"password": SecretStr(MASK) if b.password.get_secret_value() else b.password}) for b in original.binds],
            "database": original.database.model_copy(update={"url": shown.database.url}),
        }
    )  # fmt: skip
    assert shown == secret_free


def test_the_environment_overrides_are_applied_and_named(tmp_path, config_file):
    env = {"SMSCORE_SENDER__BATCH_SIZE": "50", "SMSCORE_BINDS__0__PASSWORD": "envpw"}
    result = check(tmp_path, str(config_file), env=env)
    assert result.exit_code == 0, result.output
    assert "envpw" not in result.output
    assert "SMSCORE_BINDS__0__PASSWORD, SMSCORE_SENDER__BATCH_SIZE" in result.output
    shown = tomllib.loads(result.output)
    assert shown["sender"]["batch_size"] == 50 and shown["binds"][0]["password"] == MASK


def test_json_too(tmp_path, config_file):
    result = check(tmp_path, str(config_file), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["binds"][0]["password"] == MASK and shown["binds"][0]["tps_limit"] is None
    assert PASSWORD not in result.output and DB_PASSWORD not in result.output


def test_the_documented_example_checks(tmp_path):
    result = check(tmp_path, str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.output)["binds"][0]["name"] == "carrier1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sender]\nbatch_size = 0\n", "sender.batch_size: Input should be greater than or equal to 1"),
        ("[sender\n", "not valid TOML"),
        ('[[binds]]\nname = "a"\nhost = "h"\nsystem_id = "x"\n', "binds.0.password: empty"),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_line_and_exit_2(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = check(tmp_path, str(path))
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"smscore: {path}: ") and expected in line


def test_a_missing_file_is_one_line(tmp_path):
    result = check(tmp_path, str(tmp_path / "nowhere.toml"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"smscore: {tmp_path / 'nowhere.toml'}: file not found"
    ]


def test_every_secret_sounding_text_is_masked_but_where_secrets_live_is_shown():
    data = masked(build_config({"app": {"key_file": "/etc/smscore/app.key"}}))
    assert data["app"]["key_file"] == "/etc/smscore/app.key"

    class Gateway(AppConfig):  # a future section with a secret in plain text
        api_secret: str = "hunter2"
        token: str = ""
        callback_url: str = "https://user:pw@example.test/cb"

    shown = masked(Gateway())
    assert shown["api_secret"] == MASK and shown["token"] == ""
    assert shown["callback_url"] == "https://user:***@example.test/cb"


def test_a_password_in_the_url_query_is_masked_too(tmp_path):
    query_secret = "q-secret-4417"
    path = tmp_path / "query.toml"
    path.write_text(
        f'[database]\nurl = "postgresql://smscore@db.internal/smscore?password={query_secret}'
        f'&sslmode=require&sslpassword={query_secret}"\n'
    )
    result = check(tmp_path, str(path))
    assert result.exit_code == 0, result.output
    assert query_secret not in result.output
    assert "sslmode=require" in result.output and "password=***" in result.output
