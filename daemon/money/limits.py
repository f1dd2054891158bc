"""KYC-tier limits: minimum and per-transaction amounts, per-day value and count, maximum balance.

A subscriber's usage of a service day is one `daily_usage` row (value moved, count), keyed by the day
as "YYYY-MM-DD" in the configured time zone, so the day turns over at local midnight. A command
checks (`check_limits_txn`) and, once its money moves, records (`record_usage_txn`) in the same
transaction; a move released with nothing moved gives its use back (`give_back_usage_txn`). The check reads without a lock: the TranProc already holds the sender's subscriber row
FOR UPDATE for its batch, which serialises one subscriber's commands. A caller checking a party that
is not the sender must hold that party's row the same way.

A refusal names the limit and what the subscriber could still do, for the reply: the per-transaction
maximum, what is left of today's value, the count limit, how much more a wallet can receive, or the
minimum.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, bindparam, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import UpdateBase

from daemon.clock import NS_PER_S
from daemon.money.prepared import PreparedWrite
from daemon.money.tariff import TierLimits
from daemon.schema import daily_usage
from ledger.fastpath import PreparedSelect


class LimitName(StrEnum):
    PER_TRANSACTION = "per_transaction"
    DAILY_VALUE = "daily_value"
    DAILY_COUNT = "daily_count"
    BALANCE_MAX = "balance_max"
    MINIMUM = "minimum"


@dataclass(frozen=True, slots=True)
class LimitRefusal:
    limit: LimitName
    allowed_minor: int  # for DAILY_COUNT: the number of transactions a day, not an amount


@dataclass(frozen=True, slots=True)
class DailyUsage:
    value_minor: int = 0
    count: int = 0


def service_day(now_ns: int, timezone: str) -> str:
    """The service day of an instant, "YYYY-MM-DD" in `timezone` (e.g. "Africa/Nairobi")."""
    instant = datetime.datetime.fromtimestamp(now_ns // NS_PER_S, tz=zoneinfo.ZoneInfo(timezone))
    return instant.date().isoformat()


_usage = PreparedSelect(
    lambda _: select(daily_usage.c.value_minor, daily_usage.c.count).where(
        daily_usage.c.msisdn == bindparam("msisdn"), daily_usage.c.day == bindparam("day")
    )
)


def usage_txn(conn: Connection, msisdn: str, day: str) -> DailyUsage:
    row = _usage.first(conn, {"msisdn": msisdn, "day": day})
    return DailyUsage() if row is None else DailyUsage(row.value_minor, row.count)


def check_amount(
    amount_minor: int, tier_limits: TierLimits, minimum_minor: int
) -> LimitRefusal | None:
    """The limits of one amount alone (no database): the minimum, then the per-transaction maximum."""
    if amount_minor < minimum_minor:
        return LimitRefusal(LimitName.MINIMUM, minimum_minor)
    if amount_minor > tier_limits.per_transaction_max_minor:
        return LimitRefusal(LimitName.PER_TRANSACTION, tier_limits.per_transaction_max_minor)
    return None


def check_usage(
    usage: DailyUsage, amount_minor: int, tier_limits: TierLimits
) -> LimitRefusal | None:
    """Today's count, then today's value, with `amount_minor` added."""
    if usage.count >= tier_limits.daily_count_max:
        return LimitRefusal(LimitName.DAILY_COUNT, tier_limits.daily_count_max)
    if usage.value_minor + amount_minor > tier_limits.daily_value_max_minor:
        left_minor = max(0, tier_limits.daily_value_max_minor - usage.value_minor)
        return LimitRefusal(LimitName.DAILY_VALUE, left_minor)
    return None


def check_limits_txn(
    conn: Connection,
    msisdn: str,
    amount_minor: int,
    tier_limits: TierLimits,
    minimum_minor: int,
    day: str,
) -> LimitRefusal | None:
    """The first limit that `amount_minor` more today would break, or None: minimum,
    per-transaction, daily count, daily value. The amount alone is checked before the database."""
    refusal = check_amount(amount_minor, tier_limits, minimum_minor)
    if refusal is not None:
        return refusal
    return check_usage(usage_txn(conn, msisdn, day), amount_minor, tier_limits)


def check_balance_max(
    balance_minor: int, amount_minor: int, tier_limits: TierLimits
) -> LimitRefusal | None:
    """Refuses crediting `amount_minor` to a wallet holding `balance_minor` if it would exceed the
    tier's maximum balance; allowed_minor is how much more the wallet can receive."""
    if balance_minor + amount_minor > tier_limits.balance_max_minor:
        room_minor = max(0, tier_limits.balance_max_minor - balance_minor)
        return LimitRefusal(LimitName.BALANCE_MAX, room_minor)
    return None


def _add_usage(dialect_name: str) -> UpdateBase:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(daily_usage).values(
        msisdn=bindparam("v_msisdn"), day=bindparam("v_day"),
        value_minor=bindparam("v_amount"), count=1,
    )  # fmt: skip
    return stmt.on_conflict_do_update(
        index_elements=[daily_usage.c.msisdn, daily_usage.c.day],
        set_={
            "value_minor": daily_usage.c.value_minor + stmt.excluded.value_minor,
            "count": daily_usage.c.count + 1,
        },
    ).returning(daily_usage.c.count)


_record_usage = PreparedWrite(_add_usage)


def record_usage_txn(conn: Connection, msisdn: str, day: str, amount_minor: int) -> None:
    """Adds one transaction of `amount_minor` to the subscriber's usage of `day`."""
    _record_usage.run(conn, {"v_msisdn": msisdn, "v_day": day, "v_amount": amount_minor})


def give_back_usage_txn(conn: Connection, msisdn: str, day: str, amount_minor: int) -> None:
    """Takes one transaction of `amount_minor` back out of `day`'s usage: a move that counted
    when it reserved the money, then ended with nothing moved (voided, declined, expired)."""
    value, count = daily_usage.c.value_minor, daily_usage.c.count
    conn.execute(
        update(daily_usage)
        .where(daily_usage.c.msisdn == msisdn, daily_usage.c.day == day)
        .values(
            value_minor=case((value > amount_minor, value - amount_minor), else_=0),
            count=case((count > 0, count - 1), else_=0),
        )
    )


def prune_usage_txn(conn: Connection, before_day: str) -> int:
    """Deletes usage of the days before `before_day` ("YYYY-MM-DD"); returns the rows deleted."""
    result = conn.execute(delete(daily_usage).where(daily_usage.c.day < before_day))
    return result.rowcount
