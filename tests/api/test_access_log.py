"""The access log (daemon.api.access_log): one row per answer, nothing secret in it, a failed write
never fails the answer, and housekeeping prunes old rows and forgets old requests."""

from __future__ import annotations

from sqlalchemy import Engine, select
from twisted.internet.defer import fail

from daemon.api.access_log import flush_access_log, housekeeping_work
from daemon.api.businesses import revoke_key_txn
from daemon.api.lifecycle import accept_txn, complete_txn, get_by_server_id_txn
from daemon.db import InlineDatabase
from daemon.schema import api_access
from tests.api.businesses import add_business, key_header
from tests.api.world import ApiWorld

DAY_S = 86_400
UNKNOWN = "/requeststates/00000000-0000-4000-8000-000000000000"


def rows(world: ApiWorld) -> list:
    """The rows, less the one of the OpenAPI document ApiWorld reads to check answers."""
    flush_access_log(world.api)  # the rows are written in batches
    query = select(api_access).where(api_access.c.operation_id != "openapiGET")
    with world.engine.begin() as conn:
        return conn.execute(query.order_by(api_access.c.id)).all()


def test_each_answer_is_one_row_saying_who_what_and_how_it_went(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    headers = key_header(key, **{"X-CorrelationID": "corr-9"})
    api_world.http("GET", UNKNOWN + "?x=1", headers=headers, remote_ip="10.0.0.7")
    api_world.http("GET", "/heartbeat")
    [authenticated, anonymous] = rows(api_world)
    assert authenticated.business_id == business.id
    assert authenticated.key_id == business.key_id
    assert authenticated.remote_ip == "10.0.0.7"
    assert (authenticated.method, authenticated.path) == ("GET", UNKNOWN)  # no query string
    assert authenticated.operation_id == "requeststatesServerCorrelationIdGET"
    assert authenticated.client_correlation_id == "corr-9"
    assert (authenticated.status, authenticated.error_code) == (404, "genericError")
    assert authenticated.at_ns == api_world.now_ns
    assert authenticated.duration_us >= 0
    assert (anonymous.business_id, anonymous.key_id, anonymous.status) == (None, None, 200)
    assert anonymous.operation_id == "heartbeatGET"


def test_a_refused_key_is_logged_by_its_public_id_never_its_text(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    with api_world.engine.begin() as conn:
        revoke_key_txn(conn, business.key_id, api_world.now_ns, "test")
    api_world.http("GET", UNKNOWN, headers=key_header(key))
    api_world.http("GET", UNKNOWN, headers=key_header("not-a-key-at-all"))
    [revoked, malformed] = rows(api_world)
    assert (revoked.business_id, revoked.key_id, revoked.status) == (None, business.key_id, 401)
    assert revoked.error_code == "clientAuthorisationError"
    assert malformed.key_id is None
    secret = key.rsplit("_", 1)[1]
    for row in (revoked, malformed):
        assert not any(secret in str(value) for value in row)
        assert not any("not-a-key-at-all" in str(value) for value in row)


def test_a_failed_log_write_never_fails_the_answer(api_world: ApiWorld) -> None:
    class NoLog(InlineDatabase):
        def run_interaction(self, desc, fn, *args):
            if desc == "api.access":
                return fail(RuntimeError("disk full"))
            return super().run_interaction(desc, fn, *args)

    api_world.api.db = NoLog(api_world.engine)
    answer = api_world.http("GET", "/heartbeat")
    assert answer.status == 200
    assert rows(api_world) == []


def test_housekeeping_prunes_old_rows_and_forgets_old_requests(engine: Engine) -> None:
    world = ApiWorld(engine, api={"access_log_days": 2, "idempotency_days": 3})
    business, _ = add_business(world)
    world.request("GET", "/heartbeat")
    with world.engine.begin() as conn:
        request = accept_txn(
            conn, business_id=business.id, client_correlation_id="c", operation="transfer",
            method="POST", path="/p", body={}, callback_url=None, now_ns=world.now_ns,
            retention_days=3,
        ).request  # fmt: skip
        complete_txn(conn, request, response={}, object_reference="T", now_ns=world.now_ns)
    work = housekeeping_work(world.api)
    world.advance(1 * DAY_S)
    world.request("GET", "/heartbeat")
    flush_access_log(world.api)
    world.advance(1.5 * DAY_S)

    def run() -> dict[str, int]:
        with world.engine.begin() as conn:
            counts, full = work(conn, world.now_ns)
        assert not full
        return counts

    assert run() == {"access_pruned": 1, "requests_forgotten": 0}
    assert len(rows(world)) == 1
    world.advance(0.5 * DAY_S)
    assert run() == {"access_pruned": 0, "requests_forgotten": 1}
    with world.engine.begin() as conn:
        assert get_by_server_id_txn(conn, request.server_correlation_id) is None


def test_housekeeping_says_full_when_a_step_was_full(engine: Engine) -> None:
    world = ApiWorld(engine, api={"access_log_days": 1, "housekeeping_batch_size": 2})
    for _ in range(3):
        world.request("GET", "/heartbeat")
    flush_access_log(world.api)
    world.advance(2 * DAY_S)
    work = housekeeping_work(world.api)
    with world.engine.begin() as conn:
        assert work(conn, world.now_ns) == ({"access_pruned": 2, "requests_forgotten": 0}, True)
    with world.engine.begin() as conn:
        assert work(conn, world.now_ns) == ({"access_pruned": 1, "requests_forgotten": 0}, False)
