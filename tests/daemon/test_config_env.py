"""Environment overrides (daemon.config_env): SMSCORE_SECTION__KEY over the file, under the command
line; text stays text, numbers and booleans are parsed; a key that does not exist is one line."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from daemon.cli import main
from daemon.config import Config, ConfigError, load_config
from daemon.config_env import look_alike_variables

BIND = """
[database]
url = "sqlite:///from-file.db"

[[binds]]
name = "carrier1"
host = "10.0.0.1"
system_id = "smscore"
password = "secret"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "smscore.toml"
    path.write_text(BIND)
    return path


def test_overrides_replace_the_files_values_by_section_key_and_list_index(config_file):
    config = load_config(
        config_file,
        environ={
            "SMSCORE_DATABASE__URL": "postgresql://smscore@db.internal/smscore",
            "SMSCORE_LOGGING__LEVEL": "debug",
            "SMSCORE_BINDS__0__HOST": "10.0.0.5",
            "SMSCORE_LOGGING__LEVELS__SMPP": "error",
        },
    )
    assert config.database.url == "postgresql://smscore@db.internal/smscore"
    assert config.logging.level == "debug" and config.logging.levels == {"smpp": "error"}
    [bind] = config.binds
    assert (bind.host, bind.name, bind.system_id) == ("10.0.0.5", "carrier1", "smscore")


def test_numbers_booleans_and_arrays_are_parsed_as_toml(config_file):
    config = load_config(
        config_file,
        environ={
            "SMSCORE_BINDS__0__PORT": "2776",
            "SMSCORE_BINDS__0__TLS": "true",
            "SMSCORE_BINDS__0__TPS_LIMIT": "12.5",
            "SMSCORE_MONEY__POST_ON_DELIVERY": '["SEND", "PAY"]',
            "SMSCORE_SERVICE__DRAIN_TIMEOUT_S": "3",
        },
    )
    [bind] = config.binds
    assert (bind.port, bind.tls, bind.tps_limit) == (2776, True, 12.5)
    assert config.money.post_on_delivery == ["SEND", "PAY"]
    assert config.service.drain_timeout_s == 3.0


def test_a_text_key_keeps_text_that_looks_like_a_number(config_file):
    config = load_config(
        config_file,
        environ={"SMSCORE_BINDS__0__PASSWORD": "1234", "SMSCORE_BINDS__0__SYSTEM_ID": "true"},
    )
    assert config.binds[0].password.get_secret_value() == "1234"
    assert config.binds[0].system_id == "true"


@given(st.text(st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=15))
def test_any_text_for_a_text_key_arrives_verbatim(system_id):
    config = load_config(
        None,
        environ={
            "SMSCORE_BINDS__0__NAME": "a",
            "SMSCORE_BINDS__0__HOST": "127.0.0.1",
            "SMSCORE_BINDS__0__SYSTEM_ID": system_id,
        },
    )
    assert config.binds[0].system_id == system_id


def test_a_whole_bind_can_come_from_the_environment_at_the_next_index(config_file):
    config = load_config(
        config_file,
        environ={
            "SMSCORE_BINDS__1__NAME": "carrier2",
            "SMSCORE_BINDS__1__HOST": "10.0.0.2",
            "SMSCORE_BINDS__1__SYSTEM_ID": "smscore2",
        },
    )
    assert [bind.name for bind in config.binds] == ["carrier1", "carrier2"]


def test_the_command_line_wins_over_the_environment(config_file):
    config = load_config(
        config_file,
        {"database": {"url": "sqlite:///from-option.db"}},
        environ={"SMSCORE_DATABASE__URL": "sqlite:///from-env.db"},
    )
    assert config.database.url == "sqlite:///from-option.db"


