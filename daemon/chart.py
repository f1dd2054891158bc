"""The mobile-money chart of accounts on the ledger.

System accounts have fixed ids below 1000 and are created idempotently at start-up (ensure_chart_txn).
The trust account is the e-money issuer: it is debit-normal, every unit of e-money in circulation was
credited to some wallet by debiting it, so its balance equals the e-money issued, which must equal the
money held in the bank trust account (reconciliation). Wallets are credit-normal and cannot go negative.

A subscriber's wallet id is derived from the MSISDN (WALLET_ID_BASE + the number), so opening it is
idempotent and needs no sequence shared between processes.
"""

import secrets
from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy import Connection

from daemon.commands.registry import Role
from ledger import (
    Account,
    AccountCode,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Transfer,
    create_accounts,
    create_transfers,
)

WALLET_ID_BASE = 10**15  # above every system id; + a 15-digit MSISDN still fits int64
BILLER_ID_BASE = 10**6  # + a biller's number: its own settlement account (daemon.money.billers)
BILLER_NUMBER_MAX = 10**9  # biller accounts stay below every wallet id
_CAN_NOT_GO_NEGATIVE = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
_DEBIT_NORMAL = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS


class ChartError(Exception):
    """The ledger disagrees with the chart (e.g. a system account exists in another currency)."""


class SystemAccount(IntEnum):
    TRUST = 1  # e-money issued against the bank trust account (debit-normal)
    FEE_INCOME = 2
    AGENT_COMMISSION = 3  # commission paid to agents (an expense: debit-normal)
    VOUCHER_SUSPENSE = 4  # sent to unregistered numbers, waiting to be redeemed
    BILLER_SETTLEMENT = 5  # owed to billers until settled from the trust account
    AIRTIME_SETTLEMENT = 6  # owed to airtime providers
    REVERSAL_SUSPENSE = 7  # a disputed payment held from its recipient until staff decide


class TransferCode(IntEnum):
    """Why money moved; stored in every transfer's `code`."""

    DEPOSIT = 1  # e-money issued into a wallet (admin deposit, agent cash-in float)
    WITHDRAWAL = 2
    P2P = 3
    FEE = 4
    COMMISSION = 5
    BILL_PAYMENT = 6
    AIRTIME = 7
    VOUCHER = 8
    MERCHANT_PAYMENT = 9  # TILL (Buy Goods)
    REVERSAL = 10  # a payment held for, or given back by, a reversal
    DISBURSEMENT = 11  # the business API: a business pays a customer (B2C) or another wallet
    REFUND = 12  # the business API: a business gives back a payment it received


@dataclass(frozen=True, slots=True)
class SystemAccountSpec:
    account: SystemAccount
    code: AccountCode
    flags: AccountFlags


SYSTEM_ACCOUNTS = (
    SystemAccountSpec(SystemAccount.TRUST, AccountCode.TRUST_BANK, _DEBIT_NORMAL),
    SystemAccountSpec(SystemAccount.FEE_INCOME, AccountCode.FEE_INCOME, _CAN_NOT_GO_NEGATIVE),
    SystemAccountSpec(SystemAccount.AGENT_COMMISSION, AccountCode.AGENT_COMMISSION, _DEBIT_NORMAL),
    SystemAccountSpec(
        SystemAccount.VOUCHER_SUSPENSE, AccountCode.VOUCHER_SUSPENSE, _CAN_NOT_GO_NEGATIVE
    ),
    SystemAccountSpec(
        SystemAccount.BILLER_SETTLEMENT, AccountCode.BILLER_SETTLEMENT, _CAN_NOT_GO_NEGATIVE
    ),
    SystemAccountSpec(
        SystemAccount.AIRTIME_SETTLEMENT, AccountCode.AIRTIME_SETTLEMENT, _CAN_NOT_GO_NEGATIVE
    ),
    SystemAccountSpec(
        SystemAccount.REVERSAL_SUSPENSE, AccountCode.REVERSAL_SUSPENSE, _CAN_NOT_GO_NEGATIVE
    ),
)
_CREATED = (CreateAccountResult.OK, CreateAccountResult.EXISTS)


