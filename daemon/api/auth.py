"""The "business" authenticator: the X-API-Key header names a key (daemon.api.businesses); the
request goes on as its business (`call.principal`, a Business with the key's id and scope) when the
key is active, the business is not suspended, the caller's address is in its allow-list and its rate
limit has room. Each refusal is an errorObject: authorisation/clientAuthorisationError (401), or
businessRule/rateLimitError with HTTP 429 and Retry-After.

The key is looked up on every request (one indexed read), so a revocation or a suspension holds from
the next request. `api_keys.last_used_at_ns` is written at most once per KEY_TOUCH_INTERVAL_NS per
key (a write per request would compete with the postings), fire-and-forget.

The rate limit is a token bucket per business, in this process's memory, on the reactor's clock:
`rate` tokens a second up to `burst`; each request takes one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.api.businesses import (
    BusinessRecord,
    KeyMatch,
    KeyState,
    find_key_txn,
    ip_allowed,
    split_key,
    touch_key_txn,
)
from daemon.api.env import ApiEnv
from daemon.api.errors import ApiError, ErrorCategory
from daemon.api.principal import Business, BusinessState
from daemon.api.routing import ROUTER, Call

log = Logger()
KEY_HEADER = "X-API-Key"
KEY_TOUCH_INTERVAL_NS = 60 * 10**9
_SERVICE = __name__  # env.services key of the rate limiter


def refused(description: str) -> ApiError:
    return ApiError(ErrorCategory.AUTHORISATION, "clientAuthorisationError", description)


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: int
    tokens: float
    updated_s: float

    def take(self, now_s: float) -> float:
        """0 when a token was taken; else the seconds until one is there."""
        elapsed_s = max(0.0, now_s - self.updated_s)
        self.tokens = min(float(self.burst), self.tokens + elapsed_s * self.rate_per_s)
        self.updated_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


class RateLimiter:
    """One bucket per business; a changed limit (`smscore admin business rate`) applies at once,
    keeping the tokens the business had (up to the new burst)."""

    def __init__(self) -> None:
        self.buckets: dict[int, TokenBucket] = {}

    def take(self, business_id: int, rate_per_s: float, burst: int, now_s: float) -> float:
        bucket = self.buckets.get(business_id)
        if bucket is None:
            bucket = TokenBucket(rate_per_s, burst, float(burst), now_s)
            self.buckets[business_id] = bucket
        elif (bucket.rate_per_s, bucket.burst) != (rate_per_s, burst):
            bucket.rate_per_s, bucket.burst = rate_per_s, burst
            bucket.tokens = min(bucket.tokens, float(burst))
        return bucket.take(now_s)


def rate_limiter(env: ApiEnv) -> RateLimiter:
    return env.services.setdefault(_SERVICE, RateLimiter())


def rate_limited(wait_s: float) -> ApiError:
    retry_after_s = max(1, math.ceil(wait_s))
    return ApiError(
        ErrorCategory.BUSINESS_RULE,
        "rateLimitError",
        f"rate limit reached: retry in {retry_after_s} s",
        status=429,
        headers={"Retry-After": str(retry_after_s)},
    )


@ROUTER.authenticator("business")
def authenticate(call: Call) -> Deferred:
    """The Business calling (a Deferred of it); ApiError when refused."""
    key_text = call.header(KEY_HEADER)
    if not key_text:
        raise refused(f"the {KEY_HEADER} header is missing")
    if split_key(key_text.strip()) is None:  # refused here, on the reactor: no query for junk
        raise refused(f"{KEY_HEADER} is not a key of this service")
    found = call.env.db.run_interaction("api.auth", find_key_txn, key_text.strip())
    return found.addCallback(_admit, call)


def _admit(match: KeyMatch | None, call: Call) -> Business:
    if match is None:
        raise refused(f"{KEY_HEADER} is not a key of this service")
    if match.key.state is not KeyState.ACTIVE:
        raise refused(f"API key {match.key.key_id} is revoked")
    business = match.business
    if business.state is not BusinessState.ACTIVE:
        raise refused(f"business {business.code} is {business.state.value}")
    if not ip_allowed(business.networks(), call.remote_ip):
        raise refused(
            f"address {call.remote_ip} is not in business {business.code}'s allowed addresses"
        )
    _take_token(call, business)
    _touch(call, match)
    return business.principal(match.key.key_id, match.key.scope)


def _take_token(call: Call, business: BusinessRecord) -> None:
    api = call.env.config.api
    rate_per_s = business.rate_limit_per_s or api.rate_limit_per_s
    burst = business.rate_limit_burst or api.rate_limit_burst
    wait_s = rate_limiter(call.env).take(business.id, rate_per_s, burst, call.env.reactor.seconds())
    if wait_s > 0:
        raise rate_limited(wait_s)


def _touch(call: Call, match: KeyMatch) -> None:
    now_ns = call.env.now_ns()
    last_ns = match.key.last_used_at_ns
    if last_ns is not None and now_ns - last_ns < KEY_TOUCH_INTERVAL_NS:
        return
    touched = call.env.db.run_interaction("api.key_used", touch_key_txn, match.key.key_id, now_ns)
    touched.addErrback(_touch_failed, match.key.key_id)


def _touch_failed(failure: Failure, key_id: str) -> None:
    log.failure("api: recording the use of key {key_id} failed", failure, key_id=key_id)
