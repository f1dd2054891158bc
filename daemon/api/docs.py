"""GET /openapi.json: the document of every operation the site serves (daemon.api.openapi).

The document is built once, with the site (`prepare`): building it walks every model's JSON schema
(~100 ms), too long for the reactor on each request. A request serves the cached bytes; the only
part that can change after start-up, the server's address (known once it listens), is filled in
on the first request after it changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import smscore
from daemon.api.env import ApiEnv
from daemon.api.openapi import openapi_document
from daemon.api.routing import ROUTER, Call, Operation, Reply, dump_json
from daemon.api.server import public_url

TITLE = "smscore business API (GSMA Mobile Money API 1.2 subset) and app channels"
_SERVICE = __name__


@dataclass
class DocumentCache:
    document: dict
    served: dict[str, bytes] = field(default_factory=dict)  # server URL -> the bytes

    def bytes_for(self, server_url: str) -> bytes:
        found = self.served.get(server_url)
        if found is None:
            self.served.clear()  # one address at a time
            found = dump_json({**self.document, "servers": [{"url": server_url}]})
            self.served[server_url] = found
        return found


def prepare(env: ApiEnv, operations: list[Operation]) -> None:
    document = openapi_document(
        operations, title=TITLE, version=smscore.__version__, server_url=public_url(env)
    )
    env.services[_SERVICE] = DocumentCache(document)


@ROUTER.op(
    "GET",
    "/openapi.json",
    "openapiGET",
    summary="This document",
    tag="Supporting",
    responses={200: {"type": "object"}},
)
def openapi(call: Call) -> Reply:
    cache: DocumentCache = call.env.services[_SERVICE]
    return Reply(200, cache.bytes_for(public_url(call.env)))
