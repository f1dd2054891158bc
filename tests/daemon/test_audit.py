"""The audit log, agent numbers and the masking of identity numbers, below the CLI."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.admin.accounts import mask_id_number
from daemon.admin.env import AdminEnv
from daemon.admin.stores import (
    AGENT_NUMBER_ATTEMPTS,
    NewIdentity,
    NoFreeAgentNumber,
    add_agent_txn,
    new_agent_number_txn,
)
from daemon.audit import AuditError, check_actor, list_txn, operator_name, record_txn
from daemon.config import load_config
from daemon.subscribers import list_subscribers_txn

NS = 1_000_000_000
NOW = 1_700_000_000 * NS


def test_entries_are_listed_newest_first_by_target_and_limit(engine):
    with engine.begin() as conn:
        first = record_txn(conn, "ops", "freeze", "254712000001", "state active -> frozen", NOW)
        second = record_txn(conn, "kyc", "tier", "254712000002", "tier 1 -> 2", NOW + NS)
        third = record_txn(conn, "ops", "unfreeze", "254712000001", "", NOW + 2 * NS)
        everything = list_txn(conn)
        of_one = list_txn(conn, target="254712000001")
        latest = list_txn(conn, limit=1)
    assert [entry.id for entry in everything] == [third, second, first]
    assert [entry.id for entry in of_one] == [third, first]
    assert [entry.id for entry in latest] == [third]
    assert (everything[1].actor, everything[1].action, everything[1].at_ns) == (
        "kyc",
        "tier",
        NOW + NS,
    )
    assert everything[1].move_ref is None


@pytest.mark.parametrize(
    ("actor", "action", "target"),
    [("", "freeze", "x"), ("x" * 49, "freeze", "x"), ("ops", "", "x"), ("ops", "a" * 33, "x")],
)
def test_an_entry_that_cannot_be_stored_whole_is_refused(engine, actor, action, target):
    with engine.begin() as conn, pytest.raises(AuditError):
        record_txn(conn, actor, action, target, "", NOW)


def test_the_operator_is_the_login_name(monkeypatch):
    monkeypatch.setenv("LOGNAME", "wanjiru")
    assert operator_name() == "wanjiru"
    assert check_actor("  wanjiru ") == "wanjiru"


def env_with_digits(tmp_path, digits: int) -> AdminEnv:
    overrides = {
        "money": {"agent_number_digits": digits},
        "security": {"pin_pepper_file": str(tmp_path / "pepper")},
    }
    return AdminEnv(load_config(None, overrides), "ops")


def test_many_agents_get_distinct_agent_numbers_of_the_configured_length(engine, tmp_path):
    env = env_with_digits(tmp_path, 4)  # 9,000 numbers: 200 stores draw some twice
    with engine.begin() as conn:
        for index in range(200):
            agent = NewIdentity(f"254712{index:06d}", f"store {index}", "1234")
            add_agent_txn(conn, env, agent, 0, NOW)
        numbers = [found.agent_number for found in list_subscribers_txn(conn)]
    assert len(numbers) == len(set(numbers)) == 200
    assert all(len(n) == 4 and n.isdigit() and not n.startswith("0") for n in numbers)


def test_a_drawn_number_already_taken_is_drawn_again(engine, tmp_path):
    env = env_with_digits(tmp_path, 6)
    with engine.begin() as conn:
        add_agent_txn(conn, env, NewIdentity("254712000001", "A", "1234"), 0, NOW)
        taken = list_subscribers_txn(conn)[0].agent_number
        offset = int(taken) - 100_000
        draws = iter([offset, offset, 0])
        assert new_agent_number_txn(conn, 6, draw=lambda _n: next(draws)) == "100000"
        ranges = []

        def always_taken(size: int) -> int:
            ranges.append(size)
            return offset

        with pytest.raises(NoFreeAgentNumber, match="raise \\[money\\] agent_number_digits"):
            new_agent_number_txn(conn, 6, draw=always_taken)
    # Drawn among the 900,000 six-digit numbers that do not start with 0, a bounded number of times.
    assert ranges == [900_000] * AGENT_NUMBER_ATTEMPTS


@given(st.text(min_size=0, max_size=40))
def test_an_id_number_shows_only_its_last_three_characters(id_number):
    masked = mask_id_number(id_number)
    assert len(masked) == len(id_number)
    if len(id_number) > 3:
        assert masked == "*" * (len(id_number) - 3) + id_number[-3:]
    else:
        assert masked == "*" * len(id_number)  # too short to show any of it
