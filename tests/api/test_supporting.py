"""The supporting API (daemon.api.supporting): GET /heartbeat, GET /requeststates/{id} and GET
/responses/{clientCorrelationId}, with requests accepted through daemon.api.lifecycle directly (the
operations that accept them are other modules')."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from twisted.internet.defer import fail

from daemon.api.errors import ApiError, ErrorCategory
from daemon.api.lifecycle import ApiRequest, accept_txn, complete_txn, fail_txn, set_pending_txn
from daemon.api.principal import Business
from daemon.db import InlineDatabase
from tests.api.businesses import add_business, key_header
from tests.api.world import ApiWorld

PUBLIC = "http://127.0.0.1:8790"


def accept(world: ApiWorld, business: Business, client_id: str | None = "c-1",
           operation: str = "disbursement", callback_url: str | None = None) -> ApiRequest:  # fmt: skip
    with world.engine.begin() as conn:
        return accept_txn(
            conn, business_id=business.id, client_correlation_id=client_id, operation=operation,
            method="POST", path=f"/transactions/type/{operation}", body={"amount": "10.00"},
            callback_url=callback_url, now_ns=world.now_ns,
            retention_days=world.config.api.idempotency_days,
        ).request  # fmt: skip


def complete(world: ApiWorld, request: ApiRequest, reference: str) -> None:
    with world.engine.begin() as conn:
        complete_txn(conn, request, response={"transactionReference": reference},
                     object_reference=reference, now_ns=world.now_ns)  # fmt: skip


# --- heartbeat


def test_the_heartbeat_says_available(api_world: ApiWorld) -> None:
    answer = api_world.http("GET", "/heartbeat")
    assert answer.status == 200
    assert answer.body == {"serviceStatus": "available", "delay": 0}


def test_the_heartbeat_is_degraded_while_a_request_waits_for_the_worker(
    api_world: ApiWorld,
) -> None:
    business, _ = add_business(api_world)
    request = accept(api_world, business)
    api_world.advance(31)
    answer = api_world.http("GET", "/heartbeat")
    assert answer.body == {"serviceStatus": "degraded", "delay": 31_000}
    with api_world.engine.begin() as conn:  # now waiting for the customer, not the worker
        set_pending_txn(conn, request, api_world.now_ns, reason="waiting for the customer")
    assert api_world.http("GET", "/heartbeat").body["serviceStatus"] == "available"


def test_the_heartbeat_is_503_when_the_database_does_not_answer(
    api_world: ApiWorld, tmp_path
) -> None:
    class Down(InlineDatabase):
        def run_interaction(self, desc, fn, *args):
            return fail(OperationalError("SELECT 1", {}, Exception("connection refused")))

    api_world.api.db = Down(api_world.engine)
    answer = api_world.http("GET", "/heartbeat")
    assert answer.status == 503
    assert answer.body["errorCategory"] == "serviceUnavailable"
    assert answer.body["errorDescription"] == "the database does not answer"


# --- request states


def test_a_request_state_is_pending_then_completed(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    request = accept(api_world, business)
    path = f"/requeststates/{request.server_correlation_id}"
    answer = api_world.http("GET", path, headers=key_header(key))
    assert answer.status == 200
    assert answer.body == {
        "serverCorrelationId": request.server_correlation_id,
        "status": "pending",
        "notificationMethod": "polling",
        "pollLimit": 100,
    }
    complete(api_world, request, "T123")
    answer = api_world.http("GET", path, headers=key_header(key))
    assert answer.body["status"] == "completed"
    assert answer.body["objectReference"] == "T123"


def test_a_failed_request_state_carries_its_error(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    request = accept(api_world, business, callback_url="http://127.0.0.1:9/cb")
    refusal = ApiError(ErrorCategory.BUSINESS_RULE, "insufficientFunds", "not enough")
    with api_world.engine.begin() as conn:
        fail_txn(conn, request, refusal, api_world.now_ns)
    path = f"/requeststates/{request.server_correlation_id}"
    answer = api_world.http("GET", path, headers=key_header(key))
    assert answer.body["status"] == "failed"
    assert answer.body["notificationMethod"] == "callback"
    assert answer.body["error"]["errorCode"] == "insufficientFunds"


def test_another_business_never_sees_a_request_state(api_world: ApiWorld) -> None:
    business, _ = add_business(api_world)
    _, other = add_business(api_world, "BETA")
    request = accept(api_world, business)
    path = f"/requeststates/{request.server_correlation_id}"
    answer = api_world.http("GET", path, headers=key_header(other))
    assert answer.status == 404
    assert answer.body["errorCategory"] == "identification"


def test_polls_past_the_poll_limit_are_refused(engine: Engine) -> None:
    world = ApiWorld(engine, api={"poll_limit": 2})
    business, key = add_business(world)
    request = accept(world, business)
    path = f"/requeststates/{request.server_correlation_id}"
    answers = [world.http("GET", path, headers=key_header(key)) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 400]
    assert answers[0].body["pollLimit"] == 2
    assert answers[2].body["errorCode"] == "rateLimitError"
    assert "GET /responses/" in answers[2].body["errorDescription"]


def test_a_request_state_needs_a_key(api_world: ApiWorld) -> None:
    answer = api_world.http("GET", "/requeststates/x")
    assert answer.status == 401


# --- responses


def test_a_lost_response_links_to_the_request_state_then_to_the_transaction(
    api_world: ApiWorld,
) -> None:
    business, key = add_business(api_world)
    request = accept(api_world, business, client_id="order-17")
    answer = api_world.http("GET", "/responses/order-17", headers=key_header(key))
    assert answer.status == 200
    assert answer.body == {"link": f"{PUBLIC}/requeststates/{request.server_correlation_id}"}
    complete(api_world, request, "T0017")
    answer = api_world.http("GET", "/responses/order-17", headers=key_header(key))
    assert answer.body == {"link": f"{PUBLIC}/transactions/T0017"}


def test_a_completed_batch_links_to_the_batch(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    request = accept(api_world, business, client_id="b-1", operation="batch")
    complete(api_world, request, "B42")
    answer = api_world.http("GET", "/responses/b-1", headers=key_header(key))
    assert answer.body == {"link": f"{PUBLIC}/batchtransactions/B42"}


def test_responses_are_the_business_own_and_forgotten_after_retention(
    api_world: ApiWorld,
) -> None:
    business, key = add_business(api_world)
    _, other = add_business(api_world, "BETA")
    accept(api_world, business, client_id="order-1")
    assert api_world.http("GET", "/responses/order-1", headers=key_header(other)).status == 404
    assert api_world.http("GET", "/responses/nope", headers=key_header(key)).status == 404
    api_world.advance(api_world.config.api.idempotency_days * 86_400)
    answer = api_world.http("GET", "/responses/order-1", headers=key_header(key))
    assert answer.status == 404
    assert answer.body["errorParameters"] == [{"key": "clientCorrelationId", "value": "order-1"}]
