"""The limit before authentication: a token bucket per remote address, in this process's memory and
on the reactor, checked before a request is read, authenticated or answered (no database work), so
a flood of junk keys, junk channel-token requests or anonymous calls is refused with 429
rateLimitError and Retry-After at the cost of a dictionary look-up.

Every request takes a token on arrival; one that authenticates gives it back, so a business's own
traffic is limited by its own bucket (daemon.api.auth) and never by its address. At most
MAX_ADDRESSES buckets are kept (the least recently used go first), so the table is bounded too.
"""

from __future__ import annotations

from collections import OrderedDict

from daemon.api.auth import TokenBucket, rate_limited
from daemon.api.env import ApiEnv
from daemon.api.routing import ROUTER, Call

MAX_ADDRESSES = 10_000
_SERVICE = __name__


class AddressLimiter:
    def __init__(self, rate_per_s: float, burst: int, max_addresses: int = MAX_ADDRESSES) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_addresses = max_addresses
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str, now_s: float) -> float:
        """0 when a token was taken; else the seconds until one is there."""
        bucket = self.buckets.pop(address, None)
        if bucket is None:
            bucket = TokenBucket(self.rate_per_s, self.burst, float(self.burst), now_s)
        self.buckets[address] = bucket  # the most recently used last
        while len(self.buckets) > self.max_addresses:
            self.buckets.popitem(last=False)
        return bucket.take(now_s)

    def give_back(self, address: str) -> None:
        bucket = self.buckets.get(address)
        if bucket is not None:
            bucket.tokens = min(float(bucket.burst), bucket.tokens + 1.0)


def address_limiter(env: ApiEnv) -> AddressLimiter:
    limiter = env.services.get(_SERVICE)
    if limiter is None:
        api = env.config.api
        limiter = env.services[_SERVICE] = AddressLimiter(api.preauth_rate_per_s, api.preauth_burst)
    return limiter


class AddressGuard:
    def enter(self, call: Call) -> None:
        wait_s = address_limiter(call.env).take(call.remote_ip, call.env.reactor.seconds())
        if wait_s > 0:
            raise rate_limited(wait_s)

    def admitted(self, call: Call) -> None:
        address_limiter(call.env).give_back(call.remote_ip)


ROUTER.guards.append(AddressGuard())
