"""The HTTP server of the business API and the app channels: every route module imported (each
declares its operations on daemon.api.routing.ROUTER), one klein app of the enabled sections' operations ([api] enabled: the business API;
[channels] enabled: /channels/...), one twisted.web Site."""

from __future__ import annotations

import importlib

from twisted.web.server import Site

from daemon.api.env import ApiEnv
from daemon.api.routing import ROUTER, Operation, Router
from daemon.api.transport import BoundedRequest, ConnectionCap
from daemon.config_api import ApiConfig

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
    "daemon.channels.stream",
    "daemon.channels.push",
    "daemon.api.callbacks",
    "daemon.api.batches",
)


def load_routes() -> Router:
    for name in ROUTE_MODULES:
        importlib.import_module(name)
    return ROUTER


def section_of(operation: Operation) -> str:
    """Which switch serves it: "channels" ([channels] enabled), "api" ([api] enabled), "docs"."""
    if operation.path == "/openapi.json":
        return "docs"
    return "channels" if operation.path.startswith("/channels/") else "api"


def served_operations(env: ApiEnv) -> list[Operation]:
    """The operations of the enabled sections (what the site routes and the document lists)."""
    config = env.config
    on = {"docs": True, "api": config.api.enabled, "channels": config.channels.enabled}
    return [operation for operation in load_routes().operations if on[section_of(operation)]]


def api_site(env: ApiEnv) -> Site:
    from daemon.api import docs  # imported by load_routes; it imports this module

    operations = served_operations(env)
    docs.prepare(env, operations)
    resource = ROUTER.klein_app(env, operations).resource()
    site = Site(resource, requestFactory=BoundedRequest, timeout=env.config.api.request_timeout_s)
    site.api_env = env  # BoundedRequest's limit and clock
    site.displayTracebacks = False  # an error is an errorObject, never a traceback
    site.noisy = (
        False  # no "Starting factory <...>" line at info (ConnectionCap says nothing either)
    )
    return site


def api_factory(site: Site, api: ApiConfig) -> ConnectionCap:
    """What the server listens with: the site, at most [api] max_connections open at once."""
    return ConnectionCap(site, api.max_connections)


def public_url(env: ApiEnv) -> str:
    return (
        env.config.api.public_url
        or f"http://{env.services.get('listening', env.config.api.listen)}"
    )
