"""The "business" authenticator (daemon.api.auth), through a real operation that needs a key (GET
/requeststates/{id}, whose 404 for an unknown id shows the key was admitted)."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from daemon.api.auth import KEY_TOUCH_INTERVAL_NS, RateLimiter, TokenBucket
from daemon.api.businesses import (
    revoke_key_txn,
    set_allowed_ips_txn,
    set_rate_limit_txn,
    set_state_txn,
)
from daemon.api.principal import BusinessState
from daemon.schema import api_keys
from tests.api.businesses import add_business, key_header
from tests.api.world import ApiWorld

UNKNOWN = "/requeststates/00000000-0000-4000-8000-000000000000"


def _get(world: ApiWorld, key: str | None, ip: str = "127.0.0.1"):
    return world.http("GET", UNKNOWN, headers=key_header(key) if key else {}, remote_ip=ip)


def _refused(answer, words: str) -> None:
    assert answer.status == 401, answer.body
    assert answer.body["errorCategory"] == "authorisation"
    assert answer.body["errorCode"] == "clientAuthorisationError"
    assert words in answer.body["errorDescription"]


def test_a_valid_key_is_admitted(api_world: ApiWorld) -> None:
    _, key = add_business(api_world)
    answer = _get(api_world, key)
    assert answer.status == 404  # admitted: the unknown request is what is not found
    assert answer.body["errorCategory"] == "identification"


def test_no_key_is_refused(api_world: ApiWorld) -> None:
    _refused(_get(api_world, None), "X-API-Key header is missing")


def test_a_wrong_secret_is_refused_like_an_unknown_key(api_world: ApiWorld) -> None:
    _, key = add_business(api_world)
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    _refused(_get(api_world, wrong), "not a key of this service")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=string.printable.strip() + "_", min_size=1, max_size=80))
def test_malformed_keys_are_refused_in_one_answer(api_world: ApiWorld, text: str) -> None:
    answer = _get(api_world, text)
    _refused(answer, "not a key of this service")
    assert answer.body["errorDescription"] == "X-API-Key is not a key of this service"
    assert "errorParameters" not in answer.body  # a presented key is never echoed


def test_a_revoked_key_is_refused_from_the_next_request(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    assert _get(api_world, key).status == 404
    with api_world.engine.begin() as conn:
        revoke_key_txn(conn, business.key_id, api_world.now_ns, "test")
    _refused(_get(api_world, key), f"API key {business.key_id} is revoked")


def test_a_suspended_business_is_refused_until_reinstated(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    with api_world.engine.begin() as conn:
        set_state_txn(conn, business.code, BusinessState.SUSPENDED, api_world.now_ns, "test")
    _refused(_get(api_world, key), "business ACME is suspended")
    with api_world.engine.begin() as conn:
        set_state_txn(conn, business.code, BusinessState.ACTIVE, api_world.now_ns, "test")
    assert _get(api_world, key).status == 404


def test_only_allowed_addresses_may_call(api_world: ApiWorld) -> None:
    business, key = add_business(api_world, allowed_ips=["10.1.0.0/16", "2001:db8::/32"])
    assert _get(api_world, key, ip="10.1.2.3").status == 404
    _refused(_get(api_world, key, ip="10.2.0.1"), "address 10.2.0.1 is not in business ACME's")
    with api_world.engine.begin() as conn:
        set_allowed_ips_txn(conn, business.code, [], api_world.now_ns, "test")
    assert _get(api_world, key, ip="10.2.0.1").status == 404


def test_the_rate_limit_answers_429_with_retry_after(api_world: ApiWorld) -> None:
    _, key = add_business(api_world, rate_limit_per_s=0.5, rate_limit_burst=2)
    assert [_get(api_world, key).status for _ in range(2)] == [404, 404]
    limited = _get(api_world, key)
    assert limited.status == 429
    assert limited.body["errorCategory"] == "businessRule"
    assert limited.body["errorCode"] == "rateLimitError"
    assert limited.headers["retry-after"] == "2"  # one token every 2 s
    api_world.advance(2)
    assert _get(api_world, key).status == 404
    assert _get(api_world, key).status == 429


def test_each_business_has_its_own_bucket(api_world: ApiWorld) -> None:
    _, acme = add_business(api_world, rate_limit_per_s=1, rate_limit_burst=1)
    _, other = add_business(api_world, "BETA", rate_limit_per_s=1, rate_limit_burst=1)
    assert _get(api_world, acme).status == 404
    assert _get(api_world, acme).status == 429
    assert _get(api_world, other).status == 404


def test_a_changed_rate_limit_applies_at_once(api_world: ApiWorld) -> None:
    business, key = add_business(api_world, rate_limit_per_s=1, rate_limit_burst=1)
    assert _get(api_world, key).status == 404
    assert _get(api_world, key).status == 429
    with api_world.engine.begin() as conn:
        set_rate_limit_txn(conn, business.code, 1000.0, 5, api_world.now_ns, "test")
    api_world.advance(0.01)  # 10 tokens at the new rate, capped at the new burst
    assert [_get(api_world, key).status for _ in range(6)] == [404] * 5 + [429]


def test_the_default_rate_limit_comes_from_the_config(engine) -> None:
    world = ApiWorld(engine, api={"rate_limit_per_s": 1.0, "rate_limit_burst": 3})
    _, key = add_business(world)
    assert [_get(world, key).status for _ in range(4)] == [404, 404, 404, 429]


def test_last_used_is_written_at_most_once_a_minute(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)

    def last_used() -> int | None:
        with api_world.engine.begin() as conn:
            query = select(api_keys.c.last_used_at_ns).where(api_keys.c.key_id == business.key_id)
            return conn.execute(query).scalar_one()

    assert last_used() is None
    first_ns = api_world.now_ns
    _get(api_world, key)
    assert last_used() == first_ns
    api_world.advance(30)
    _get(api_world, key)
    assert last_used() == first_ns
    touches = api_world.db.calls.count("api.key_used")
    api_world.advance(KEY_TOUCH_INTERVAL_NS / 1e9)
    _get(api_world, key)
    assert last_used() == api_world.now_ns
    assert api_world.db.calls.count("api.key_used") == touches + 1


def test_a_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=3, tokens=3.0, updated_s=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == 0.5
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.tokens == 2.0  # capped at the burst before the take


def test_a_clock_going_back_gives_no_tokens() -> None:
    limiter = RateLimiter()
    assert limiter.take(1, 1.0, 1, 100.0) == 0.0
    assert limiter.take(1, 1.0, 1, 50.0) > 0


def test_a_caller_without_a_key_learns_nothing_of_the_schema(api_world: ApiWorld) -> None:
    """Authentication comes before the body is parsed or validated (review 15, finding 13)."""
    for body in (b"not json", b"[" * 10_000, {"amount": "x"}):
        answer = api_world.http("POST", "/transactions/type/transfer", body)
        _refused(answer, "header is missing")


def test_a_429_status_line_has_its_reason_phrase(api_world: ApiWorld) -> None:
    _, key = add_business(api_world, rate_limit_per_s=0.5, rate_limit_burst=1)
    _get(api_world, key)
    limited = api_world.request("GET", UNKNOWN, headers=key_header(key))
    status_line = limited.sent_to.written.getvalue().split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.0 429 Too Many Requests"  # twisted alone: "Unknown Status"
