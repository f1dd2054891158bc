"""The API worker as a component: the roles that run it, its runs on the reactor's clock, one
request's failure kept to its own savepoint, and requests waiting for a customer never making a
run look full."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from twisted.internet.task import Clock

from daemon.api import lifecycle
from daemon.api.components import api_components
from daemon.api.env import ApiEnv
from daemon.api.server import load_routes
from daemon.api.worker import (
    EXECUTORS,
    MAX_ATTEMPTS,
    Work,
    register_executor,
    run_batch_txn,
)
from daemon.config import build_config
from daemon.db import InlineDatabase
from tests.api.businesses import add_business
from tests.api.tx_helpers import ALICE, BOB, add_till, pay, post, request_of, wallet
from tests.api.world import ApiWorld
from tests.daemon.money_world import NS

KES = 100


def components(engine: Engine, role: str, **api: object) -> list[str]:
    load_routes()
    config = build_config({"api": api})
    env = ApiEnv(config, Clock(), InlineDatabase(engine))
    return [component.name for component in api_components(env, role)]


def test_the_worker_runs_where_the_tranproc_runs(engine) -> None:
    assert "api.worker" in components(engine, "tranproc")
    assert "api.worker" in components(engine, "all")
    assert "api.worker" not in components(engine, "lis")
    assert "api.worker" not in components(engine, "all", enabled=False)


def test_the_component_completes_requests_on_its_clock(api_world: ApiWorld) -> None:
    _, key = add_business(api_world, balance_minor=100 * KES)
    api_world.add(ALICE)
    answer = post(api_world, key, "disbursement", pay("10"))
    clock = Clock()
    clock.advance(api_world.now_ns / NS)
    env = ApiEnv(api_world.config, clock, InlineDatabase(api_world.engine))
    [worker] = [c for c in api_components(env, "tranproc") if c.name == "api.worker"]
    worker.start()
    clock.advance(0)
    assert request_of(api_world, answer).state.value == "completed"
    assert worker.status().counters["done"] == 1
    second = post(api_world, key, "disbursement", pay("20"))
    clock.advance(api_world.config.api.worker_interval_s)
    assert request_of(api_world, second).state.value == "completed"
    worker.stop()
    assert api_world.balance(ALICE) == 30 * KES
    api_world.check()


@pytest.fixture
def boom():
    @register_executor("boom")
    def explode(work: Work) -> None:
        raise RuntimeError("a bug")

    yield
    EXECUTORS.pop("boom")


def test_a_bug_fails_its_own_request_only(api_world: ApiWorld, boom) -> None:
    business, key = add_business(api_world, balance_minor=100 * KES)
    api_world.add(ALICE)
    with api_world.engine.begin() as conn:
        broken = lifecycle.accept_txn(
            conn, business_id=business.id, client_correlation_id=None, operation="boom",
            method="POST", path="/boom", body={}, callback_url=None, now_ns=api_world.now_ns,
            retention_days=1,
        ).request  # fmt: skip
    answer = post(api_world, key, "disbursement", pay("10"))
    with api_world.engine.begin() as conn:
        counts, full = run_batch_txn(conn, api_world.config, api_world.now_ns, 10)
    assert (counts["done"], counts["failed"], full) == (1, 1, False)
    with api_world.engine.begin() as conn:
        failed = lifecycle.get_by_server_id_txn(conn, broken.server_correlation_id)
    assert failed.error["errorCategory"] == "internal"
    assert "bug" not in failed.error["errorDescription"]  # no internals to the client
    assert request_of(api_world, answer).state.value == "completed"


def test_waiting_requests_never_make_a_run_full(api_world: ApiWorld) -> None:
    business, key = add_business(api_world)
    add_till(api_world, business.msisdn)
    for number in (ALICE, BOB, "254711000003"):
        api_world.add(number)
        body = {"amount": "5", "currency": "KES", "debitParty": wallet(number)}
        post(api_world, key, "merchantpay", body)
    with api_world.engine.begin() as conn:
        _, full = run_batch_txn(conn, api_world.config, api_world.now_ns, 2)
    assert full  # two of three started
    with api_world.engine.begin() as conn:
        _, full = run_batch_txn(conn, api_world.config, api_world.now_ns, 2)
    assert not full  # the third started; the waiting ones are looked at, not counted
    assert len(api_world.texts_to("254711000003")) == 1
    assert len(api_world.texts_to(ALICE)) == 1  # asked once


@pytest.fixture
def broken_sql():
    @register_executor("broken_sql")
    def bad_statement(work: Work) -> None:
        work.conn.execute(text("SELECT * FROM no_such_table"))  # the same error every time

    yield
    EXECUTORS.pop("broken_sql")


def test_a_database_error_every_time_fails_its_request_only(api_world, broken_sql) -> None:
    business, key = add_business(api_world, balance_minor=100 * KES)
    api_world.add(ALICE)
    with api_world.engine.begin() as conn:
        broken = lifecycle.accept_txn(
            conn, business_id=business.id, client_correlation_id=None, operation="broken_sql",
            method="POST", path="/broken", body={}, callback_url=None, now_ns=api_world.now_ns,
            retention_days=1,
        ).request  # fmt: skip
    answers = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        answers.append(post(api_world, key, "disbursement", pay("1")))
        with api_world.engine.begin() as conn:
            counts, _ = run_batch_txn(conn, api_world.config, api_world.now_ns, 10)
        assert counts["done"] == 1  # the rest of the batch proceeds
        with api_world.engine.begin() as conn:
            found = lifecycle.get_by_server_id_txn(conn, broken.server_correlation_id)
        assert found.state.value == ("failed" if attempt == MAX_ATTEMPTS else "pending")
    assert (found.error["errorCategory"], found.error["errorCode"]) == ("internal", "genericError")
    assert all(request_of(api_world, a).state.value == "completed" for a in answers)
    assert api_world.balance(ALICE) == MAX_ATTEMPTS * KES


def test_a_transient_database_error_retries_the_whole_run(api_world) -> None:
    locked = OperationalError("UPDATE", {}, Exception("database is locked"))

    @register_executor("locked")
    def contended(work: Work) -> None:
        raise locked

    try:
        business, _ = add_business(api_world)
        with api_world.engine.begin() as conn:
            lifecycle.accept_txn(
                conn, business_id=business.id, client_correlation_id=None, operation="locked",
                method="POST", path="/locked", body={}, callback_url=None,
                now_ns=api_world.now_ns, retention_days=1,
            )  # fmt: skip
        with pytest.raises(OperationalError), api_world.engine.begin() as conn:
            run_batch_txn(conn, api_world.config, api_world.now_ns, 10)
    finally:
        EXECUTORS.pop("locked")
