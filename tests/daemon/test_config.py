"""Config: the documented example loads, and every problem is one line naming file, key and problem."""

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli import main
from daemon.config import (
    BindConfig,
    Config,
    ConfigError,
    build_config,
    load_config,
    parse_smsc_option,
)
from daemon.subscribers import PEPPER_FILE_NAME

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "smscore.toml"


def test_the_shipped_configs_speak_one_ussd_dialect():
    # README's QA commands (`smscore sim ussd`) run against these two files as they are.
    from simulators.config import load_config as load_simulator_config

    simulator = load_simulator_config(EXAMPLE.with_name("simulator.toml"))
    dialects = {account.system_id: account.ussd_dialect for account in simulator.account}
    for bind in load_config(EXAMPLE).binds:
        assert bind.ussd_dialect is not None and dialects[bind.system_id] == bind.ussd_dialect


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
        ({"service": {"region": "XX"}}, "service.region: unknown region 'XX': an ISO 3166 alpha-2 code such as KE"),
        ({"service": {"region": "ke"}}, "service.region: unknown region 'ke'"),
        ({"airtime": {"url": "http://smscore:secret@provider/v1"}}, "airtime.url: must not hold user:password@ (it is logged)"),
        ({"airtime": {"url": "ftp://provider/v1"}}, "airtime.url: must be an http:// or https:// URL"),
        ({"service": {"currency": "XYZ"}}, "service.currency: unknown currency 'XYZ': an ISO 4217 code such as KES"),
        ({"service": {"currency": "UGX"}}, "service.currency: UGX has 0 decimal places; smscore counts hundredths"),
        ({"service": {"country_code": "254"}}, 'service.country_code: no longer used: numbers follow service.region (e.g. region = "KE")'),
        ({"service": {"national_number_digits": [9]}}, "service.national_number_digits: no longer used: numbers follow service.region"),
        ({"service": {"role": "x", "country_code": "254"}}, "service.country_code: no longer used"),  # named first
        ({"binds": [{"name": "a", "host": "h", "system_id": "x"}, {"name": "a", "host": "h", "system_id": "y"}]}, "bind names must be unique, repeated: a"),
        ({"status": {"listen": "nope"}}, "status.listen: 'nope' is not HOST:PORT, e.g. 127.0.0.1:8780"),
        ({"status": {"listen": "127.0.0.1"}}, "status.listen: '127.0.0.1' is not HOST:PORT, e.g. 127.0.0.1:8780"),
        ({"api": {"listen": ":8790"}}, "api.listen: ':8790' is not HOST:PORT, e.g. 127.0.0.1:8790"),
        ({"api": {"listen": "127.0.0.1:99999"}}, "api.listen: the port must be 0 (any free port) to 65535"),
    ],
)  # fmt: skip
def test_problems_are_one_line_with_file_and_key(data, expected):
    with pytest.raises(ConfigError) as caught:
        build_config(data, "etc/x.toml")
    message = str(caught.value)
    assert message.startswith("etc/x.toml: ") and expected in message and "\n" not in message


def test_the_region_is_any_libphonenumber_knows():
    assert build_config({"service": {"region": "TZ"}}).service.region == "TZ"
    assert build_config({}).service.region == "KE"


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


# --- etc/smscore.toml shows every key with its default ------------------------------------------

# Keys of [[binds]] whose value in the example is an example, not the default (the file says so).
EXAMPLE_VALUES = {"binds": {"name", "host", "system_id", "password", "serves", "ussd_dialect"}}


def _section_models() -> dict[str, type]:
    models = {name: type(field.default) for name, field in Config.model_fields.items()}
    models["binds"] = BindConfig
    return models


def _commented_keys(text: str) -> dict[str, set[str]]:
    """Keys written as `# key = value` under each section header: documented, left unset."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\[\[?([a-z_]+)\]\]?", line)
        if header:
            section = header.group(1)
        commented = re.match(r"^#\s*([a-z_]+)\s*=", line)
        if commented and section:
            keys.setdefault(section, set()).add(commented.group(1))
    return keys


def test_the_example_shows_every_key_with_its_default():
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    commented = _commented_keys(text)
    for section, model in _section_models().items():
        values = data[section][0] if section == "binds" else data[section]
        assert set(values) | commented.get(section, set()) == set(model.model_fields), section
        assert not set(values) & commented.get(section, set()), section
        for key, field in model.model_fields.items():
            where = f"{section}.{key}"
            if key in commented.get(section, set()):
                assert field.default is None, f"{where} is commented out but has a default"
            elif key in EXAMPLE_VALUES.get(section, set()):
                continue
            else:
                assert not field.is_required(), f"{where} is required: list it in EXAMPLE_VALUES"
                shown = model.model_validate(values)
                assert getattr(shown, key) == field.default, (
                    f"{where}: the example is not the default"
                )


def test_the_example_names_the_pepper_file_the_code_creates():
    assert f"<state_dir>/{PEPPER_FILE_NAME}" in EXAMPLE.read_text()
