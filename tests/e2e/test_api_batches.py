"""Bulk disbursement over real HTTP on 127.0.0.1, with an independent client (requests), against
the daemon: a maker key creates a payroll (re-POSTed: the same batch), the maker cannot approve
it, a checker key does, the daemon pays every item and the batch completes; the ledger checks."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from daemon.api.businesses import add_key_txn, create_business_txn
from daemon.api.principal import KeyScope
from daemon.chart import deposit_txn, new_transfer_id, wallet_account_id
from daemon.components import pin_hasher
from daemon.config import Config
from ledger import check_ledger, get_balance, make_engine
from tests.e2e.harness import (
    DaemonProcess,
    Subscriber,
    daemon_settings,
    seed_subscribers,
    wait_for,
)

BUSINESS = "254790000001"
STAFF = (Subscriber("254712300001", "1234", 100), Subscriber("254712300002", "1234", 100))
TIMEOUT_S = 10


def _seed_business(config: Config) -> tuple[str, str]:
    """ACME with 10,000.00 KES and two keys: (maker, checker)."""
    engine = make_engine(config.database_url)
    now = time.time_ns()
    try:
        with engine.begin() as conn:
            acme = create_business_txn(
                conn, code="ACME", name="Acme Ltd", msisdn=BUSINESS, currency="KES",
                now_ns=now, hasher=pin_hasher(config), actor="e2e",
            )  # fmt: skip
            deposit_txn(
                conn, wallet_account_id(BUSINESS), 1_000_000, "KES", now,
                transfer_id=new_transfer_id(), user_data="e2e",
            )  # fmt: skip
            maker, _ = add_key_txn(conn, acme.id, "maker", KeyScope.MAKER, now, actor="e2e")
            checker, _ = add_key_txn(conn, acme.id, "checker", KeyScope.CHECKER, now, actor="e2e")
    finally:
        engine.dispose()
    return maker, checker


def _payroll() -> dict:
    return {
        "batchTitle": "December payroll",
        "transactions": [
            {"type": "disbursement", "amount": amount, "currency": "KES",
             "creditParty": [{"key": "msisdn", "value": f"+{person.msisdn}"}]}
            for person, amount in zip(STAFF, ("1500.00", "2500.50"), strict=True)
        ],
    }  # fmt: skip


def _balances(config: Config) -> tuple[list[int], bool]:
    engine = make_engine(config.database_url)
    try:
        with engine.begin() as conn:
            money = [
                get_balance(conn, wallet_account_id(m)).posted
                for m in (BUSINESS, *(p.msisdn for p in STAFF))
            ]
            return money, check_ledger(conn).ok
    finally:
        engine.dispose()


def test_a_payroll_is_made_approved_and_paid_over_http(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    daemon = DaemonProcess(tmp_path, daemon_settings(tmp_path / "state", url, None))
    config = daemon.config
    seed_subscribers(config, STAFF)
    maker, checker = _seed_business(config)
    api = f"http://{daemon.settings['api']['listen']}"
    try:
        daemon.start().wait_ready()
        wait_for(lambda: _up(api), TIMEOUT_S, "the API")
        headers = {"X-API-Key": maker, "X-CorrelationID": "payroll-2026-12"}
        first = requests.post(f"{api}/batchtransactions", json=_payroll(), headers=headers,
                              timeout=TIMEOUT_S)  # fmt: skip
        again = requests.post(f"{api}/batchtransactions", json=_payroll(), headers=headers,
                              timeout=TIMEOUT_S)  # fmt: skip
        assert (first.status_code, again.status_code) == (202, 202), first.text
        assert again.json()["serverCorrelationId"] == first.json()["serverCorrelationId"]
        batch_id = first.json()["objectReference"]
        path = f"{api}/batchtransactions/{batch_id}"
        patch = [{"op": "replace", "path": "/batchStatus", "value": "approved"}]
        own = requests.patch(path, json=patch, headers={"X-API-Key": maker}, timeout=TIMEOUT_S)
        assert (own.status_code, own.json()["errorCode"]) == (401, "clientAuthorisationError")
        approved = requests.patch(
            path, json=patch, headers={"X-API-Key": checker}, timeout=TIMEOUT_S
        )
        assert approved.status_code == 204, approved.text
        batch = wait_for(lambda: _completed(path, maker), 30, "the batch completed")
        completions = requests.get(
            f"{path}/completions", headers={"X-API-Key": checker}, timeout=TIMEOUT_S
        )
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert (batch["completedCount"], batch["rejectionCount"]) == (2, 0)
    assert completions.headers["X-Records-Available-Count"] == "2"
    assert len({c["transactionReference"] for c in completions.json()}) == 2
    money, ledger_ok = _balances(config)
    assert money == [1_000_000 - 400_050, 150_100, 250_150]  # each had 1.00
    assert ledger_ok


def _up(api: str) -> bool:
    try:
        return requests.get(f"{api}/heartbeat", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _completed(path: str, key: str) -> dict | None:
    batch = requests.get(path, headers={"X-API-Key": key}, timeout=TIMEOUT_S).json()
    return batch if batch["batchStatus"] == "completed" else None
