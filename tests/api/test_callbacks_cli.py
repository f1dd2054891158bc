"""`smscore admin callbacks list|show|retry` and `smscore admin business secret` on SQLite and
PostgreSQL: the table and its filters, one callback with its body, retries back to pending
(audited), the secret (the one the deliverer signs with, audited, rotated), and refusals as one
line with exit code 2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, update

from daemon.admin.cli import admin
from daemon.api.callback_keys import master_key
from daemon.config import build_config
from daemon.schema import api_callbacks, audit_log
from tests.api.callback_helpers import BODY, add_business_row, queue, receiver_secret, row

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


class Cli:
    def __init__(self, engine: Engine, tmp_path) -> None:
        self.engine = engine
        self.state_dir = tmp_path
        with engine.begin() as conn:
            self.acme = add_business_row(conn, "ACME", T0)
            self.beta = add_business_row(conn, "BETA", T0)

    def __call__(self, *args: str, actor: str | None = "ops"):
        url = self.engine.url.render_as_string(hide_password=False)
        where = ["--db", url, "--state-dir", str(self.state_dir)]
        if actor is not None and args[1] in ("retry", "secret"):
            where += ["--actor", actor]
        return CliRunner().invoke(admin, [*args, *where])

    def set(self, callback_id: int, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(api_callbacks).where(api_callbacks.c.id == callback_id).values(**values)
            )

    def audit(self) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(select(audit_log).order_by(audit_log.c.id)))


@pytest.fixture
def cli(engine, tmp_path) -> Cli:
    return Cli(engine, tmp_path)


def test_list_shows_every_callback_with_counts_and_filters(cli):
    delivered = queue(cli.engine, cli.acme, T0, url="https://acme.example/cb")
    failed = queue(cli.engine, cli.beta, T0, url="https://beta.example/cb")
    cli.set(delivered, state="delivered", attempts=1, last_status=204)
    cli.set(failed, state="failed", attempts=12, last_status=503, last_error="HTTP 503")
    result = cli("callbacks", "list")
    assert result.exit_code == 0, result.output
    assert "callbacks (0 pending, 0 sending, 1 delivered, 1 failed)" in result.output
    assert "https://acme.example/cb" in result.output and "HTTP 503" in result.output
    only = cli("callbacks", "list", "--state", "failed")
    assert "beta.example" in only.output and "acme.example" not in only.output
    mine = cli("callbacks", "list", "--business", "acme")
    assert "acme.example" in mine.output and "beta.example" not in mine.output
    none = cli("callbacks", "list", "--business", "NOPE")
    assert none.exit_code == 0 and none.output.startswith("no callbacks (0 pending")


def test_show_has_the_attempts_the_last_error_and_the_body(cli):
    callback_id = queue(cli.engine, cli.acme, T0)
    cli.set(callback_id, attempts=3, last_error="no answer within 10 s")
    result = cli("callbacks", "show", str(callback_id))
    assert result.exit_code == 0, result.output
    for text in ("ACME", "pending", "https://receiver.example/callbacks",
                 "3f1c1d2e-8a4b-4c5d-9e6f-7a8b9c0d1e2f", "no answer within 10 s"):  # fmt: skip
        assert text in result.output
    assert json.dumps(json.loads(BODY), indent=2) in result.output
    missing = cli("callbacks", "show", "999")
    assert missing.exit_code == 2 and "callback 999: no such callback" in missing.output
    assert "Traceback" not in missing.output


def test_retry_puts_a_failed_callback_back_due_now_audited(cli):
    callback_id = queue(cli.engine, cli.acme, T0)
    cli.set(callback_id, state="failed", attempts=12, last_status=500, next_at_ns=T0)
    result = cli("callbacks", "retry", str(callback_id))
    assert result.exit_code == 0, result.output
    assert f"callback {callback_id} (ACME): pending, due now" in result.output
    found = row(cli.engine, callback_id)
    assert (found.state, found.attempts) == ("pending", 0) and found.next_at_ns > T0
    [entry] = cli.audit()
    assert (entry.actor, entry.action, entry.target) == ("ops", "callback.retry",
                                                         f"callback {callback_id}")  # fmt: skip
    assert entry.detail == "ACME failed after 12 attempts (HTTP 500): pending again"


def test_retry_refuses_a_delivered_one_and_bad_arguments(cli):
    callback_id = queue(cli.engine, cli.acme, T0)
    cli.set(callback_id, state="delivered", attempts=1)
    for args, message in [
        ((str(callback_id),), f"callback {callback_id}: delivered, nothing to retry"),
        ((), "give a callback ID or --failed"),
        ((str(callback_id), "--failed"), "give a callback ID or --failed"),
        ((str(callback_id), "--business", "ACME"), "--business goes with --failed"),
    ]:
        result = cli("callbacks", "retry", *args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert row(cli.engine, callback_id).state == "delivered" and cli.audit() == []


def test_retry_failed_takes_every_failed_one_of_a_business(cli):
    ids = [queue(cli.engine, business, T0) for business in (cli.acme, cli.acme, cli.beta)]
    kept = queue(cli.engine, cli.acme, T0)
    for callback_id in ids:
        cli.set(callback_id, state="failed", attempts=12)
    cli.set(kept, state="delivered")
    result = cli("callbacks", "retry", "--failed", "--business", "ACME")
    assert result.exit_code == 0 and "2 failed callback(s) pending again" in result.output
    states = [row(cli.engine, i).state for i in (*ids, kept)]
    assert states == ["pending", "pending", "failed", "delivered"]
    assert cli("callbacks", "retry", "--failed").output.startswith("1 failed callback(s)")
    assert len(cli.audit()) == 3


def test_secret_is_the_one_callbacks_are_signed_with_and_rotates(cli):
    config = build_config({"service": {"state_dir": str(cli.state_dir)}})
    key = master_key(config)  # as the daemon made it at its first start
    result = cli("business", "secret", "ACME")
    assert result.exit_code == 0, result.output
    shown = result.output.splitlines()[-1]
    assert "version 1" in result.output
    assert bytes.fromhex(shown) == key.business_secret("ACME", 1)
    assert bytes.fromhex(shown) == receiver_secret(cli.state_dir / "api_callback_key", "ACME", 1)
    rotated = cli("business", "secret", " acme ", "--rotate")
    assert rotated.exit_code == 0 and "version 2" in rotated.output
    assert bytes.fromhex(rotated.output.splitlines()[-1]) == key.business_secret("ACME", 2)
    actions = [(e.action, e.target, e.actor) for e in cli.audit()]
    assert actions == [("business.secret.show", "ACME", "ops"),
                       ("business.secret.rotate", "ACME", "ops"),
                       ("business.secret.show", "ACME", "ops")]  # fmt: skip
    assert all(shown not in e.detail for e in cli.audit())


def test_secret_refusals_are_one_line(cli):
    missing_key = cli("business", "secret", "ACME")
    assert missing_key.exit_code == 2 and "no callback key yet" in missing_key.output
    assert not (cli.state_dir / "api_callback_key").exists()
    master_key(build_config({"service": {"state_dir": str(cli.state_dir)}}))
    unknown = cli("business", "secret", "NOPE", "--rotate")
    assert unknown.exit_code == 2 and "business NOPE: no such business" in unknown.output
    bad = cli("business", "secret", "1-X")
    assert bad.exit_code == 2 and "business code '1-X': 2 to 32 letters" in bad.output
    assert cli.audit() == []
