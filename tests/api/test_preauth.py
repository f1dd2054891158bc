"""Unauthenticated traffic costs the database nothing it can be made to repeat (review 15, finding
1): a malformed key is refused on the reactor, a per-address bucket refuses a flood with 429 before
any query, and the access log is written in batches, bounded."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from twisted.internet.task import Clock

from daemon.api.access_log import access_buffer, access_log_flusher, flush_access_log
from daemon.api.env import ApiEnv
from daemon.schema import api_access
from tests.api.businesses import add_business, key_header
from tests.api.world import ApiWorld

UNKNOWN = "/requeststates/00000000-0000-4000-8000-000000000000"


def _db_calls(world: ApiWorld, desc: str) -> int:
    return sum(1 for call in world.db.calls if call == desc)


def _logged(world: ApiWorld) -> int:
    with world.engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(api_access)).scalar_one()


def test_a_malformed_key_is_refused_without_a_query(engine: Engine) -> None:
    world = ApiWorld(engine, api={"preauth_burst": 5000})
    world.conformance()
    for _ in range(50):
        assert world.http("GET", UNKNOWN, headers=key_header("nonsense")).status == 401
    assert _db_calls(world, "api.auth") == 0


def test_a_flood_of_bad_keys_is_refused_with_429_before_any_query(engine: Engine) -> None:
    world = ApiWorld(engine, api={"preauth_rate_per_s": 1, "preauth_burst": 10})
    _, key = add_business(world)
    bad = key[:-4] + "zzzz"  # well formed, looked up, wrong
    answers = [world.http("GET", UNKNOWN, headers=key_header(bad), remote_ip="10.9.9.9")
               for _ in range(1000)]  # fmt: skip
    statuses = [answer.status for answer in answers]
    assert statuses.count(401) <= 10 and statuses.count(429) >= 990
    assert answers[-1].headers["retry-after"] == "1"
    assert _db_calls(world, "api.auth") <= 10
    # another address is not held back, and a valid key from the flooded one is not charged
    assert world.http("GET", UNKNOWN, headers=key_header(key), remote_ip="10.1.1.1").status == 404
    world.advance(1)
    for _ in range(5):
        assert (
            world.http("GET", UNKNOWN, headers=key_header(key), remote_ip="10.9.9.9").status == 404
        )


def test_a_flood_of_junk_token_requests_is_refused_before_any_query(engine: Engine) -> None:
    world = ApiWorld(engine, api={"preauth_rate_per_s": 1, "preauth_burst": 10})
    body = {"deviceId": "0011223344556677", "timestamp": 1, "signature": "AAAA"}
    statuses = [world.http("POST", "/channels/token", body).status for _ in range(200)]
    assert statuses.count(429) >= 190
    assert _db_calls(world, "channels.token") <= 10


def test_the_access_log_is_written_in_batches(engine: Engine) -> None:
    world = ApiWorld(engine, api={"access_log_batch_rows": 50, "preauth_burst": 5000})
    world.conformance()
    flush_access_log(world.api)
    before = _db_calls(world, "api.access")
    for _ in range(120):
        world.http("GET", "/heartbeat")
    assert _db_calls(world, "api.access") - before == 2  # 2 batches of 50; 20 still buffered
    flush_access_log(world.api)
    assert _db_calls(world, "api.access") - before == 3
    assert _logged(world) == 121  # the document's row too


def test_a_full_buffer_drops_and_counts(engine: Engine) -> None:
    world = ApiWorld(
        engine,
        api={"access_log_batch_rows": 2000, "access_log_buffer_rows": 100, "preauth_burst": 5000},
    )
    world.conformance()
    for _ in range(150):
        world.http("GET", "/heartbeat")
    buffer = access_buffer(world.api)
    assert len(buffer.rows) == 100
    assert buffer.dropped == 51
    flush_access_log(world.api)
    assert _logged(world) == 100


def test_the_flusher_writes_every_interval(engine: Engine) -> None:
    world = ApiWorld(engine, api={"access_log_flush_ms": 500})
    world.conformance()
    clock = Clock()
    env = ApiEnv(world.config, clock, world.db)
    env.services = world.api.services
    flusher = access_log_flusher(env)
    assert flusher is not None
    flusher.start()
    world.http("GET", "/heartbeat")
    assert _logged(world) == 0
    clock.advance(0.5)
    assert _logged(world) == 2
    assert flusher.status().counters["access_dropped"] == 0
    flusher.stop()
