"""What staff see of a subscriber and change on it: state (freeze, unfreeze), the PIN lock (unlock)
and the KYC tier. Each change runs in the caller's transaction with its one audit entry; asking for
what already holds changes nothing and records nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, update

from daemon.admin.env import AdminEnv
from daemon.admin.stores import registered_txn
from daemon.audit import record_txn
from daemon.money.moves import Move, recent_moves_txn
from daemon.schema import subscribers
from daemon.subscribers import Subscriber, SubscriberState
from ledger import get_balance

KYC_TIERS = range(1, 4)
RECENT_MOVES = 5
_SHOWN_ID_CHARS = 3


class PinState(StrEnum):
    OK = "ok"
    NOT_SET = "not set"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Profile:
    """A subscriber as staff see it: never the PIN digest, the identity number only masked."""

    subscriber: Subscriber
    balance_minor: int | None  # available; None if the wallet is missing
    moves: list[Move]

    def pin_state(self, now_ns: int) -> PinState:
        if self.subscriber.pin_hmac is None:
            return PinState.NOT_SET
        return PinState.LOCKED if self.subscriber.locked_until_ns > now_ns else PinState.OK

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.subscriber.id_number)


def mask_id_number(id_number: str | None) -> str:
    """All but the last 3 characters hidden (all of a number that short); "" for none."""
    if not id_number:
        return ""
    shown = id_number[-_SHOWN_ID_CHARS:] if len(id_number) > _SHOWN_ID_CHARS else ""
    return "*" * (len(id_number) - len(shown)) + shown


def profile_txn(conn: Connection, msisdn: str) -> Profile:
    found = registered_txn(conn, msisdn)
    balance = get_balance(conn, found.account_id)
    available = balance.available if balance is not None else None
    return Profile(found, available, recent_moves_txn(conn, msisdn, RECENT_MOVES))


def _change_txn(
    conn: Connection, env: AdminEnv, msisdn: str, action: str, detail: str, now_ns: int, **values
) -> None:
    conn.execute(update(subscribers).where(subscribers.c.msisdn == msisdn).values(**values))
    record_txn(conn, env.actor, action, msisdn, detail, now_ns)


def set_state_txn(
    conn: Connection, env: AdminEnv, msisdn: str, state: SubscriberState, now_ns: int
) -> bool:
    """Freeze or unfreeze; False if it already was."""
    found = registered_txn(conn, msisdn)
    if found.state == state:
        return False
    action = "freeze" if state is SubscriberState.FROZEN else "unfreeze"
    detail = f"state {found.state} -> {state.value}"
    _change_txn(conn, env, msisdn, f"subscriber.{action}", detail, now_ns, state=state.value)
    return True


def unlock_txn(conn: Connection, env: AdminEnv, msisdn: str, now_ns: int) -> bool:
    """Clear the wrong-PIN count and the lock; False if there was neither."""
    found = registered_txn(conn, msisdn)
    if not (found.pin_failures or found.locked_until_ns > now_ns):
        return False  # an expired lock already lets the PIN be tried
    was = "locked" if found.locked_until_ns > now_ns else f"{found.pin_failures} wrong PIN(s)"
    _change_txn(
        conn, env, msisdn, "subscriber.unlock", f"was {was}", now_ns,
        pin_failures=0, locked_until_ns=0,
    )  # fmt: skip
    return True


def set_tier_txn(conn: Connection, env: AdminEnv, msisdn: str, tier: int, now_ns: int) -> bool:
    """Set the KYC tier (1..3); False if it already was."""
    if tier not in KYC_TIERS:
        raise ValueError(f"KYC tier {tier} is not {KYC_TIERS.start}..{KYC_TIERS.stop - 1}")
    found = registered_txn(conn, msisdn)
    if found.kyc_tier == tier:
        return False
    detail = f"tier {found.kyc_tier} -> {tier}"
    _change_txn(conn, env, msisdn, "subscriber.tier", detail, now_ns, kyc_tier=tier)
    return True
