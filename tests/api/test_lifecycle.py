"""The request lifecycle's idempotency (daemon.api.lifecycle): an X-CorrelationID sent again with
the same body is the same request; with another body a duplicateRequest; forgotten after the
retention; two accepts racing for one id meet the unique constraint and the loser reads the winner's.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, select, text

from daemon.api import lifecycle
from daemon.api.errors import ApiError
from daemon.api.lifecycle import Accepted, accept_txn, complete_txn, forget_txn
from daemon.schema import api_callbacks, api_requests
from tests.api.businesses import add_business
from tests.api.world import ApiWorld
from tests.daemon.conftest import pg_engine  # noqa: F401  (the fixture)

DAY_NS = 86_400 * 10**9


def _accept(engine: Engine, business_id: int, now_ns: int, body: dict | None = None,
            client_id: str = "c-1", retention_days: float = 7) -> Accepted:  # fmt: skip
    with engine.begin() as conn:
        return _accept_txn(conn, business_id, now_ns, body, client_id, retention_days)


def _accept_txn(conn, business_id, now_ns, body=None, client_id="c-1", retention_days=7.0):
    return accept_txn(
        conn, business_id=business_id, client_correlation_id=client_id, operation="transfer",
        method="POST", path="/transactions/type/transfer", body=body or {"amount": "1.00"},
        callback_url="http://127.0.0.1:9/cb", now_ns=now_ns, retention_days=retention_days,
    )  # fmt: skip


def test_the_same_id_and_body_is_the_same_request(api_world: ApiWorld) -> None:
    business, _ = add_business(api_world)
    first = _accept(api_world.engine, business.id, api_world.now_ns, {"amount": "1.00", "a": [1]})
    again = _accept(
        api_world.engine, business.id, api_world.now_ns + 5, {"a": [1], "amount": "1.00"}
    )
    assert (first.replay, again.replay) == (False, True)
    assert again.request == first.request


def test_another_body_under_the_same_id_is_a_duplicate_request(api_world: ApiWorld) -> None:
    business, _ = add_business(api_world)
    _accept(api_world.engine, business.id, api_world.now_ns, {"amount": "1.00"})
    with pytest.raises(ApiError) as refused:
        _accept(api_world.engine, business.id, api_world.now_ns, {"amount": "2.00"})
    assert (refused.value.code, refused.value.status) == ("duplicateRequest", 400)
    assert refused.value.parameters == {"X-CorrelationID": "c-1"}


def test_ids_are_per_business(api_world: ApiWorld) -> None:
    acme, _ = add_business(api_world)
    beta, _ = add_business(api_world, "BETA")
    first = _accept(api_world.engine, acme.id, api_world.now_ns)
    other = _accept(api_world.engine, beta.id, api_world.now_ns, {"amount": "9.00"})
    assert not other.replay and other.request.id != first.request.id


def test_a_finished_request_replays_its_result(api_world: ApiWorld) -> None:
    business, _ = add_business(api_world)
    first = _accept(api_world.engine, business.id, api_world.now_ns)
    with api_world.engine.begin() as conn:
        complete_txn(conn, first.request, response={"ok": 1}, object_reference="T1",
                     now_ns=api_world.now_ns)  # fmt: skip
        with pytest.raises(ApiError, match="already finished"):
            complete_txn(conn, first.request, response={}, object_reference=None, now_ns=0)
        callbacks = conn.execute(select(api_callbacks)).all()
    again = _accept(api_world.engine, business.id, api_world.now_ns)
    assert again.replay and again.request.state == "completed"
    assert again.request.response == {"ok": 1}
    assert len(callbacks) == 1  # queued once, with the completion


def test_after_the_retention_the_id_is_forgotten(api_world: ApiWorld) -> None:
    business, _ = add_business(api_world)
    now = api_world.now_ns
    first = _accept(api_world.engine, business.id, now, retention_days=1)
    later = _accept(api_world.engine, business.id, now + DAY_NS, {"amount": "5.00"})
    assert not later.replay and later.request.id != first.request.id
    with api_world.engine.begin() as conn:
        query = select(api_requests.c.id, api_requests.c.client_correlation_id)
        ids = {row.id: row.client_correlation_id for row in conn.execute(query)}
    assert ids == {first.request.id: None, later.request.id: "c-1"}


def test_forget_deletes_finished_requests_past_retention_only(api_world: ApiWorld) -> None:
    business, _ = add_business(api_world)
    now = api_world.now_ns
    done = _accept(api_world.engine, business.id, now, client_id="done", retention_days=1)
    _accept(api_world.engine, business.id, now, client_id="pending", retention_days=1)
    with api_world.engine.begin() as conn:
        complete_txn(conn, done.request, response={}, object_reference=None, now_ns=now)
        assert forget_txn(conn, now + DAY_NS - 1, 10) == 0
        assert forget_txn(conn, now + DAY_NS, 10) == 1  # the pending one is kept
        left = conn.execute(select(api_requests.c.client_correlation_id)).scalars().all()
        orphan = conn.execute(select(api_callbacks.c.request_id)).scalar_one()
    assert left == ["pending"]
    assert orphan is None  # its callback stays, unlinked


def _race_loser(monkeypatch, engine: Engine, business_id: int, now_ns: int, body: dict):
    """An accept that did not see the winner's row when it looked, then met it on insert."""
    real = lifecycle._remembered_txn
    looks = []

    def not_yet(conn, *args):
        looks.append(args)
        return None if len(looks) == 1 else real(conn, *args)

    monkeypatch.setattr(lifecycle, "_remembered_txn", not_yet)
    result = _accept(engine, business_id, now_ns, body)
    assert len(looks) == 2  # looked again after the unique constraint refused the insert
    return result


