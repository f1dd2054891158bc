"""An in-process daemon for the metrics tests: built by assemble_daemon on a MemoryReactorClock and an
in-line database, its one bind joined to an in-memory SMSC (tests/smscore/loopback.py), scraped by
the Prometheus text parser, its status routes answered without a socket."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.metrics.wiring import status_resource
from daemon.service import Daemon, assemble_daemon, esme_config
from smscore.client import PersistentBind, ReconnectPolicy
from smscore.pdu import PDU
from smscore.smsc import SMSCFactory
from smscore.status import CommandStatus
from tests.smscore.loopback import FakeEndpoint

BIND = {
    "name": "sim", "host": "127.0.0.1", "port": 2775, "system_id": "esme1", "password": "pw",
    "window": 4, "response_timeout_s": 10.0, "enquire_link_interval_s": 60.0,
}  # fmt: skip
START_S = 1_790_000_000.0  # a realistic epoch: received_at_ns and ages are real-looking numbers


def build_daemon(tmp_path: Path, engine: Engine, role: str = "all", **sections: Any) -> Daemon:
    settings: dict[str, Any] = {
        "service": {"state_dir": str(tmp_path / "state"), "role": role},
        "binds": [BIND] if role != "tranproc" else [],
        **sections,
    }
    reactor = MemoryReactorClock()
    reactor.advance(START_S)
    return assemble_daemon(build_config(settings), reactor, InlineDatabase(engine))


@dataclass
class Smsc:
    """The in-memory SMSC the daemon's bind talks to; `answer` picks each submit_sm's status."""

    clock: MemoryReactorClock
    answers: list[int] = field(default_factory=list)  # statuses for the next submits, then OK
    silent: bool = False  # submits get no answer at all (they stay in the window)
    factory: SMSCFactory = field(init=False)
    endpoint: FakeEndpoint = field(init=False)

    def __post_init__(self) -> None:
        self.factory = SMSCFactory(self.clock, lambda bind, peer: CommandStatus.ESME_ROK, self._on)
        self.endpoint = FakeEndpoint(self.clock, self.factory)

    def _on(self, protocol: Any, pdu: PDU) -> PDU | Deferred | None:
        if self.silent:
            return Deferred()
        status = self.answers.pop(0) if self.answers else CommandStatus.ESME_ROK
        return pdu.make_response(status, message_id="a1")

    def deliver(self, pdu: PDU) -> Deferred:
        [protocol] = self.factory.receivers()
        return protocol.deliver(pdu)


def join_smsc(daemon: Daemon) -> Smsc:
    """Replace the daemon's bind by one to an in-memory SMSC, and bind it."""
    assert daemon.pool is not None and daemon.inbox is not None
    smsc = Smsc(daemon.reactor)  # type: ignore[arg-type]
    settings = daemon.config.binds[0]
    bind = PersistentBind(
        daemon.reactor,
        settings.name,
        smsc.endpoint,
        esme_config(settings),
        daemon.inbox.handler_for(settings.name),
        ReconnectPolicy(1.0, 10.0),
        jitter=lambda: 0.0,
    )
    daemon.pool.binds = {settings.name: bind}
    bind.start()
    smsc.endpoint.pump()
    return smsc


def settle(daemon: Daemon, smsc: Smsc | None = None, seconds: float = 0.05) -> None:
    """Let timers run (the inbox's group commit...) and bytes flow."""
    for _ in range(3):
        daemon.reactor.advance(seconds)  # type: ignore[attr-defined]
        if smsc is not None:
            smsc.endpoint.pump()


def scrape(daemon: Daemon) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by (sample name, its labels)."""
    code, headers, body = get(daemon, b"metrics")
    assert code == 200 and headers.startswith("text/plain; version=0.0.4"), (code, headers)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def get(daemon: Daemon, *path: bytes) -> tuple[int, str, bytes]:
    """GET /<path> on the daemon's status routes: (code, content-type, body)."""
    request = DummyRequest(list(path))
    resource = getChildForRequest(status_resource(daemon), request)
    rendered = resource.render(request)
    if rendered != NOT_DONE_YET:
        request.write(rendered)
        request.finish()
    assert request.finished, "the answer did not come (the in-line database answers at once)"
    content_type = request.responseHeaders.getRawHeaders(b"content-type", [b""])[0].decode()
    return request.responseCode or 200, content_type, b"".join(request.written)
