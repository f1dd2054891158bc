"""The callbacks' master key file (made 0600 at first start, refused when others may read it),
each business's secret derived from it (never stored; rotation bumps the version, audited), the
deliverer registered for the roles that run it, and the check of a callback URL."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from twisted.internet.task import Clock

from daemon.api.callback_keys import (
    CallbackKeyError,
    callback_key_path,
    master_key,
    read_master_key,
    rotate_txn,
    secret_version_txn,
)
from daemon.api.callback_urls import callback_url_problem, check_callback_url
from daemon.api.callbacks import CallbackDeliverer
from daemon.api.components import api_components
from daemon.api.env import ApiEnv
from daemon.api.errors import ApiError, ErrorCategory
from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.schema import audit_log, businesses
from daemon.service import StartupError
from tests.api.callback_helpers import add_business_row, receiver_secret

HOSTS = ["127.0.0.1", "localhost"]


def config_in(state_dir: Path, **api):
    return build_config({"service": {"state_dir": str(state_dir)}, "api": api})


def test_the_master_key_is_made_once_owner_only(tmp_path):
    config = config_in(tmp_path / "state")
    key = master_key(config)
    path = tmp_path / "state" / "api_callback_key"
    assert callback_key_path(config) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    text = path.read_text()
    assert master_key(config_in(tmp_path / "state")).business_secret("ACME", 1) == (
        key.business_secret("ACME", 1)
    )
    assert path.read_text() == text  # not made again
    assert repr(key) == "MasterKey(...)" and text.strip() not in repr(key)


def test_a_configured_key_file_is_used(tmp_path):
    config = config_in(tmp_path, callback_key_file=str(tmp_path / "keys" / "cb.key"))
    master_key(config)
    assert (tmp_path / "keys" / "cb.key").exists()
    assert not (tmp_path / "api_callback_key").exists()


def test_the_cli_never_makes_a_key(tmp_path):
    with pytest.raises(CallbackKeyError, match="no callback key yet"):
        master_key(config_in(tmp_path), create=False)
    assert not (tmp_path / "api_callback_key").exists()


@pytest.mark.parametrize(
    "text, mode, problem",
    [
        ("ab" * 32, 0o640, "readable by its owner only"),
        ("zz" * 32, 0o600, "not hex"),
        ("ab" * 16, 0o600, "not 32 bytes"),
    ],
)
def test_a_bad_key_file_is_one_line_naming_it(tmp_path, text, mode, problem):
    path = tmp_path / "api_callback_key"
    path.write_text(text)
    path.chmod(mode)
    with pytest.raises(CallbackKeyError) as raised:
        read_master_key(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    assert text not in message


def test_a_business_secret_derives_from_code_and_version(tmp_path):
    config = config_in(tmp_path)
    key = master_key(config)
    path = callback_key_path(config)
    assert key.business_secret("ACME", 1) == receiver_secret(path, "ACME", 1)
    assert key.business_secret("ACME", 2) == receiver_secret(path, "ACME", 2)
    assert len({key.business_secret(c, v) for c in ("ACME", "ACM") for v in (1, 2, 12)}) == 6


def test_rotation_bumps_the_version_and_is_audited(engine):
    with engine.begin() as conn:
        add_business_row(conn, "ACME")
        assert secret_version_txn(conn, "ACME").version == 1
        rotated = rotate_txn(conn, "ACME", "alice", 5_000)
        assert rotated.version == 2 and secret_version_txn(conn, "ACME").version == 2
        version = conn.execute(select(businesses.c.secret_version)).scalar_one()
        entry = conn.execute(select(audit_log)).one()
    assert version == 2
    assert (entry.actor, entry.action, entry.target) == ("alice", "business.secret.rotate", "ACME")
    assert entry.detail == "callback secret version 1 -> 2"


def test_an_unknown_business_has_no_secret(engine):
    with engine.begin() as conn, pytest.raises(CallbackKeyError, match="business NOPE: no such"):
        secret_version_txn(conn, "NOPE")


def test_the_deliverer_runs_where_the_api_serves_and_makes_its_key(engine, tmp_path):
    config = config_in(tmp_path)
    env = ApiEnv(config, Clock(), InlineDatabase(engine))

    def deliverers(env: ApiEnv, role: str) -> int:
        return sum(isinstance(c, CallbackDeliverer) for c in api_components(env, role))

    assert (deliverers(env, "lis"), deliverers(env, "all"), deliverers(env, "tranproc")) == (
        1,
        1,
        0,
    )
    assert (tmp_path / "api_callback_key").exists()
    off = ApiEnv(config_in(tmp_path, enabled=False), Clock(), InlineDatabase(engine))
    assert deliverers(off, "all") == 0


def test_a_bad_key_file_stops_start_up_in_one_line(engine, tmp_path):
    (tmp_path / "api_callback_key").write_text("not a key")
    (tmp_path / "api_callback_key").chmod(0o600)
    env = ApiEnv(config_in(tmp_path), Clock(), InlineDatabase(engine))
    with pytest.raises(StartupError, match=r"^callback key: .*api_callback_key: .*not hex$"):
        api_components(env, "all")


# --- callback URLs

ACCEPTED = [
    "https://pay.acme.example/callbacks/transactions",
    "https://pay.acme.example:8443/cb?token=abc&x=1",
    "http://127.0.0.1:8080/callback",
    "http://LOCALHOST/cb",
    "https://[2606:4700::1111]/cb",
]
REFUSED = {
    "ftp://pay.acme.example/cb": "must start with https://",
    "pay.acme.example/cb": "must start with https://",
    "http://pay.acme.example/cb": "plain http is allowed only to 127.0.0.1, localhost",
    "https://alice:pw@pay.acme.example/cb": "must not carry a user name or password",
    "https:///cb": "has no host",
    "https://pay.acme.example/cb#part": "must not have a #fragment",
    "https://pay.acme.example:99999/cb": "not a URL",
    "https://pay.acme.example:0/cb": "port 0",
    "https://pay.acmé.example/cb": "not printable ASCII",
    "https://pay.acme.example/a b": "not printable ASCII",
    "https://pay.acme.example/" + "a" * 1024: "longer than 1024 characters",
    "": "empty",
}


@pytest.mark.parametrize("url", ACCEPTED)
def test_a_good_callback_url_is_kept(url, tmp_path):
    assert check_callback_url(f" {url} ", config_in(tmp_path)) == url


@pytest.mark.parametrize("url, problem", REFUSED.items())
def test_a_bad_callback_url_is_a_format_error_naming_the_header(url, problem, tmp_path):
    with pytest.raises(ApiError) as raised:
        check_callback_url(url, config_in(tmp_path))
    error = raised.value
    assert (error.category, error.code, error.status) == (
        ErrorCategory.VALIDATION,
        "formatError",
        400,
    )
    assert error.parameters == {"field": "X-Callback-URL"}
    assert error.description.startswith("X-Callback-URL: ") and problem in error.description
    assert "pw" not in error.description


def test_plain_http_hosts_come_from_the_config(tmp_path):
    config = config_in(tmp_path, callback_http_hosts=["receiver.test"])
    assert check_callback_url("http://receiver.test/cb", config) == "http://receiver.test/cb"
    with pytest.raises(ApiError, match=r"only to receiver\.test"):
        check_callback_url("http://127.0.0.1/cb", config)


@given(st.text(max_size=80), st.sampled_from(["", "https://", "http://", "http://127.0.0.1"]))
def test_any_text_is_a_url_or_a_reason_never_a_crash(text, prefix):
    problem = callback_url_problem(prefix + text, HOSTS)
    assert problem is None or (isinstance(problem, str) and problem)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.7/cb", "https://169.254.169.254/latest/meta-data", "https://127.0.0.2/cb",
        "https://[::1]/cb", "https://[fe80::1]/cb", "https://192.168.1.1/cb", "https://0.0.0.0/cb",
        "https://localhost/cb", "https://api.localhost/cb", "https://[::ffff:10.0.0.1]/cb",
    ],
)  # fmt: skip
def test_internal_hosts_are_refused_even_over_https(url):
    """Review 15, finding 12: no PUT to a private, loopback or link-local address (SSRF)."""
    problem = callback_url_problem(url, ["receiver.test"])
    assert problem is not None and "internal" in problem


def test_an_internal_host_in_the_allow_list_is_accepted():
    assert callback_url_problem("https://10.0.0.7/cb", ["10.0.0.7"]) is None
    assert callback_url_problem("http://127.0.0.1:9/cb", HOSTS) is None
    assert callback_url_problem("https://receiver.example/cb", []) is None
