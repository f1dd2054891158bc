"""When a stored message meets its fate: the receipt delay, its scheduled delivery time, a `hold`
fault, and the validity period that expires it first."""

from dataclasses import replace
from datetime import UTC, datetime

from simulators.receipts import Outcome
from simulators.store import StoredMessage
from smscore.constants import MessageState
from smscore.smpptime import parse_smpp_time


def smpp_time_s(value: str, now_s: float) -> float | None:
    """An SMPP time field (absolute or relative to `now_s`) as reactor seconds; None if empty.
    Raises TimeFormatError for a malformed one."""
    moment = parse_smpp_time(value, datetime.fromtimestamp(now_s, UTC))
    return None if moment is None else moment.timestamp()


def timed_outcome(
    message: StoredMessage, outcome: Outcome, now_s: float, hold_s: float = 0.0
) -> Outcome:
    """`outcome` with its delay counted from the delivery attempt: now or the scheduled time,
    whichever is later, plus a hold; EXPIRED at the end of the validity period if that comes
    first (what an SMSC does with a message it could not deliver in time)."""
    if message.scheduled_at_s is None and message.expires_at_s is None and not hold_s:
        return outcome  # nearly every message: no new object per submit
    start_s = now_s if message.scheduled_at_s is None else max(now_s, message.scheduled_at_s)
    due_s = start_s + outcome.delay_s + hold_s
    if message.expires_at_s is not None and due_s > message.expires_at_s:
        return Outcome(MessageState.EXPIRED, 0, max(0.0, message.expires_at_s - now_s))
    return replace(outcome, delay_s=due_s - now_s)
