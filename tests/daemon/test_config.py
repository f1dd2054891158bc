"""Config: the documented example loads, and every problem is one line naming file, key and problem."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli import main
from daemon.config import ConfigError, build_config, load_config, parse_smsc_option

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "smscore.toml"


def test_documented_example_loads():
    config = load_config(EXAMPLE)
    assert [bind.name for bind in config.binds] == ["carrier1"]
    assert config.inbox.dedupe_window_s == 120.0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"binds": [{"name": "a", "host": "h", "system_id": "x", "port": 70000}]}, "binds.0.port: Input should be less than 65536"),
        ({"binds": [{"name": "a", "host": "h", "system_id": "waytoolongsystemid"}]}, "binds.0.system_id: String should have at most 15 characters"),
        ({"binds": [{"name": "a", "host": "h", "system_id": "x", "concat_method": "smoke"}]}, "binds.0.concat_method: must be one of"),
        ({"inbox": {"dedupe_window_s": -1}}, "inbox.dedupe_window_s: Input should be greater than 0"),
        ({"inbox": {"bogus": 1}}, "inbox.bogus: unknown key"),
        ({"database": {"url": "mysql://x"}}, "database.url: must be a sqlite:/// or postgresql:// URL"),
        ({"binds": [{"name": "a", "host": "h", "system_id": "x"}, {"name": "a", "host": "h", "system_id": "y"}]}, "bind names must be unique, repeated: a"),
    ],
)  # fmt: skip
def test_problems_are_one_line_with_file_and_key(data, expected):
    with pytest.raises(ConfigError) as caught:
        build_config(data, "etc/x.toml")
    message = str(caught.value)
    assert message.startswith("etc/x.toml: ") and expected in message and "\n" not in message


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.toml: file not found"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[service\nrole = 1")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_config(broken)


def test_smsc_option():
    assert parse_smsc_option("esme:pw@10.0.0.1:2775", 1) == {
        "name": "smsc1", "host": "10.0.0.1", "port": 2775, "system_id": "esme", "password": "pw",
    }  # fmt: skip
    with pytest.raises(ConfigError, match="expected SYSTEM_ID:PASSWORD@HOST:PORT"):
        parse_smsc_option("esme@host", 1)


def test_cli_refuses_a_broken_config_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[inbox]\ngroup_commit_max_batch = 0\n")
    result = CliRunner().invoke(main, ["run", "--config", str(bad), "--check"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"smscore: {bad}: inbox.group_commit_max_batch: Input should be greater than or equal to 1"
    )
    assert "Traceback" not in result.output


def test_cli_check_accepts_the_example():
    result = CliRunner().invoke(main, ["run", "--config", str(EXAMPLE), "--check"])
    assert result.exit_code == 0 and "config OK: role all, 1 bind(s)" in result.output