def test_other_smscore_variables_are_not_overrides(config_file):
    environ = {"SMSCORE_CONFIG": "x", "SMSCORE_TEST_PG_URL": "y", "SMSCORE_CARRIER1_PASSWORD": "z"}
    assert load_config(config_file, environ=environ) == load_config(config_file, environ={})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"SMSCORE_DATABSE__URL": "sqlite:///x.db"},
            "environment variable SMSCORE_DATABSE__URL: databse: unknown key",
        ),
        (
            {"SMSCORE_BINDS__0__HOSTNAME": "h"},
            "environment variable SMSCORE_BINDS__0__HOSTNAME: binds.0.hostname: unknown key",
        ),
        (
            {"SMSCORE_BINDS__FIRST__HOST": "h"},
            "environment variable SMSCORE_BINDS__FIRST__HOST: binds.first: not a list index",
        ),
        (
            {"SMSCORE_BINDS__3__HOST": "h"},
            "environment variable SMSCORE_BINDS__3__HOST: binds.3.host: the list has 1 entries;"
            " the next one is index 1",
        ),
        (
            {"SMSCORE_DATABASE__THREADS": "many"},
            "environment variable SMSCORE_DATABASE__THREADS: database.threads: Input should be a"
            " valid integer",
        ),
        (
            {"SMSCORE_BINDS__0__PORT": "70000"},
            "environment variable SMSCORE_BINDS__0__PORT: binds.0.port: Input should be less than",
        ),
    ],
)
def test_a_bad_override_is_one_line_naming_the_variable(config_file, environ, message):
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ=environ)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_bad_key_inside_an_overridden_table_names_the_file_and_the_variable(config_file):
    with pytest.raises(ConfigError, match="with environment variable SMSCORE_LOGGING__LEVELS__X"):
        load_config(config_file, environ={"SMSCORE_LOGGING__LEVELS__X": "debug"})


def test_every_command_that_loads_the_config_reads_the_environment(
    config_file, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the relative state_dir is probed here
    runner = CliRunner()
    args = ["run", "--config", str(config_file), "--check"]
    good = runner.invoke(main, args, env={"SMSCORE_DATABASE__URL": "sqlite:///env.db"})
    bad = runner.invoke(main, args, env={"SMSCORE_SENDER__NONSENSE": "1"})
    assert good.exit_code == 0 and "database sqlite:///env.db" in good.output
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [
        "smscore: environment variable SMSCORE_SENDER__NONSENSE: sender.nonsense: unknown key"
    ]


def test_a_variable_with_one_underscore_is_a_warning_that_spells_the_override():
    environ = {
        "SMSCORE_LOGGING_LEVEL": "debug",
        "SMSCORE_LOGGING_LEVELS_SMPP": "debug",
        "SMSCORE_BINDS_0_HOST": "h",
        "SMSCORE_LOGGING_LEVL": "debug",
        # Not meant as config keys: smscore's own, the tests', a bind's password variable.
        "SMSCORE_CONFIG": "x",
        "SMSCORE_TEST_PG_URL": "y",
        "SMSCORE_CARRIER1_PASSWORD": "z",
        "SMSCORE_DATABASE__URL": "sqlite:///x.db",  # an override
        "OTHER_LOGGING_LEVEL": "debug",
    }
    said = "sections and keys are joined by __"
    assert look_alike_variables(environ, Config) == [
        f"environment variable SMSCORE_BINDS_0_HOST is ignored: {said} "
        "(SMSCORE_BINDS__0__HOST sets binds.0.host)",
        f"environment variable SMSCORE_LOGGING_LEVEL is ignored: {said} "
        "(SMSCORE_LOGGING__LEVEL sets logging.level)",
        f"environment variable SMSCORE_LOGGING_LEVELS_SMPP is ignored: {said} "
        "(SMSCORE_LOGGING__LEVELS__SMPP sets logging.levels.smpp)",
        f"environment variable SMSCORE_LOGGING_LEVL is ignored: {said}",
    ]


def test_run_check_warns_of_a_look_alike_and_still_passes(config_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A variable the config names (password_env) is meant, whatever it looks like.
    text = config_file.read_text().replace(
        'password = "secret"', 'password_env = "SMSCORE_BINDS_PW"'
    )
    config_file.write_text(text)
    env = {"SMSCORE_LOGGING_LEVEL": "debug", "SMSCORE_BINDS_PW": "secret"}
    result = CliRunner().invoke(main, ["run", "--config", str(config_file), "--check"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "smscore: warning: environment variable SMSCORE_LOGGING_LEVEL is ignored: sections and "
        "keys are joined by __ (SMSCORE_LOGGING__LEVEL sets logging.level)"
    ]
