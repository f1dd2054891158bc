"""Who is calling the business API: the business its X-API-Key belongs to (daemon.api.auth puts
one in `call.principal` for every operation declared with auth="business")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BusinessState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # every request refused (authorisation) until reinstated


class KeyScope(StrEnum):
    """What a key may do with bulk batches: the maker creates, a checker (another key) approves."""

    MAKER = "maker"
    CHECKER = "checker"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Business:
    id: int
    code: str
    name: str
    msisdn: str  # its merchant wallet (Role.BILLER): its account in the chart
    state: BusinessState
    key_id: str  # the key this request came with ("" when not from a request)
    key_scope: KeyScope = KeyScope.BOTH

    def __repr__(self) -> str:
        return f"Business({self.code} key={self.key_id})"