def test_a_racing_accept_with_the_same_body_gets_the_winners_request(
    api_world: ApiWorld, monkeypatch
) -> None:
    business, _ = add_business(api_world)
    winner = _accept(api_world.engine, business.id, api_world.now_ns)
    loser = _race_loser(monkeypatch, api_world.engine, business.id, api_world.now_ns,
                        {"amount": "1.00"})  # fmt: skip
    assert loser.replay and loser.request == winner.request


def test_a_racing_accept_with_another_body_is_a_duplicate(api_world: ApiWorld, monkeypatch) -> None:
    business, _ = add_business(api_world)
    _accept(api_world.engine, business.id, api_world.now_ns)
    with pytest.raises(ApiError, match="duplicateRequest"):
        _race_loser(monkeypatch, api_world.engine, business.id, api_world.now_ns,
                    {"amount": "3.00"})  # fmt: skip
    with api_world.engine.begin() as conn:
        assert len(conn.execute(select(api_requests)).all()) == 1


def _waits_on_a_lock(engine: Engine, thread: threading.Thread) -> bool:
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    for _ in range(400):  # bounded: 20 s at most
        with engine.connect() as conn:
            if conn.execute(waiting).scalar_one():
                return True
        thread.join(0.05)
    return False


def test_two_connections_racing_on_postgresql(pg_engine: Engine) -> None:  # noqa: F811
    """The real race: the loser's INSERT waits on the winner's uncommitted row, fails when the
    winner commits, and reads the winner's request in the same transaction."""
    world = ApiWorld(pg_engine)
    business, _ = add_business(world)
    results: list[Accepted] = []
    with pg_engine.connect() as winner_conn:
        winner_tx = winner_conn.begin()
        won = _accept_txn(winner_conn, business.id, world.now_ns)
        loser = threading.Thread(
            target=lambda: results.append(_accept(pg_engine, business.id, world.now_ns))
        )
        loser.start()
        assert _waits_on_a_lock(pg_engine, loser)  # its INSERT waits on the winner's row
        winner_tx.commit()
    loser.join(10)
    assert not loser.is_alive()
    [lost] = results
    assert lost.replay and lost.request.id == won.request.id
