"""The money rules a business's request meets, as the specification's errorCodes: the limits of
daemon.money.limits (the business's KYC tier as the payer's, the recipient's maximum balance),
too little money, an unknown or closed account, the same party on both sides."""

from __future__ import annotations

from sqlalchemy import Connection

from daemon.api.errors import ApiError, ErrorCategory
from daemon.commands.registry import Role
from daemon.money import common
from daemon.money.limits import (
    LimitName,
    LimitRefusal,
    check_amount,
    check_balance_max,
    check_limits_txn,
    service_day,
)
from daemon.money.moves import LedgerRefusal
from daemon.money.tariff import Tariff
from daemon.subscribers import Subscriber, load_subscribers_txn

_LIMIT_CODES = {
    LimitName.MINIMUM: "lessThanTransactionMinValue",
    LimitName.PER_TRANSACTION: "greaterThanTransactionMaxValue",
    LimitName.DAILY_COUNT: "dailyVolumeLimitExceeded",
    LimitName.DAILY_VALUE: "dailyValueLimitExceeded",
    LimitName.BALANCE_MAX: "maxBalanceExceeded",
}
_LIMIT_TEXT = {
    LimitName.MINIMUM: "the amount is under the smallest allowed",
    LimitName.PER_TRANSACTION: "the amount is over the largest allowed per transaction",
    LimitName.DAILY_COUNT: "today's number of transactions is used up",
    LimitName.DAILY_VALUE: "today's value limit would be exceeded",
    LimitName.BALANCE_MAX: "the recipient's account cannot hold that much",
}


def rule_error(code: str, description: str, **parameters: str) -> ApiError:
    return ApiError(ErrorCategory.BUSINESS_RULE, code, description, parameters)


def limit_error(refusal: LimitRefusal) -> ApiError:
    # The recipient's room is not told: it would give away their balance.
    shown = (
        {} if refusal.limit is LimitName.BALANCE_MAX else {"allowed": str(refusal.allowed_minor)}
    )
    return rule_error(_LIMIT_CODES[refusal.limit], _LIMIT_TEXT[refusal.limit], **shown)


def unknown_party(field: str, what: str) -> ApiError:
    """identifierError: the specification groups it with the validation errors."""
    return ApiError(
        ErrorCategory.VALIDATION, "identifierError", f"{field}: {what}", {"field": field}
    )


def same_parties() -> ApiError:
    return rule_error("samePartiesError", "the debit and credit parties are the same account")


def insufficient_funds() -> ApiError:
    return rule_error("insufficientFunds", "the debit party has too little money available")


def ledger_error(refusal: LedgerRefusal) -> ApiError:
    if refusal.insufficient_funds:
        return insufficient_funds()
    raise common.MoneyRefused(f"ledger refused leg {refusal.leg}: {refusal.result.value}")


def lock_parties_txn(conn: Connection, *msisdns: str) -> dict[str, Subscriber]:
    """The registered ones among the parties, their rows locked (PostgreSQL) in number order: a
    limit check reads usage without a lock, so the payer's row serialises its requests, as the
    TranProc's lock on a sender does."""
    return load_subscribers_txn(conn, msisdns, lock=True)


def check_payer_limits_txn(
    conn: Connection,
    tariff: Tariff,
    payer: Subscriber,
    amount_minor: int,
    command: str,
    timezone: str,
    now_ns: int,
) -> None:
    """The payer's tier limits (minimum of `command`, per transaction, today's count and value)."""
    day = service_day(now_ns, timezone)
    refusal = check_limits_txn(
        conn, payer.msisdn, amount_minor, tariff.limits(payer.kyc_tier),
        tariff.minimum_minor(command), day,
    )  # fmt: skip
    if refusal is not None:
        raise limit_error(refusal)


def check_amount_of(tariff: Tariff, subscriber: Subscriber, amount_minor: int, command: str):
    """The amount alone against a tier (the minimum of `command`, the per-transaction maximum)."""
    refusal = check_amount(amount_minor, tariff.limits(subscriber.kyc_tier),
                           tariff.minimum_minor(command))  # fmt: skip
    if refusal is not None:
        raise limit_error(refusal)


def check_recipient_txn(
    conn: Connection, tariff: Tariff, payee: Subscriber, amount_minor: int, roles: frozenset[Role]
) -> None:
    """A wallet that may receive `amount_minor`: of one of `roles`, not frozen, under its maximum."""
    if payee.role not in roles:
        raise unknown_party("creditParty", "this account cannot receive this transaction")
    if payee.frozen:
        raise rule_error("genericError", "the credit party's account is frozen")
    balance = common.available_minor(conn, payee.account_id)
    refusal = check_balance_max(balance, amount_minor, tariff.limits(payee.kyc_tier))
    if refusal is not None:
        raise limit_error(refusal)
