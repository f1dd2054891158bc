"""The chart of accounts: system accounts created idempotently, wallets, deposits from the trust."""

import pytest

from daemon.chart import (
    SYSTEM_ACCOUNTS,
    WALLET_ID_BASE,
    ChartError,
    SystemAccount,
    TransferCode,
    deposit_txn,
    ensure_chart_txn,
    open_wallet_txn,
    wallet_account_id,
)
from daemon.commands import Role
from ledger import AccountCode, AccountFlags, check_ledger, get_accounts, get_balance, get_transfers

NOW = 1_700_000_000 * 10**9


def test_system_accounts_are_created_once(engine):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW + 1)  # start-up again: nothing changes, nothing raised
        found = get_accounts(conn, [spec.account for spec in SYSTEM_ACCOUNTS])
    assert len(found) == len(SYSTEM_ACCOUNTS)
    trust = found[SystemAccount.TRUST]
    assert trust.code == AccountCode.TRUST_BANK
    assert trust.flags == AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    assert trust.timestamp_ns == NOW
    assert found[SystemAccount.FEE_INCOME].flags == AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS


def test_a_system_account_in_another_currency_stops_start_up(engine):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
    with engine.begin() as conn, pytest.raises(ChartError, match=r"TRUST.*currency TZS"):
        ensure_chart_txn(conn, "TZS", NOW)


def test_wallet_ids_come_from_the_msisdn():
    assert wallet_account_id("254712345678") == WALLET_ID_BASE + 254712345678
    assert wallet_account_id("999999999999999") < 2**63
    for bad in ("0712345678", "25471234567x", "1" * 16):
        with pytest.raises(ValueError):
            wallet_account_id(bad)


def test_deposit_issues_e_money_from_the_trust_account(engine):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        wallet = open_wallet_txn(conn, "254712000001", Role.CUSTOMER, "KES", NOW)
        agent = open_wallet_txn(conn, "254712000002", Role.AGENT, "KES", NOW)
        assert open_wallet_txn(conn, "254712000001", Role.CUSTOMER, "KES", NOW) == wallet
        deposit_txn(conn, wallet, 123450, "KES", NOW, transfer_id=77, user_data="admin:test")
    with engine.begin() as conn:
        assert get_balance(conn, wallet).available == 123450
        assert get_balance(conn, SystemAccount.TRUST).available == 123450  # e-money issued
        assert get_accounts(conn, [agent])[agent].code == AccountCode.AGENT_FLOAT
        transfer = get_transfers(conn, [77])[77]
        assert (transfer.code, transfer.user_data) == (TransferCode.DEPOSIT, "admin:test")
        assert check_ledger(conn).ok


def test_a_refused_deposit_names_the_ledger_result(engine):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        with pytest.raises(ChartError, match="credit_account_not_found"):
            deposit_txn(conn, WALLET_ID_BASE + 1, 100, "KES", NOW, transfer_id=1, user_data="x")
