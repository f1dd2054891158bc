"""Bind passwords from a file or the environment: exactly one source; a missing file, an unset
variable or a value over 8 characters is one line naming file, key and problem (exit 2, from
`run --check` and `run`); the password itself is in no repr, message or status."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli import main
from daemon.config import BindPasswordError, ConfigError, build_config
from daemon.service import esme_config
from tests.daemon.test_config_checks import BIND, no_reactor, write_config  # noqa: F401

SECRET = "Zq7#pw9x"  # 8 characters: the SMPP 3.4 most
NO_PASSWORD = {k: v for k, v in BIND.items() if k != "password"}


def secret_file(tmp_path: Path, text: str = SECRET + "\n") -> Path:
    path = tmp_path / "bind.password"
    path.write_text(text)
    path.chmod(0o600)
    return path


def bind_config(**keys):
    return build_config({"binds": [{**NO_PASSWORD, **keys}]}).binds[0]


def test_the_password_comes_from_a_file_without_its_trailing_newline(tmp_path):
    bind = bind_config(password_file=str(secret_file(tmp_path)))
    assert bind.read_password().get_secret_value() == SECRET
    assert esme_config(bind).password == SECRET


def test_the_password_comes_from_the_environment():
    bind = bind_config(password_env="SMSC_A_PASSWORD")
    assert bind.read_password({"SMSC_A_PASSWORD": SECRET}).get_secret_value() == SECRET
    with pytest.raises(BindPasswordError, match="SMSC_A_PASSWORD is not set"):
        bind.read_password({})


@pytest.mark.parametrize(
    "keys",
    [
        {"password": "pw", "password_env": "X"},
        {"password": "pw", "password_file": "/etc/x"},
        {"password_file": "/etc/x", "password_env": "X"},
    ],
)
def test_only_one_source_may_be_given(keys):
    with pytest.raises(ConfigError, match=r"binds\.0: .*set only one of password, password_file"):
        build_config({"binds": [{**NO_PASSWORD, **keys}]}, "smscore.toml")


def test_a_password_over_8_characters_in_the_text_is_a_config_error_without_the_value():
    with pytest.raises(ConfigError) as error:
        build_config({"binds": [{**NO_PASSWORD, "password": "123456789abc"}]}, "smscore.toml")
    assert str(error.value).startswith("smscore.toml: binds.0.password: longer than 8 characters")
    assert "123456789abc" not in str(error.value)


def test_the_password_is_in_no_repr_of_the_config(tmp_path):
    config = build_config({"binds": [{**NO_PASSWORD, "password": SECRET}]})
    for shown in (repr(config), str(config), repr(config.binds[0]), config.model_dump_json()):
        assert SECRET not in shown
    assert SECRET not in repr(esme_config(config.binds[0]))


def too_long(tmp_path: Path) -> dict:
    return {"binds": [{**NO_PASSWORD, "password_file": str(secret_file(tmp_path, "9chars!!x"))}]}


CASES = {
    "file missing": (
        lambda t: {"binds": [{**NO_PASSWORD, "password_file": str(t / "nope")}]},
        "binds.0.password_file: cannot read {t}/nope: No such file or directory",
    ),
    "file unreadable (a directory)": (
        lambda t: {"binds": [{**NO_PASSWORD, "password_file": str(t)}]},
        "binds.0.password_file: cannot read {t}: Is a directory",
    ),
    "file empty": (
        lambda t: {"binds": [{**NO_PASSWORD, "password_file": str(secret_file(t, "\n"))}]},
        "binds.0.password_file: empty",
    ),
    "file over 8 characters": (
        too_long,
        "binds.0.password_file: the password has 9 characters; SMPP 3.4 allows 8",
    ),
    "variable unset": (
        lambda t: {"binds": [{**NO_PASSWORD, "password_env": "SMSCORE_TEST_UNSET_PW"}]},
        "binds.0.password_env: environment variable SMSCORE_TEST_UNSET_PW is not set",
    ),
    "variable over 8 characters": (
        lambda t: {"binds": [{**NO_PASSWORD, "password_env": "SMSCORE_TEST_LONG_PW"}]},
        "binds.0.password_env: the password has 12 characters; SMPP 3.4 allows 8",
    ),
}


@pytest.mark.parametrize("extra", [["--check"], []], ids=["check", "run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_password_problem_is_one_line_and_exit_2(tmp_path, no_reactor, case, extra):  # noqa: F811
    sections, expected = CASES[case]
    path = write_config(tmp_path, **sections(tmp_path))
    env = {"SMSCORE_TEST_LONG_PW": "9chars!!x123", "SMSCORE_TEST_UNSET_PW": None}
    result = CliRunner().invoke(main, ["run", "--config", str(path), *extra], env=env)
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"smscore: {path}: {expected.format(t=tmp_path)}"), line
    assert "9chars!!x" not in result.output and "Traceback" not in result.output


def test_check_passes_with_the_password_in_a_file_or_the_environment(tmp_path):
    for keys, env in (
        ({"password_file": str(secret_file(tmp_path))}, {}),
        ({"password_env": "SMSCORE_TEST_PW"}, {"SMSCORE_TEST_PW": SECRET}),
    ):
        path = write_config(tmp_path, binds=[{**NO_PASSWORD, **keys}])
        result = CliRunner().invoke(main, ["run", "--config", str(path), "--check"], env=env)
        assert result.exit_code == 0, result.output
        assert "config OK" in result.output and SECRET not in result.output
