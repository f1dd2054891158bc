"""The batches' step (daemon.api.batch_worker): items queued once even when two processes race,
a batch completed once, and the step running by itself on the reactor where the worker runs."""

from __future__ import annotations

from twisted.internet.task import Clock

from daemon.api.batch_store import BatchState, batch_by_id_txn, get_batch_txn
from daemon.api.batch_worker import batch_worker, finish_batch_txn, queue_batch_txn
from daemon.api.env import ApiEnv
from daemon.db import InlineDatabase
from tests.api.batch_world import (
    batch_request,
    callbacks_of,
    created_batch,
    decide,
    item_requests,
    payroll,
    run_items,
    salaries,
    step,
    view,
)
from tests.api.world import ApiWorld

CALLBACK = {"X-Callback-URL": "http://127.0.0.1:9/batches"}


def test_a_process_that_read_the_batch_before_another_queued_it_queues_nothing(
    api_world: ApiWorld,
) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20"))
    decide(api_world, acme.checker, batch_id)
    with api_world.engine.begin() as conn:
        stale = get_batch_txn(conn, acme.business.id, batch_id)  # read by both, queued: 0
        assert queue_batch_txn(conn, stale, api_world.now_ns, 10, 7.0) == 2
        assert queue_batch_txn(conn, stale, api_world.now_ns, 10, 7.0) == 0  # the second process
    assert len(item_requests(api_world)) == 2


def test_a_batch_is_completed_once_when_two_processes_finish_it(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10"), **CALLBACK)
    decide(api_world, acme.checker, batch_id)
    step(api_world)
    run_items(api_world)
    with api_world.engine.begin() as conn:
        stale = get_batch_txn(conn, acme.business.id, batch_id)
        assert finish_batch_txn(conn, stale, api_world.now_ns) == 1
        assert finish_batch_txn(conn, stale, api_world.now_ns) == 0
        assert batch_by_id_txn(conn, stale.id).state is BatchState.COMPLETED
    assert len(callbacks_of(api_world, batch_request(api_world, batch_id).id)) == 1


def test_a_batch_with_an_item_still_running_is_not_completed(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20"))
    decide(api_world, acme.checker, batch_id)
    assert step(api_world, batch_size=1) == {"items_queued": 1, "batches_completed": 0}
    run_items(api_world)  # the first item paid, the second not yet queued
    assert step(api_world, batch_size=1) == {"items_queued": 1, "batches_completed": 0}
    batch = view(api_world, acme.maker, batch_id).body
    assert (batch["batchStatus"], batch["completedCount"]) == ("approved", 1)
    assert batch_request(api_world, batch_id).state == "pending"
    run_items(api_world)
    assert step(api_world) == {"items_queued": 0, "batches_completed": 1}


def test_the_step_runs_by_itself_every_worker_interval(api_world: ApiWorld) -> None:
    acme = payroll(api_world)
    batch_id = created_batch(api_world, acme.maker, salaries("10", "20"))
    decide(api_world, acme.checker, batch_id)
    clock = Clock()
    clock.advance(api_world.now_ns / 10**9)
    env = ApiEnv(api_world.config, clock, InlineDatabase(api_world.engine))
    component = batch_worker(env)
    assert component is not None
    component.start()
    try:
        clock.advance(0)
        assert len(item_requests(api_world)) == 2
        run_items(api_world)
        clock.advance(api_world.config.api.worker_interval_s)
        assert batch_request(api_world, batch_id).state == "completed"
        assert component.status().counters["batches_completed"] == 1
    finally:
        component.stop()


def test_no_step_when_the_api_is_off(api_world: ApiWorld) -> None:
    config = api_world.config.model_copy(
        update={"api": api_world.config.api.model_copy(update={"enabled": False})}
    )
    env = ApiEnv(config, Clock(), InlineDatabase(api_world.engine))
    assert batch_worker(env) is None
