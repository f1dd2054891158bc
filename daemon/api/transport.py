"""The API server's transport bounds: a body over [api] max_body_bytes refused as soon as that is
known (from Content-Length, before the body is read; a chunked one once past the limit) with a 400
lengthError errorObject and the connection closed, nothing spooled to disk; and a cap on the
connections open at once ([api] max_connections: one more is closed at once). The idle timeout
for reading a request is the Site's own ([api] request_timeout_s): twisted.web suspends it while a
request is being answered, so a stream or a long poll is not cut."""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IAddress
from twisted.protocols.policies import WrappingFactory
from twisted.web.server import Request, Site

from daemon.api.env import ApiEnv
from daemon.api.errors import ApiError, ErrorCategory
from daemon.api.routing import dump_json


class _Discard:
    """Where the body of a refused request goes: nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def tell(self) -> int:
        return 0

    def seek(self, *args: Any) -> int:
        return 0

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass


class BoundedRequest(Request):
    refused = False
    received_bytes = 0

    def _limit(self) -> int:
        return self.channel.site.api_env.config.api.max_body_bytes

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self._limit():
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.received_bytes += len(data)
        if self.received_bytes > self._limit():
            self.content.close()
            self._refuse()
            return
        super().handleContentChunk(data)

    def _refuse(self) -> None:
        """Answered on the transport directly (the request is not complete, so it cannot be
        answered the usual way) and the connection closed; twisted.web does the same with
        headers it cannot parse."""
        self.refused = True
        self.content = _Discard()
        env: ApiEnv = self.channel.site.api_env
        limit = env.config.api.max_body_bytes
        error = ApiError(ErrorCategory.VALIDATION, "lengthError", f"body over {limit} bytes")
        body = dump_json(error.body(env.now_ns()))
        head = (
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
        )
        self.channel.transport.write(head + body)
        self.channel.loseConnection()


class ConnectionCap(WrappingFactory):
    noisy = False  # no "Starting factory <... at 0x...>" line at info for every link or port

    def __init__(self, site: Site, max_connections: int) -> None:
        super().__init__(site)
        self.max_connections = max_connections

    def buildProtocol(self, addr: IAddress) -> Any:
        if len(self.protocols) >= self.max_connections:
            return None  # closed at once
        return super().buildProtocol(addr)
