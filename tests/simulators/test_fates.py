"""FateSchedule: one timer for every message's fate, in the order one timer each would give."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from simulators.fates import FateSchedule
from simulators.receipts import Outcome
from simulators.store import StoredMessage
from smscore.constants import MessageState


def _message(n: int) -> StoredMessage:
    return StoredMessage(f"{n:08x}", "esme", "3456", "254711000001", 0, 0, 1, b"hi", {}, 0.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.5]), st.booleans()), max_size=30))
def test_fates_come_in_due_order_and_cancelled_ones_never(plan: list[tuple[float, bool]]) -> None:
    clock = Clock()
    finished: list[str] = []
    schedule = FateSchedule(clock, lambda message, outcome: finished.append(message.message_id))
    expected = []
    for n, (delay_s, cancel) in enumerate(plan):
        clock.advance(0.01)
        message = _message(n)
        schedule.add(message, Outcome(MessageState.DELIVERED, 0, delay_s))
        if cancel:
            message.fate_pending = False
        else:
            expected.append((clock.seconds() + delay_s, n, message.message_id))
    for _ in range(400):
        clock.advance(0.01)
    assert finished == [message_id for _, _, message_id in sorted(expected)]
    assert len(schedule) == 0 and not clock.getDelayedCalls()


def test_a_timer_landing_an_ulp_early_still_makes_progress() -> None:
    clock = Clock()
    clock.advance(1_800_000_000.123)  # epoch-sized: now + (due - now) may round below due
    finished: list[str] = []
    schedule = FateSchedule(clock, lambda message, outcome: finished.append(message.message_id))
    for n in range(50):
        clock.advance(0.0001)
        schedule.add(_message(n), Outcome(MessageState.DELIVERED, 0, 0.3))
    for _ in range(100):
        clock.advance(0.01)
    assert len(finished) == 50
