"""A callback over real HTTP: the daemon (a subprocess) PUTs to a receiver on 127.0.0.1 (the
standard library's http.server in a thread) that is down at first (its port closed, so the
attempts are refused and retried with backoff) and started later; the callback then arrives once,
with the headers and a signature the business verifies with the secret `smscore admin business
secret` prints.

The business is made with daemon.api.businesses and its request accepted and completed in the
daemon's database with daemon.api.lifecycle's own accept_txn and complete_txn (which queues the
callback in the completing transaction), so this test does not depend on one business API flow;
the flows' own e2e tests reach the same row through POST /transactions.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from daemon.api.businesses import create_business_txn
from daemon.api.lifecycle import accept_txn, canonical_json, complete_txn
from daemon.components import pin_hasher
from daemon.schema import api_callbacks
from ledger import make_engine
from tests.api.callback_helpers import CORRELATION_ID
from tests.e2e.harness import SMSCORE, DaemonProcess, daemon_settings, free_port, wait_for

API = {
    "callback_interval_s": 0.1,
    "callback_first_retry_s": 0.3,
    "callback_backoff": 2.0,
    "callback_max_interval_s": 2.0,
    "callback_timeout_s": 2.0,
    "callback_max_attempts": 30,
}


class Receiver:
    """A business's callback endpoint: records each PUT (headers, body) and answers 204."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                # Names are case-insensitive (HTTP); twisted writes X-Correlationid.
                named = {name.lower(): value for name, value in self.headers.items()}
                received.append((named, self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())  # nothing listens there until the test starts it
    try:
        yield found
    finally:
        found.stop()


RESPONSE = {
    "transactionReference": "QK7A2B9XYZ",
    "transactionStatus": "completed",
    "amount": "15.00",
}


def complete_a_request(daemon: DaemonProcess, engine, callback_url: str) -> int:
    """A business's request accepted and completed as the API's worker does; the callback's id."""
    config = daemon.config
    now_ns = time.time_ns()
    with engine.begin() as conn:
        business = create_business_txn(
            conn, code="ACME", name="Acme Ltd", msisdn="254790000001",
            currency=config.service.currency, now_ns=now_ns, hasher=pin_hasher(config),
        )  # fmt: skip
        accepted = accept_txn(
            conn, business_id=business.id, client_correlation_id=CORRELATION_ID,
            operation="merchantpay", method="POST", path="/transactions/type/merchantpay",
            body={"amount": "15.00", "currency": config.service.currency},
            callback_url=callback_url, now_ns=now_ns, retention_days=1.0,
        )  # fmt: skip
        complete_txn(
            conn, accepted.request, response=RESPONSE, object_reference="QK7A2B9XYZ",
            now_ns=now_ns,
        )  # fmt: skip
        query = select(api_callbacks.c.id).where(api_callbacks.c.request_id == accepted.request.id)
        return conn.execute(query).scalar_one()


def admin(daemon: DaemonProcess, *args: str) -> str:
    command = [str(SMSCORE), "admin", *args, "--config", str(daemon.config_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_callback_reaches_a_receiver_that_was_down_once_and_signed(tmp_path, simulator, receiver):
    url = f"sqlite:///{tmp_path / 'callbacks.db'}"
    settings = daemon_settings(tmp_path / "state", url, simulator.port, api=API)
    daemon = DaemonProcess(tmp_path, settings).start()
    engine = make_engine(url)
    try:
        daemon.wait_ready()
        key_file = tmp_path / "state" / "api_callback_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # made at the first start
        callback_url = f"http://127.0.0.1:{receiver.port}/callbacks/transactions"
        callback_id = complete_a_request(daemon, engine, callback_url)

        def state():
            with engine.connect() as conn:
                query = select(api_callbacks).where(api_callbacks.c.id == callback_id)
                return conn.execute(query).one()

        def refused_thrice():
            found = state()  # pending again: the third attempt is over, not under way
            return found.state == "pending" and found.attempts >= 3 and found

        refused = wait_for(refused_thrice, 20, "3 refused attempts")
        assert refused.last_status is None
        assert "refused" in (refused.last_error or "").lower()
        assert receiver.received == []
        receiver.start()
        done = wait_for(lambda: (found := state()).state == "delivered" and found, 20, "delivered")
        assert done.last_status == 204 and done.attempts > refused.attempts
        [(headers, body)] = receiver.received  # once
        assert body == canonical_json(RESPONSE)
        assert headers["content-type"] == "application/json"
        assert headers["x-correlationid"] == CORRELATION_ID
        assert headers["x-date"].endswith("Z")
        secret_hex = admin(daemon, "business", "secret", "ACME", "--actor", "ops")
        secret = bytes.fromhex(secret_hex.splitlines()[-1])
        signed = headers["x-date"].encode() + b"\n" + body  # the README's recipe
        expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-signature"], expected)
        listed = admin(daemon, "callbacks", "list", "--state", "delivered")
        assert callback_url in listed and "1 delivered" in listed
        assert secret.hex() not in daemon.log() and key_file.read_text().strip() not in daemon.log()
    finally:
        engine.dispose()
        assert daemon.stop() == 0, daemon.log()
