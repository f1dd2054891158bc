"""The fraud rules one by one, straight on the database (no TranProc): velocity windows and the
anomaly score under hypothesis, the registry, the channel, SIM swap boundaries, the feed file."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from daemon.commands.msisdn import Numbering
from daemon.config import ConfigError, build_config
from daemon.money.moves import MoveKind
from daemon.schema import moves
from daemon.security.anomaly import anomaly_score
from daemon.security.fraud import RULES, Channel, Txn, rule, screen_txn
from daemon.security.fraud_config import FraudConfig
from daemon.security.sim_swaps import SimSwapError, Swap, read_feed, record_swap_txn
from tests.daemon.fraud_world import ALICE, BOB, enrol_device

NS = 10**9
NOW = 1_764_590_400 * NS
_refs = itertools.count()


def add_move(conn, at_ns, amount_minor, kind="send", state="posted", payer=ALICE, payee=BOB):
    conn.execute(
        insert(moves).values(
            ref=f"R{next(_refs):09d}", kind=kind, state=state, payer_msisdn=payer,
            payee_msisdn=payee, amount_minor=amount_minor, fee_minor=0, commission_minor=0,
            legs=1, created_at_ns=at_ns,
        )
    )  # fmt: skip


def txn(amount_minor, kind=MoveKind.SEND, channel=Channel.PLAIN, payee=BOB):
    return Txn(kind, ALICE, payee, amount_minor, NOW, channel=channel)


def only(**section) -> FraudConfig:
    """A [fraud] config where only the given rules are on (each dict: that rule's keys)."""
    off = {name: {"enabled": False} for name in ("sim_swap", "pin_failures", "plain_text")}
    return build_config({"fraud": {**off, **section}}).fraud


# --- velocity: hypothesis over moves anywhere around the window

PERIOD_S = 600.0
VELOCITY = {"enabled": True, "period_s": PERIOD_S, "max_count": 3, "max_value_minor": 5_000}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    earlier=st.lists(
        st.tuples(st.integers(0, int(2 * PERIOD_S)), st.integers(1, 3_000), st.booleans()),
        max_size=6,
    ),
    amount=st.integers(1, 6_000),
)
def test_velocity_counts_exactly_the_moves_inside_the_window(engine, earlier, amount):
    config = only(velocity=VELOCITY)
    with engine.begin() as conn:
        conn.execute(delete(moves))
        for age_s, value, moved in earlier:
            add_move(conn, NOW - age_s * NS, value, state="posted" if moved else "declined")
        hit = screen_txn(conn, txn(amount), config)
    inside = [v for age_s, v, moved in earlier if moved and age_s <= PERIOD_S]
    expected = len(inside) + 1 > 3 or sum(inside) + amount > 5_000
    assert (hit is not None) == expected
    assert hit is None or hit.rule == "velocity"


def test_velocity_ignores_money_in_and_other_payers(engine):
    config = only(velocity=VELOCITY)
    with engine.begin() as conn:
        for _ in range(5):
            add_move(conn, NOW - NS, 100, kind="deposit", payer="254722000100", payee=ALICE)
            add_move(conn, NOW - NS, 100, payer=BOB, payee=ALICE)
        assert screen_txn(conn, txn(100), config) is None


# --- the anomaly score

history_amounts = st.lists(st.integers(100, 100_000), min_size=5, max_size=30)


def spread_history(amounts, step_s=86_400):
    return [(NOW - (i + 1) * step_s * NS, amount) for i, amount in enumerate(amounts)]


@given(history_amounts, st.integers(1, 10**7), st.integers(1, 10**7))
def test_a_larger_amount_never_scores_lower(amounts, one, other):
    history = spread_history(amounts)
    low, high = sorted((one, other))
    assert anomaly_score(history, low, NOW, 3600 * NS) <= anomaly_score(
        history, high, NOW, 3600 * NS
    )


@given(history_amounts, st.integers(1, 10**7), st.integers(-(10**6), 10**6))
def test_the_score_does_not_depend_on_the_clock_only_on_ages(amounts, amount, shift_s):
    history = spread_history(amounts)
    moved = [(at_ns + shift_s * NS, value) for at_ns, value in history]
    assert anomaly_score(history, amount, NOW, 3600 * NS) == pytest.approx(
        anomaly_score(moved, amount, NOW + shift_s * NS, 3600 * NS)
    )


@given(history_amounts)
def test_the_usual_amount_at_the_usual_pace_scores_nothing(amounts):
    mean = sum(amounts) // len(amounts)
    assert anomaly_score(spread_history(amounts), mean, NOW, 3600 * NS) == 0.0


@given(st.lists(st.integers(100, 100_000), max_size=4), st.integers(1, 10**7))
def test_too_little_history_gives_no_score(amounts, amount):
    assert anomaly_score(spread_history(amounts), amount, NOW, 3600 * NS, min_history=5) is None


