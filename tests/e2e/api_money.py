"""The business API's e2e modules share this: one simulator and daemon per module (a MoneyService,
tests/e2e/money.py) with the API's timings short, a business made as `smscore admin business
add` makes it (its funded wallet, a till to take merchantpay, a key), and an ApiClient for it
(tests/e2e/api_client.py: every answer checked against the served OpenAPI document)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from daemon.api.businesses import add_key_txn, create_business_txn
from daemon.api.principal import KeyScope
from daemon.chart import deposit_txn, new_transfer_id, wallet_account_id
from daemon.components import pin_hasher
from daemon.schema import tills
from tests.e2e import money as e2e_money
from tests.e2e.api_client import ApiClient
from tests.e2e.harness import SHORT_CODE
from tests.e2e.money import MoneyService, Phone

PAY_CODE = re.compile(r"PAY (R\d+) PIN")
CALLBACKS = {  # quick retries: a receiver that is down is tried again within a second
    "callback_interval_s": 0.1,
    "callback_first_retry_s": 0.3,
    "callback_backoff": 2.0,
    "callback_max_interval_s": 1.0,
    "callback_timeout_s": 2.0,
    "callback_max_attempts": 60,
    "callback_http_hosts": ["127.0.0.1"],
}


@contextmanager
def api_service(workdir: Path, **api: Any) -> Iterator[MoneyService]:
    """The module's daemon: the money settings, the API's SMS from the short code, `api` over
    the [api] section; stopped (and the ledger checked by `smscore ledger check`) at the end."""
    plain = e2e_money.money_settings

    def settings() -> dict:
        return {**plain(), "sender": {"source_addr": SHORT_CODE}, "api": api}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(e2e_money, "money_settings", settings)
        service = MoneyService.start(workdir, f"sqlite:///{workdir / 'money.db'}")
    try:
        yield service
    finally:
        assert service.stop() == 0, service.daemon.log()


@dataclass
class Shop:
    phone: Phone  # told of payments to its till
    key: str
    client: ApiClient

    @property
    def msisdn(self) -> str:
        return self.phone.msisdn


def base_url(money: MoneyService) -> str:
    return f"http://{money.config.api.listen}"


def business(
    money: MoneyService, code: str, balance_minor: int = 0, till: bool = True, **limits: Any
) -> Shop:
    """A business (its wallet funded, a till to take merchantpay) with a key and a client;
    `limits`: its rate_limit_per_s and rate_limit_burst."""
    msisdn = money.number("2547330")
    now_ns = time.time_ns()
    with money.engine.begin() as conn:
        created = create_business_txn(
            conn, code=code, name=f"{code} Ltd", msisdn=msisdn, currency="KES", now_ns=now_ns,
            hasher=pin_hasher(money.config), actor="e2e", **limits,
        )  # fmt: skip
        key, _ = add_key_txn(conn, created.id, "e2e", KeyScope.BOTH, now_ns, actor="e2e")
        if till:
            conn.execute(insert(tills).values(
                till_number=money.agent_number(), msisdn=msisdn, name=f"{code} Shop",
                state="active", created_at_ns=now_ns, created_by="e2e",
            ))  # fmt: skip
        if balance_minor:
            deposit_txn(conn, wallet_account_id(msisdn), balance_minor, "KES", now_ns,
                        transfer_id=new_transfer_id(), user_data="e2e")  # fmt: skip
    return Shop(money.phone(msisdn), key, ApiClient(base_url(money), key))


def pay_code(text: str) -> str:
    found = PAY_CODE.search(text)
    assert found, f"no request code in {text!r}"
    return found.group(1)
