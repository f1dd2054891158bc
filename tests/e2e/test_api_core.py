"""The business API's front door over real HTTP on 127.0.0.1, with an independent client
(`requests`) against the real daemon: a business and its key made with `smscore admin business`,
the heartbeat, a key admitted, refused (missing, wrong, revoked), a suspended business, the rate
limit's 429 with Retry-After, a request state and a lost response, and the access log's rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from daemon.admin.cli import admin
from daemon.schema import api_access
from tests.e2e.harness import DaemonProcess, daemon_settings, wait_for

TIMEOUT_S = 10
UNKNOWN_STATE = "/requeststates/00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    workdir: Path = tmp_path_factory.mktemp("api_core")
    url = f"sqlite:///{workdir / 'smscore.db'}"
    process = DaemonProcess(workdir, daemon_settings(workdir / "state", url, None))
    process.start().wait_ready()
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log()


def staff(daemon: DaemonProcess, *args: str) -> str:
    result = CliRunner().invoke(admin, ["business", *args, "--config", str(daemon.config_path)])
    assert result.exit_code == 0, result.output
    return result.output


def api(daemon: DaemonProcess) -> str:
    return f"http://{daemon.settings['api']['listen']}"


def business(daemon: DaemonProcess, code: str, *options: str) -> tuple[str, str]:
    """A new business with one key: (key id, key text)."""
    staff(daemon, "add", code, "--name", f"{code} Ltd", "--msisdn", code_msisdn(code),
          "--actor", "e2e", *options)  # fmt: skip
    first, key_text = staff(daemon, "key-add", code, "--actor", "e2e").splitlines()
    return first.split("key ", 1)[1].split(" ", 1)[0], key_text


def code_msisdn(code: str) -> str:
    return "2547990" + str(sum(map(ord, code)) % 100_000).zfill(5)


def get(daemon: DaemonProcess, path: str, key: str | None = None, **headers: str):
    if key is not None:
        headers["X-API-Key"] = key
    return requests.get(api(daemon) + path, headers=headers, timeout=TIMEOUT_S)


def test_the_heartbeat_answers_without_a_key(daemon) -> None:
    answer = get(daemon, "/heartbeat")
    assert answer.status_code == 200
    assert answer.json() == {"serviceStatus": "available", "delay": 0}
    housekeeping = wait_for(
        lambda: daemon.status()["counters"].get("api.housekeeping.runs"),
        10,
        "a housekeeping run",
    )
    assert housekeeping >= 1


def test_keys_are_admitted_and_refused(daemon) -> None:
    key_id, key = business(daemon, "KEYS")
    assert get(daemon, UNKNOWN_STATE, key).status_code == 404  # admitted; the id is unknown
    missing = get(daemon, UNKNOWN_STATE)
    assert (missing.status_code, missing.json()["errorCode"]) == (401, "clientAuthorisationError")
    assert get(daemon, UNKNOWN_STATE, key[:-1] + "x").status_code == 401
    staff(daemon, "suspend", "KEYS", "--actor", "e2e")
    suspended = get(daemon, UNKNOWN_STATE, key)
    assert "business KEYS is suspended" in suspended.json()["errorDescription"]
    staff(daemon, "reinstate", "KEYS", "--actor", "e2e")
    staff(daemon, "key-revoke", key_id, "--actor", "e2e")
    revoked = get(daemon, UNKNOWN_STATE, key)
    assert (revoked.status_code, revoked.json()["errorDescription"]) == (
        401, f"API key {key_id} is revoked",
    )  # fmt: skip


def test_the_rate_limit_is_429_with_retry_after(daemon) -> None:
    _, key = business(daemon, "RATE", "--rate", "0.01", "--burst", "2")
    statuses = [get(daemon, UNKNOWN_STATE, key).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    limited = get(daemon, UNKNOWN_STATE, key)
    assert limited.json()["errorCode"] == "rateLimitError"
    assert 1 <= int(limited.headers["Retry-After"]) <= 100


def test_an_address_outside_the_allow_list_is_refused(daemon) -> None:
    _, key = business(daemon, "WALL", "--allow-ip", "10.0.0.0/8")
    refused = get(daemon, UNKNOWN_STATE, key)
    assert refused.status_code == 401
    assert "address 127.0.0.1 is not in business WALL's" in refused.json()["errorDescription"]


def test_an_unknown_response_is_404(daemon) -> None:
    _, key = business(daemon, "LOST")
    answer = get(daemon, "/responses/never-sent", key)
    assert answer.status_code == 404
    assert answer.json()["errorCategory"] == "identification"


def test_every_answer_is_in_the_access_log_without_the_key(daemon) -> None:
    key_id, key = business(daemon, "AUDIT")
    get(daemon, UNKNOWN_STATE, key, **{"X-CorrelationID": "e2e-audit-1"})
    engine = create_engine(daemon.settings["database"]["url"])

    def logged() -> list | None:  # written after the answer, on the database thread
        with engine.begin() as conn:
            rows = conn.execute(select(api_access)).all()
        return rows if any(r.client_correlation_id == "e2e-audit-1" for r in rows) else None

    try:
        rows = wait_for(logged, 10, "the access log row")
    finally:
        engine.dispose()
    [mine] = [row for row in rows if row.client_correlation_id == "e2e-audit-1"]
    assert (mine.key_id, mine.status, mine.remote_ip) == (key_id, 404, "127.0.0.1")
    secret = key.rsplit("_", 1)[1]
    assert not any(secret in str(tuple(row)) for row in rows)
