"""[airtime]: its keys are checked, `smscore run --check` catches a missing or empty password file
in one line (never showing the password), the daemon starts the worker only when enabled; every
airtime reply fits one SMS with the worst values, in every language."""

import pytest
from click.testing import CliRunner

from daemon import replies
from daemon.cli import main
from daemon.config import ConfigError, build_config
from smscore.text import gsm7_septet_length
from tests.daemon.test_config_checks import write_config

WORST = {
    "amount": "KES 250,000.00",
    "phone": "0712 345678",
    "ref": "QK7A2B9XYZ",
    "fee": "KES 350.00",
    "balance": "KES 500,000.00",
    "when": "30/12/26 23:59",
    "payer": "WANJIKUMUTHONI K. 0712 345678",
}
KEYS = ("airtime_unavailable", "airtime_buying", "airtime_bought", "airtime_received",
        "airtime_failed", "airtime_voided", "airtime_charged")  # fmt: skip


@pytest.mark.parametrize("language", ["en", "sw"])
@pytest.mark.parametrize("key", KEYS)
def test_every_airtime_reply_fits_one_sms(language, key):
    fields = replies.template_fields(replies.template(language, key))
    assert fields <= WORST.keys()
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert gsm7_septet_length(text) <= 160, f"{len(text)}: {text}"


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"url": "ftp://provider"}, "airtime.url: must be an http:// or https:// URL"),
        ({"timeout_s": 0}, "airtime.timeout_s: Input should be greater than 0"),
        ({"backoff": 0.5}, "airtime.backoff: Input should be greater than or equal to 1"),
        ({"max_queries": 0}, "airtime.max_queries: "),
        ({"enabled": "yes"}, "airtime.enabled: Input should be a valid boolean"),
        ({"gateway": "x"}, "airtime.gateway: unknown key"),
    ],
)
def test_bad_keys_are_one_line(values, problem):
    with pytest.raises(ConfigError, match=r"^smscore\.toml: ") as raised:
        build_config({"airtime": values}, "smscore.toml")
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def check(tmp_path, **airtime):
    path = write_config(tmp_path, airtime={"enabled": True, **airtime})
    return CliRunner().invoke(main, ["run", "--config", str(path), "--check"])


def test_check_wants_a_password_file_when_enabled(tmp_path):
    result = check(tmp_path)
    assert result.exit_code == 2
    assert "airtime.password_file: required when airtime.enabled is true" in result.output


def test_check_names_a_missing_password_file(tmp_path):
    result = check(tmp_path, password_file=str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().endswith(
        f"airtime.password_file: {tmp_path / 'nowhere'}: file not found"
    )


def test_check_refuses_an_empty_password_file_and_accepts_a_good_one(tmp_path):
    secret = tmp_path / "airtime_password"
    secret.write_text("\n")
    assert "must hold the password on one line" in check(tmp_path, password_file=str(secret)).output
    secret.write_text("hunter2-airtime\n")
    result = check(tmp_path, password_file=str(secret))
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output


def test_disabled_needs_no_password(tmp_path):
    path = write_config(tmp_path, airtime={"enabled": False})
    assert CliRunner().invoke(main, ["run", "--config", str(path), "--check"]).exit_code == 0


def test_the_daemon_runs_the_worker_only_when_enabled(tmp_path):
    from daemon.service import StartupError, _airtime

    off = build_config({})
    assert _airtime(off, None, None) == []  # type: ignore[arg-type]
    missing = build_config({"airtime": {"enabled": True, "password_file": str(tmp_path / "x")}})
    with pytest.raises(StartupError, match=r"airtime gateway: airtime\.password_file: .*not found"):
        _airtime(missing, None, None)  # type: ignore[arg-type]
    secret = tmp_path / "secret"
    secret.write_text("pw\n")
    on = build_config({"airtime": {"enabled": True, "password_file": str(secret)}})
    from twisted.internet.task import Clock

    [component] = _airtime(on, Clock(), None)  # type: ignore[arg-type]
    assert component.name == "airtime"
