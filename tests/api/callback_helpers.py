"""What the callback tests share: a business row, a queued callback (through the daemon's own
daemon.api.callback_queue, as complete_txn queues one), a fake HTTP layer the test scripts, and a
receiver's check of a signature from the key file alone (no daemon code)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select
from twisted.internet.defer import Deferred, succeed

from daemon.api.callback_queue import queue_callback_txn
from daemon.api.callback_rows import Attempt
from daemon.schema import api_callbacks, businesses

CORRELATION_ID = "3f1c1d2e-8a4b-4c5d-9e6f-7a8b9c0d1e2f"
BODY = b'{"transactionReference":"QK7A2B9XYZ","transactionStatus":"completed"}'


def add_business_row(conn: Connection, code: str = "ACME", now_ns: int = 0) -> int:
    """A bare businesses row (the callbacks need only its id, code and secret_version)."""
    values = {"code": code, "name": f"{code} Ltd", "msisdn": f"2547{int(hashlib.sha256(code.encode()).hexdigest(), 16) % 10**8:08d}",
              "state": "active", "allowed_ips": "[]", "secret_version": 1,
              "created_at_ns": now_ns, "updated_at_ns": now_ns}  # fmt: skip
    return conn.execute(insert(businesses).values(values).returning(businesses.c.id)).scalar_one()


def queue(
    engine: Engine,
    business_id: int,
    now_ns: int,
    url: str = "https://receiver.example/callbacks",
    body: bytes = BODY,
    correlation_id: str | None = CORRELATION_ID,
) -> int:
    with engine.begin() as conn:
        return queue_callback_txn(
            conn, business_id=business_id, request_id=None, url=url,
            client_correlation_id=correlation_id, body=body, now_ns=now_ns,
        )  # fmt: skip


def row(engine: Engine, callback_id: int):
    with engine.connect() as conn:
        return conn.execute(select(api_callbacks).where(api_callbacks.c.id == callback_id)).one()


@dataclass
class Put:
    url: str
    headers: dict[str, str]
    body: bytes
    at_s: float


@dataclass
class FakeHttp:
    """Answers each PUT with `answer(put)`: an Attempt, or a Deferred the test fires later."""

    now: Callable[[], float]
    answer: Callable[[Put], Attempt | Deferred] = lambda put: Attempt(204)
    puts: list[Put] = field(default_factory=list)
    closed: bool = False

    def put(self, url: str, headers: Mapping[str, str], body: bytes) -> Deferred:
        sent = Put(url, dict(headers), body, self.now())
        self.puts.append(sent)
        answer = self.answer(sent)
        return answer if isinstance(answer, Deferred) else succeed(answer)

    def close(self) -> Deferred:
        self.closed = True
        return succeed(None)


def receiver_secret(key_file: Path, code: str, secret_version: int) -> bytes:
    """The business's secret as the documentation tells a receiver (from the hex it is shown);
    here derived from the key file the way daemon.api.callback_keys says."""
    master = bytes.fromhex(key_file.read_text().strip())
    message = b"smscore callback v1|" + code.encode() + b"|" + str(secret_version).encode()
    return hmac.new(master, message, hashlib.sha256).digest()


def signature_valid(secret: bytes, date: str, body: bytes, header: str) -> bool:
    """As the README tells a receiver: HMAC-SHA256 over X-Date, a newline, then the body."""
    signed = date.encode("ascii") + b"\n" + body
    expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
