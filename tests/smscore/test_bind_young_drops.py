"""A link that drops soon after its bind succeeded counts as a failed attempt: an SMSC that takes
every bind and then breaks the link (found with the hostile SMSC, tests/e2e/test_hostile_smsc.py)
is retried with a growing delay, not every initial delay for ever."""

import pytest

from smscore.client import PersistentBind
from tests.smscore.test_bind_drops import GARBAGE
from tests.smscore.test_client import JITTER_S, POLICY, Harness

STABLE_S = 30.0  # smscore.defaults.DEFAULT_STABLE_LINK_S


def break_each_link(harness: Harness, times: int) -> list[float]:
    """The SMSC answers the bind, then sends bytes that cannot be framed: the bind must close
    the link. Returns each wait from the close to the next connect."""
    waits = []
    for _ in range(times):
        assert harness.bind.is_bound
        closed_at = harness.clock.seconds()
        harness.bind.protocol.dataReceived(GARBAGE)
        harness.endpoint.pump()
        harness.run(POLICY.max_delay_s + JITTER_S + 1)
        waits.append(harness.connect_times[-1] - closed_at)
    return waits


def test_links_that_die_young_back_off_like_refused_binds():
    harness = Harness()
    harness.start()
    waits = break_each_link(harness, 5)
    expected = [1, 2 + JITTER_S, 4 + JITTER_S, 8 + JITTER_S, POLICY.max_delay_s]
    assert waits == pytest.approx(expected, abs=0.25)  # the harness advances in 0.25 s steps
    assert harness.bind.counters.drops == 5 and harness.bind.last_error.startswith("framing lost")


def test_a_link_that_lived_long_enough_starts_the_backoff_again():
    harness = Harness()
    harness.start()
    break_each_link(harness, 3)
    harness.run(STABLE_S + 1)  # this one carries traffic for a while
    before = len(harness.connect_times)
    harness.endpoint.current.drop()
    harness.advance(POLICY.initial_delay_s)
    assert len(harness.connect_times) == before + 1 and harness.bind.is_bound


def test_stable_after_s_is_validated():
    harness = Harness()
    with pytest.raises(ValueError, match="stable_after_s"):
        PersistentBind(harness.clock, "x", harness.endpoint, harness.bind.config, stable_after_s=-1)
