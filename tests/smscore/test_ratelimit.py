"""TokenBucket: the per-bind TPS limit on injected time."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscore.ratelimit import TokenBucket


def test_burst_then_one_token_per_interval():
    bucket = TokenBucket(10, burst=3, now_s=0)
    assert [bucket.try_take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s(0) == pytest.approx(0.1)
    assert not bucket.try_take(0.09)
    assert bucket.try_take(0.1)


def test_default_burst_is_a_tenth_of_a_second_of_rate_but_at_least_one():
    assert TokenBucket(5).burst == 1
    assert TokenBucket(100).burst == 10


def test_idle_time_never_banks_more_than_the_burst():
    bucket = TokenBucket(10, burst=2, now_s=0)
    taken = sum(bucket.try_take(1000) for _ in range(10))
    assert taken == 2


def test_a_clock_going_backwards_adds_nothing_and_the_rate_holds_from_there():
    bucket = TokenBucket(10, burst=1, now_s=100)
    assert bucket.try_take(100)
    assert not bucket.try_take(50)  # wall clocks do jump back (NTP); no tokens for it
    assert not bucket.try_take(50.05)
    assert bucket.try_take(50.1)


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (10, 0.5)])
def test_invalid_settings_are_refused(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


@given(
    rate=st.floats(min_value=0.1, max_value=5000),
    start=st.floats(min_value=0, max_value=4e9),  # up to epoch seconds: coarse floats
)
def test_waiting_exactly_wait_s_always_yields_a_token(rate, start):
    bucket = TokenBucket(rate, burst=1, now_s=start)
    now = start
    assert bucket.try_take(now)
    for _ in range(20):
        wait_s = bucket.wait_s(now)
        assert wait_s > 0
        now += wait_s
        assert bucket.try_take(now), (rate, now)


@given(
    rate=st.integers(min_value=1, max_value=1000),
    steps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate, steps):
    bucket = TokenBucket(rate, now_s=0)
    now = 0.0
    taken = 0
    for step in steps:
        now += step
        while bucket.try_take(now):
            taken += 1
    assert taken <= bucket.burst + rate * now + 1e-6
