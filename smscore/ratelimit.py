"""A token bucket on injected time: the per-bind TPS limit."""

import math

# Refills are float products: a timer set for exactly one token's wait may find 0.9999999 tokens.
_EPSILON_TOKENS = 1e-9
# The default burst is a tenth of a second's worth of events (at least one): smooth, but a bind that
# was idle for a moment may send a small burst at once.
_DEFAULT_BURSTS_PER_S = 10
# A few ulps more on a wait: `now_s + wait` rounded to a float must not land just short of the token.
_WAIT_MARGIN_ULPS = 4


class TokenBucket:
    """Allows `rate_per_s` events per second on average, in bursts of at most `burst`.

    `now_s` is always passed in (seconds, from an IReactorTime), so the bucket is deterministic in tests.
    """

    def __init__(
        self, rate_per_s: float, burst: float | None = None, *, now_s: float = 0.0
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s / _DEFAULT_BURSTS_PER_S)
        if self.burst < 1:
            raise ValueError("burst must allow at least one event")
        self._tokens = self.burst
        self._updated_at_s = now_s

    def _refill(self, now_s: float) -> None:
        elapsed = max(0.0, now_s - self._updated_at_s)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
        self._updated_at_s = now_s

    def try_take(self, now_s: float) -> bool:
        """Take one token if there is one."""
        self._refill(now_s)
        if self._tokens >= 1 - _EPSILON_TOKENS:
            self._tokens -= 1
            return True
        return False

    def wait_s(self, now_s: float) -> float:
        """Seconds until a token will be available (0 if one is)."""
        self._refill(now_s)
        if self._tokens >= 1 - _EPSILON_TOKENS:
            return 0.0
        return (1 - self._tokens) / self.rate_per_s + _WAIT_MARGIN_ULPS * math.ulp(max(now_s, 1.0))
