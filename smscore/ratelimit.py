"""A token bucket on injected time: the per-bind TPS limit."""

import math

# Refills are float products: a timer set for exactly one token's wait may find 0.9999999 tokens.
_EPSILON_TOKENS = 1e-9


class TokenBucket:
    """Allows `rate_per_s` events per second on average, in bursts of at most `burst`.

    `now` is always passed in (seconds, from an IReactorTime), so the bucket is deterministic in tests.
    """

    def __init__(self, rate_per_s: float, burst: float | None = None, *, now: float = 0.0) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s / 10)
        if self.burst < 1:
            raise ValueError("burst must allow at least one event")
        self._tokens = self.burst
        self._updated_at = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated_at)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
        self._updated_at = now

    def try_take(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self._tokens >= 1 - _EPSILON_TOKENS:
            self._tokens -= 1
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until a token will be available (0 if one is)."""
        self._refill(now)
        if self._tokens >= 1 - _EPSILON_TOKENS:
            return 0.0
        # A few ulps more: `now + wait` rounded to a float must not land just short of the token.
        return (1 - self._tokens) / self.rate_per_s + 4 * math.ulp(max(now, 1.0))
