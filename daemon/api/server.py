"""The HTTP server of the business API and the app channels: every route module imported (each
declares its operations on daemon.api.routing.ROUTER), one klein app, one twisted.web Site."""

from __future__ import annotations

import importlib

from twisted.web.server import Site

from daemon.api.env import ApiEnv
from daemon.api.routing import ROUTER, Router

# Each declares its operations (and its components, daemon.api.components) when imported.
ROUTE_MODULES = (
    "daemon.api.docs",
    "daemon.api.auth",
    "daemon.api.preauth",
    "daemon.api.supporting",
    "daemon.api.transactions",
    "daemon.api.accounts",
    "daemon.api.access_log",
    "daemon.channels.routes",
    "daemon.api.callbacks",
)


def load_routes() -> Router:
    for name in ROUTE_MODULES:
        importlib.import_module(name)
    return ROUTER


def api_site(env: ApiEnv) -> Site:
    site = Site(load_routes().klein_app(env).resource())
    site.displayTracebacks = False  # an error is an errorObject, never a traceback
    return site


def public_url(env: ApiEnv) -> str:
    return (
        env.config.api.public_url
        or f"http://{env.services.get('listening', env.config.api.listen)}"
    )