def ensure_chart_txn(conn: Connection, currency: str, now_ns: int) -> None:
    """Create the system accounts that do not exist yet; ChartError if one exists differently."""
    accounts = [
        # Plain ints: the ledger hands ids to the driver as they are (psycopg refuses mixed types).
        Account(
            int(spec.account), currency, int(spec.code), spec.flags, f"system:{spec.account.name}"
        )
        for spec in SYSTEM_ACCOUNTS
    ]
    for spec, result in zip(SYSTEM_ACCOUNTS, create_accounts(conn, accounts, now_ns), strict=True):
        if result not in _CREATED:
            raise ChartError(
                f"ledger account {int(spec.account)} ({spec.account.name}): {result.value}; "
                f"the chart expects currency {currency}, code {int(spec.code)}"
            )


def wallet_account_id(msisdn: str) -> int:
    if not msisdn.isdigit() or len(msisdn) > 15 or msisdn.startswith("0"):
        raise ValueError(f"not an international MSISDN: {msisdn!r}")
    return WALLET_ID_BASE + int(msisdn)


def wallet_code(role: Role) -> AccountCode:
    if role is Role.AGENT:
        return AccountCode.AGENT_FLOAT
    if role is Role.BILLER:  # a merchant: TILL payments land here
        return AccountCode.MERCHANT_WALLET
    return AccountCode.CUSTOMER_WALLET


def open_wallet_txn(conn: Connection, msisdn: str, role: Role, currency: str, now_ns: int) -> int:
    """The subscriber's wallet (created if needed); its ledger account id."""
    account_id = wallet_account_id(msisdn)
    wallet = Account(
        account_id, currency, wallet_code(role), _CAN_NOT_GO_NEGATIVE, f"msisdn:{msisdn}"
    )
    [result] = create_accounts(conn, [wallet], now_ns)
    if result not in _CREATED:
        raise ChartError(f"wallet {account_id} for {msisdn}: {result.value}")
    return account_id


def new_transfer_id() -> int:
    """A random transfer id for admin actions (TranProc commands derive theirs from the inbox id)."""
    return secrets.randbits(62) + 1


def deposit_txn(
    conn: Connection,
    account_id: int,
    amount_minor: int,
    currency: str,
    now_ns: int,
    *,
    transfer_id: int,
    user_data: str,
) -> None:
    """Issue e-money into a wallet from the trust account; ChartError naming the ledger's refusal."""
    transfer = Transfer(
        id=transfer_id,
        debit_account_id=int(SystemAccount.TRUST),
        credit_account_id=account_id,
        amount=amount_minor,
        currency=currency,
        code=int(TransferCode.DEPOSIT),
        user_data=user_data,
    )
    [result] = create_transfers(conn, [transfer], now_ns)
    if result is not CreateTransferResult.OK:
        raise ChartError(f"deposit of {amount_minor} into {account_id}: {result.value}")


def biller_account_id(number: int) -> int:
    """A biller's settlement account: what customers paid it, owed to it until it is settled."""
    if not 0 < number < BILLER_NUMBER_MAX:
        raise ValueError(f"not a biller number: {number!r}")
    return BILLER_ID_BASE + number


def open_biller_account_txn(
    conn: Connection, number: int, code: str, currency: str, now_ns: int
) -> int:
    """Biller `number`'s settlement account (created if needed); its ledger account id. It is
    credit-normal like a wallet: it holds e-money paid to the biller and can never go negative."""
    account_id = biller_account_id(number)
    account = Account(
        account_id,
        currency,
        int(AccountCode.BILLER_SETTLEMENT),
        _CAN_NOT_GO_NEGATIVE,
        f"biller:{code}",
    )
    [result] = create_accounts(conn, [account], now_ns)
    if result not in _CREATED:
        raise ChartError(f"biller account {account_id} for {code}: {result.value}")
    return account_id
