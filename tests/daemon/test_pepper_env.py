"""[security] pin_pepper_env: the PIN pepper from the environment (a systemd credential, a secret
store), never from the database: read as hex, never made afresh, one line when it is missing."""

import pytest

from daemon.checks import _pepper_problem
from daemon.config import ConfigError, build_config
from daemon.subscribers import (
    PepperEnv,
    PepperError,
    load_pepper_txn,
    pepper_fingerprint,
    pepper_path,
    read_pepper,
)

PEPPER = bytes(range(32))


def test_the_pepper_comes_from_the_named_variable(monkeypatch, engine):
    monkeypatch.setenv("SMSCORE_TEST_PEPPER", PEPPER.hex())
    config = build_config({"security": {"pin_pepper_env": "SMSCORE_TEST_PEPPER"}})
    source = pepper_path(config)
    assert source == PepperEnv("SMSCORE_TEST_PEPPER")
    with engine.begin() as conn:
        assert load_pepper_txn(conn, source) == PEPPER  # and its fingerprint recorded
    assert _pepper_problem(source) is None
    assert PEPPER.hex() not in str(source) and pepper_fingerprint(PEPPER) != PEPPER.hex()


def test_a_missing_or_short_variable_is_one_line_naming_it(monkeypatch):
    monkeypatch.delenv("SMSCORE_TEST_PEPPER", raising=False)
    with pytest.raises(PepperError, match="environment variable SMSCORE_TEST_PEPPER: not set"):
        read_pepper(PepperEnv("SMSCORE_TEST_PEPPER"))
    monkeypatch.setenv("SMSCORE_TEST_PEPPER", "abcd")
    problem = _pepper_problem(PepperEnv("SMSCORE_TEST_PEPPER"))
    assert problem is not None and "shorter than 32 bytes" in problem and "abcd" not in problem


def test_a_file_and_a_variable_at_once_is_refused():
    with pytest.raises(ConfigError, match=r"security: .*pin_pepper_file or pin_pepper_env"):
        build_config({"security": {"pin_pepper_file": "p", "pin_pepper_env": "P"}})