def test_a_burst_scores_on_frequency_alone():
    history = spread_history([1_000] * 10) + [(NOW - 60 * NS * i, 1_000) for i in range(1, 6)]
    score = anomaly_score(history, 1_000, NOW, 3600 * NS)
    assert score > 4  # six in an hour against about one a day
    assert anomaly_score(history, 1_000, NOW, 3600 * NS, frequency_weight=0) == 0.0


def test_the_anomaly_rule_reads_the_payers_history(engine):
    config = only(anomaly={"enabled": True})
    with engine.begin() as conn:
        for at_ns, amount in spread_history([1_000, 1_200, 900, 1_100, 1_000]):
            add_move(conn, at_ns, amount)
        assert screen_txn(conn, txn(1_100), config) is None
        hit = screen_txn(conn, txn(50_000), config)
    assert hit is not None and hit.rule == "anomaly" and hit.score > 4


# --- SIM swap boundaries, plain text and the channel


def test_sim_swap_cooldown_boundaries(engine):
    config = only(sim_swap={"enabled": True, "cooldown_hours": 24.0, "max_minor": 1_000})
    with engine.begin() as conn:
        record_swap_txn(conn, Swap(ALICE, NOW - 24 * 3600 * NS + NS), "staff:x", "x", NOW)
        assert screen_txn(conn, txn(1_001), config).rule == "sim_swap"  # a second inside
        assert screen_txn(conn, txn(1_000), config) is None  # the small amount is allowed
        later = Txn(MoveKind.SEND, ALICE, BOB, 1_001, NOW + NS)
        assert screen_txn(conn, later, config) is None  # exactly 24 h: over
        assert record_swap_txn(conn, Swap(ALICE, NOW), "feed:x", "x", NOW)
        assert not record_swap_txn(conn, Swap(ALICE, NOW), "feed:x", "x", NOW)  # once only


def test_a_swap_dated_in_the_future_does_not_count_yet(engine):
    config = only(sim_swap={"enabled": True})
    with engine.begin() as conn:
        record_swap_txn(conn, Swap(ALICE, NOW + 3600 * NS), "feed:x", "x", NOW)
        assert screen_txn(conn, txn(10**6), config) is None


def test_the_app_channel_is_not_limited_like_plain_text(engine):
    config = only(plain_text={"enabled": True})
    world = SimpleNamespace(engine=engine, now_ns=NOW)
    enrol_device(world, ALICE)
    with engine.begin() as conn:
        assert screen_txn(conn, txn(config.plain_text_max_minor + 1), config).rule == "plain_text"
        assert screen_txn(conn, txn(config.plain_text_max_minor), config) is None
        assert screen_txn(conn, txn(10**7, channel=Channel.APP), config) is None


# --- the registry and the config


def test_rules_are_declared_once_and_run_in_order():
    assert list(RULES)[:2] == ["sim_swap", "plain_text"]
    with pytest.raises(ValueError, match="declared twice"):
        rule("velocity", lambda config: True)(lambda conn, txn, config: None)


def test_a_bad_fraud_key_is_one_line_naming_it():
    with pytest.raises(ConfigError, match=r"fraud\.velocity\.max_count: Input should be"):
        build_config({"fraud": {"velocity": {"max_count": "3"}}})
    with pytest.raises(ConfigError, match=r"fraud\.sim_swap\.hours: unknown key"):
        build_config({"fraud": {"sim_swap": {"hours": 3}}})


# --- the carrier feed


def test_a_feed_file_is_read_with_its_times(tmp_path):
    feed = tmp_path / "swaps.csv"
    feed.write_text(
        "msisdn,swapped_at\n0712000001,2025-12-01T09:30:00+03:00\n\n+254712000002,1764570600\n"
    )
    swaps = read_feed(feed, Numbering("KE"), "Africa/Nairobi")
    assert swaps == [Swap(ALICE, 1_764_570_600 * NS), Swap(BOB, 1_764_570_600 * NS)]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("number,when\n", "line 1: the header must be msisdn,swapped_at"),
        ("msisdn,swapped_at\n0712000001\n", "line 2: expected 2 columns, got 1"),
        ("msisdn,swapped_at\nabc,2025-12-01\n", "line 2: msisdn 'abc'"),
        ("msisdn,swapped_at\n0712000001,2025-12-01\n0712000002,yesterday\n", "line 3: swapped_at"),
    ],
)
def test_a_bad_feed_is_one_line_naming_the_line(tmp_path, text, problem):
    feed = tmp_path / "swaps.csv"
    feed.write_text(text)
    with pytest.raises(SimSwapError, match=problem) as raised:
        read_feed(feed, Numbering("KE"), "Africa/Nairobi")
    assert str(raised.value).startswith(str(feed)) and "\n" not in str(raised.value)
