"""run_in_transaction: transient errors are retried a bounded number of times, after a back-off."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from daemon.db import InlineDatabase, RetryBackoff, run_in_transaction


def locked() -> OperationalError:
    return OperationalError("UPDATE x", {}, Exception("database is locked"))


class Flaky:
    """Fails with `errors` (one per call) before it succeeds; remembers how often it ran."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, conn) -> int:  # type: ignore[no-untyped-def]
        self.calls += 1
        conn.execute(text("SELECT 1"))
        if self.errors:
            raise self.errors.pop(0)
        return 42


def recording_backoff(**fields) -> tuple[RetryBackoff, list[float]]:  # type: ignore[no-untyped-def]
    slept: list[float] = []
    highest = lambda low, high: high  # noqa: E731 (the jitter's upper end: delays are exact)
    return RetryBackoff(sleep=slept.append, uniform=highest, **fields), slept


def test_transient_errors_are_retried_after_growing_delays(engine):
    backoff, slept = recording_backoff(base_s=0.1, cap_s=10.0)
    work = Flaky(locked(), locked(), locked())
    assert run_in_transaction(engine, 5, "test", work, backoff=backoff) == 42
    assert work.calls == 4
    assert slept == pytest.approx([0.1, 0.2, 0.4])


def test_delays_are_capped(engine):
    backoff, slept = recording_backoff(base_s=0.1, cap_s=0.3)
    run_in_transaction(engine, 5, "test", Flaky(*[locked()] * 4), backoff=backoff)
    assert slept == pytest.approx([0.1, 0.2, 0.3, 0.3])


def test_retries_are_bounded_then_the_error_is_raised(engine):
    backoff, slept = recording_backoff()
    work = Flaky(*[locked()] * 10)
    with pytest.raises(OperationalError):
        run_in_transaction(engine, 3, "test", work, backoff=backoff)
    assert work.calls == 4 and len(slept) == 3


def test_other_errors_are_not_retried_and_do_not_wait(engine):
    backoff, slept = recording_backoff()
    work = Flaky(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    with pytest.raises(IntegrityError):
        run_in_transaction(engine, 3, "test", work, backoff=backoff)
    assert work.calls == 1 and slept == []


def test_the_database_runner_backs_off_with_its_own_sleeper(engine):
    backoff, slept = recording_backoff(base_s=0.02)
    db = InlineDatabase(engine, max_retries=2, backoff=backoff)
    results: list[int] = []
    db.run_interaction("test", Flaky(locked())).addCallback(results.append)
    assert results == [42] and slept == pytest.approx([0.02])


@given(
    base_s=st.floats(0.001, 1.0),
    cap_s=st.floats(0.001, 30.0),
    retry=st.integers(1, 40),
    fraction=st.floats(0.0, 1.0),
)
def test_a_delay_is_between_half_and_all_of_the_capped_exponential(base_s, cap_s, retry, fraction):
    backoff = RetryBackoff(
        base_s=base_s, cap_s=cap_s, uniform=lambda low, high: low + (high - low) * fraction
    )
    ceiling_s = min(cap_s, base_s * 2 ** (retry - 1))
    assert ceiling_s / 2 <= backoff.delay_s(retry) <= ceiling_s * (1 + 1e-9)
