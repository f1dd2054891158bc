"""`[api] enabled = false` switches the business API's routes off and `[channels] enabled = false`
the channels' (review 15, finding 6); the document lists only what is served."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.api.world import ApiWorld, answer_of

TRANSFER = "/transactions/type/{transactionType}"
TOKEN = "/channels/token"


def _unserved(world: ApiWorld, method: str, path: str, body: object = None) -> int:
    """The status of a path the document does not list (so not checked against it)."""
    return answer_of(world.request(method, path, body)).status


def _paths(world: ApiWorld) -> set[str]:
    return set(world.http("GET", "/openapi.json").body["paths"])


def test_the_business_api_off_leaves_the_channels(engine: Engine) -> None:
    world = ApiWorld(engine, api={"enabled": False})
    assert _unserved(world, "POST", "/transactions/type/transfer", {}) == 404
    assert _unserved(world, "GET", "/heartbeat") == 404
    assert world.http("POST", TOKEN, {}).status == 400  # served: the body is refused
    paths = _paths(world)
    assert TRANSFER not in paths and "/heartbeat" not in paths
    assert TOKEN in paths and "/openapi.json" in paths


def test_the_channels_off_leave_the_business_api(engine: Engine) -> None:
    world = ApiWorld(engine, channels={"enabled": False})
    assert _unserved(world, "POST", TOKEN, {}) == 404
    assert world.http("GET", "/heartbeat").status == 200
    paths = _paths(world)
    assert TOKEN not in paths and not any(path.startswith("/channels/") for path in paths)
    assert TRANSFER in paths
