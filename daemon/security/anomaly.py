"""The per-payer anomaly score: how unlike the payer's own history this transaction is.

PHIRE used a statistical model; this one is small enough to explain to a customer on the phone.
The history is the payer's last `history_moves` moves of money out (posted, pending or confirming).
With n of them (n >= min_history, else there is no score: too little to judge):

- amount term: z = (amount - mean) / s, the amount's z-score against the history's amounts, where
  s = max(population standard deviation, 10% of the mean, 1 minor unit) so a payer who always sends
  the same amount is not flagged for a shilling more. Only an amount above the mean counts: max(0, z).
- frequency term: in the last `frequency_window_s` the payer made k moves before this one; their
  history's own rate predicts e = n * window / span moves in a window, span being the time from their
  oldest history move to now (at least one window). The Poisson z-score (k - e) / sqrt(max(e, 1)),
  again only above the expectation, weighted by `frequency_weight`.

score = max(0, z_amount) + frequency_weight * max(0, z_frequency). A score above `threshold` (4 by
default: an amount four spreads above the usual, or a burst far above the usual pace) is a hit.
Only sums, means and square roots: no state kept between transactions, nothing to train.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from sqlalchemy import Connection, select

from daemon.clock import NS_PER_S
from daemon.schema import moves
from daemon.security.fraud import MONEY_OUT, Hit, Txn, rule
from daemon.security.fraud_config import FraudConfig
from daemon.security.fraud_rules import MOVING

_SPREAD_FLOOR_OF_MEAN = 0.1
_OUT_KINDS = tuple(kind.value for kind in MONEY_OUT)


def anomaly_score(
    history: Sequence[tuple[int, int]],
    amount_minor: int,
    now_ns: int,
    window_ns: int,
    frequency_weight: float = 1.0,
    min_history: int = 5,
) -> float | None:
    """The score of `amount_minor` now against `history` ((at_ns, amount_minor) of earlier moves,
    any order); None with fewer than `min_history` moves. See the module docstring."""
    if len(history) < max(2, min_history):
        return None
    amounts = [amount for _, amount in history]
    mean = statistics.fmean(amounts)
    spread = max(statistics.pstdev(amounts), _SPREAD_FLOOR_OF_MEAN * mean, 1.0)
    amount_z = (amount_minor - mean) / spread
    oldest_ns = min(at_ns for at_ns, _ in history)
    span_ns = max(now_ns - oldest_ns, window_ns)
    expected = len(history) * window_ns / span_ns
    recent = sum(1 for at_ns, _ in history if now_ns - window_ns <= at_ns <= now_ns)
    frequency_z = (recent - expected) / math.sqrt(max(expected, 1.0))
    return max(0.0, amount_z) + frequency_weight * max(0.0, frequency_z)


def history_txn(conn: Connection, payer: str, before_ns: int, limit: int) -> list[tuple[int, int]]:
    """The payer's last `limit` moves of money out before `before_ns`: (created_at_ns, amount)."""
    query = (
        select(moves.c.created_at_ns, moves.c.amount_minor)
        .where(
            moves.c.payer_msisdn == payer,
            moves.c.kind.in_(_OUT_KINDS),
            moves.c.state.in_(MOVING),
            moves.c.created_at_ns <= before_ns,
        )
        .order_by(moves.c.created_at_ns.desc())
        .limit(limit)
    )
    return [(int(at_ns), int(amount)) for at_ns, amount in conn.execute(query)]


@rule("anomaly", lambda config: config.anomaly.enabled)
def anomaly(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    if txn.kind not in MONEY_OUT:
        return None
    settings = config.anomaly
    history = history_txn(conn, txn.payer_msisdn, txn.now_ns, settings.history_moves)
    score = anomaly_score(
        history,
        txn.amount_minor,
        txn.now_ns,
        int(settings.frequency_window_s * NS_PER_S),
        settings.frequency_weight,
        settings.min_history,
    )
    if score is None or score <= settings.threshold:
        return None
    return Hit("anomaly", f"score {score:.1f} over {settings.threshold:g}", score=score)
