"""GET /openapi.json: the document of every operation the site serves (daemon.api.openapi)."""

from __future__ import annotations

import smscore
from daemon.api.openapi import openapi_document
from daemon.api.routing import ROUTER, Call, Reply
from daemon.api.server import SERVED, public_url

TITLE = "smscore business API (GSMA Mobile Money API 1.2 subset) and app channels"


@ROUTER.op(
    "GET",
    "/openapi.json",
    "openapiGET",
    summary="This document",
    tag="Supporting",
    responses={200: {"type": "object"}},
)
def openapi(call: Call) -> Reply:
    document = openapi_document(
        call.env.services[SERVED],
        title=TITLE,
        version=smscore.__version__,
        server_url=public_url(call.env),
    )
    return Reply(200, document)
