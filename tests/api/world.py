"""The money World (tests/daemon/money_world.py) with the HTTP API in front of it, driven in-process:
requests go through twisted.web's own Request and Site into the real klein app (no socket), the
database runs inline and time is the World's own (`advance`). Tests over real sockets with an
independent client use the subprocess daemon of tests/e2e instead."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from sqlalchemy import Engine
from twisted.internet.address import IPv4Address
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from daemon.api.env import ApiEnv
from daemon.api.server import api_site
from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.money.settle import SettleEnv
from daemon.tranproc import TranProcEnv
from tests.api.conformance import Conformance
from tests.daemon.money_world import HASHER, NS, SHORT_CODE, World


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


class WorldClock:
    """The reactor-time view of the World's own clock (ApiEnv.now_ns reads `seconds()`)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def seconds(self) -> float:
        return self.world.now_ns / NS


class ApiWorld(World):
    def __init__(self, engine: Engine, api: dict | None = None, **sections: dict) -> None:
        super().__init__(engine)
        settings = {"sender": {"source_addr": SHORT_CODE}, "api": api or {}, **sections}
        self.config = build_config(settings)
        self.env = TranProcEnv.build(self.env.registry, self.config, HASHER)
        self.settle_env = SettleEnv(self.config, HASHER)
        self.db = InlineDatabase(engine)
        self.api = ApiEnv(self.config, WorldClock(self), self.db)  # type: ignore[arg-type]
        self.site = api_site(self.api)
        self._conformance: Conformance | None = None

    def http(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        remote_ip: str = "127.0.0.1",
    ) -> Answer:
        """One request through the whole app; the answer must be complete (no open stream)."""
        request = self.request(method, path, body, headers, remote_ip)
        assert request.finished, f"{method} {path}: no answer (a stream, or a Deferred waiting)"
        answer = answer_of(request)
        self.conformance().check(method, path, answer.status, answer.headers, answer.raw)
        return answer

    def conformance(self) -> Conformance:
        if self._conformance is None:
            request = self.request("GET", "/openapi.json")
            self._conformance = Conformance(answer_of(request).body)
        return self._conformance

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        remote_ip: str = "127.0.0.1",
    ) -> Request:
        """The request as sent (HTTP/1.0, so the body is not chunked), possibly still open: a
        stream or a long poll. `written(request)` reads what was sent so far."""
        channel = DummyChannel()
        channel.site = self.site
        channel.transport._peer = IPv4Address("TCP", remote_ip, 40000)  # what getPeer() answers
        request = Request(channel, False)
        request.sent_to = channel.transport  # the request forgets its channel once finished
        raw = (
            body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        )
        request.content = BytesIO(raw)
        for name, value in (headers or {}).items():
            request.requestHeaders.setRawHeaders(name, [value])
        if raw:
            request.requestHeaders.setRawHeaders("content-type", ["application/json"])
        request.requestReceived(method.encode(), path.encode(), b"HTTP/1.0")
        return request


def written(request: Request) -> bytes:
    """What the server wrote so far after the status line and headers."""
    sent = request.sent_to.written.getvalue()
    return sent.partition(b"\r\n\r\n")[2]


def answer_of(request: Request) -> Answer:
    raw = written(request)
    headers = {
        name.decode().lower(): values[-1].decode()
        for name, values in request.responseHeaders.getAllRawHeaders()
    }
    is_json = headers.get("content-type", "").startswith("application/json")
    body = json.loads(raw) if raw and is_json else raw.decode() if raw else None
    return Answer(request.code, body, headers, raw)
