"""Businesses for API tests: `add_business(world)` registers one (its merchant wallet funded through
the ledger like World.add funds a subscriber) with one key, and `key_header(key)` is what a request
sends."""

from __future__ import annotations

import zlib
from typing import Any

from daemon.api.businesses import add_key_txn, create_business_txn
from daemon.api.principal import Business, KeyScope
from daemon.chart import deposit_txn, new_transfer_id, wallet_account_id
from tests.daemon.money_world import HASHER, World


def business_msisdn(code: str) -> str:
    """A merchant number of its own per code (2547 9xxx xxxx, apart from the tests' customers)."""
    return f"25479{zlib.crc32(code.encode()) % 10**7:07d}"


def add_business(
    world: World,
    code: str = "ACME",
    balance_minor: int = 0,
    *,
    scope: KeyScope = KeyScope.BOTH,
    label: str = "test",
    **fields: Any,
) -> tuple[Business, str]:
    """A new active business with one key of `scope`: (the Business as its key calls, key text).
    `fields` go to create_business_txn (name, msisdn, rate_limit_per_s, allowed_ips ...)."""
    fields.setdefault("name", f"{code.title()} Ltd")
    fields.setdefault("msisdn", business_msisdn(code))
    with world.engine.begin() as conn:
        created = create_business_txn(
            conn, code=code, currency="KES", now_ns=world.now_ns, hasher=HASHER, actor="test",
            **fields,
        )  # fmt: skip
        key_text, key_id = add_key_txn(conn, created.id, label, scope, world.now_ns, actor="test")
        if balance_minor:
            deposit_txn(
                conn, wallet_account_id(created.msisdn), balance_minor, "KES", world.now_ns,
                transfer_id=new_transfer_id(), user_data="test",
            )  # fmt: skip
    business = Business(
        created.id, created.code, created.name, created.msisdn, created.state, key_id, scope
    )
    return business, key_text


def add_key(world: World, business: Business, scope: KeyScope = KeyScope.BOTH,
            label: str = "more") -> tuple[str, str]:  # fmt: skip
    """Another key of the business: (key text, key id)."""
    with world.engine.begin() as conn:
        return add_key_txn(conn, business.id, label, scope, world.now_ns, actor="test")


def key_header(key_text: str, **more: str) -> dict[str, str]:
    return {"X-API-Key": key_text, **more}
