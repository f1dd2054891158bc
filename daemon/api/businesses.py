"""Businesses that integrate over the API and their keys (`businesses`, `api_keys`).

A business IS a merchant: a subscriber with Role.BILLER whose wallet is a merchant wallet (made here
when missing), so TILL and REQ land in the account its disbursements leave. It calls with keys
`smk_<key_id>_<secret>`: the key id is public (logs, the audit log, batches' maker and checker), the
secret is 256 random bits shown once; only the SHA-256 of the whole key is stored, which is enough
for a random key and lets a lookup by key id compare one digest. Every change is audited in the
caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from daemon.api.principal import Business, BusinessState, KeyScope
from daemon.audit import SYSTEM_ACTOR, record_txn
from daemon.chart import open_wallet_txn
from daemon.commands import Role
from daemon.schema import api_keys, businesses
from daemon.subscribers import PinHasher, create_subscriber_txn, get_subscriber_txn

KEY_PREFIX = "smk"
_KEY_ID_BYTES = 8  # 16 hex characters: unique enough to be a public name, never guessed
_SECRET_BYTES = 32
_KEY = re.compile(r"smk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_CODE = re.compile(r"[A-Z][A-Z0-9]{1,31}")
NAME_MAX_CHARS = 64
LABEL_MAX_CHARS = 32
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BusinessError(ValueError):
    """A business change refused (unknown, exists, a bad CIDR ...): one line for the operator."""


class KeyState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class BusinessRecord:
    id: int
    code: str
    name: str
    msisdn: str
    state: BusinessState
    rate_limit_per_s: float | None  # None: [api] rate_limit_per_s
    rate_limit_burst: int | None
    allowed_ips: tuple[str, ...]  # CIDRs; () = any address
    secret_version: int
    created_at_ns: int
    updated_at_ns: int

    def principal(self, key_id: str = "", scope: KeyScope = KeyScope.BOTH) -> Business:
        return Business(self.id, self.code, self.name, self.msisdn, self.state, key_id, scope)

    def networks(self) -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(cidr) for cidr in self.allowed_ips)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    business_id: int
    key_id: str
    label: str
    scope: KeyScope
    state: KeyState
    created_at_ns: int
    revoked_at_ns: int | None
    last_used_at_ns: int | None

    def __repr__(self) -> str:  # the digest is not a secret, but it has no business in a log
        return f"ApiKey({self.key_id} {self.scope.value} {self.state.value})"


# --- names and values as an operator writes them


def normal_code(written: str) -> str:
    code = written.strip().upper()
    if not _CODE.fullmatch(code):
        raise BusinessError(
            f"business code {written!r}: 2 to 32 letters and digits, a letter first"
        )
    return code


def parse_cidrs(written: Iterable[str]) -> tuple[str, ...]:
    """Each CIDR (or single address) in its normal form, in the order given, without repeats."""
    found: list[str] = []
    for text in written:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise BusinessError(f"allowed IP {text!r}: not an address or CIDR") from None
        if str(network) not in found:
            found.append(str(network))
    return tuple(found)


def ip_allowed(networks: tuple[Network, ...], remote_ip: str) -> bool:
    """Any address when no network is listed; an unparsable peer address never matches a list."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(remote_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 on a dual-stack socket
    return any(address in network for network in networks if network.version == address.version)


def split_key(key_text: str) -> str | None:
    """The key id of a well-formed key, else None (nothing about the secret is looked at)."""
    matched = _KEY.fullmatch(key_text)
    return matched.group(1) if matched else None


def key_digest(key_text: str) -> bytes:
    return hashlib.sha256(key_text.encode("ascii")).digest()


def _check_rate(per_s: float | None, burst: int | None) -> None:
    if (per_s is None) != (burst is None):
        raise BusinessError("a rate limit is a rate and a burst, or neither")
    if per_s is not None and not (0 < per_s <= 100_000 and 1 <= (burst or 0) <= 100_000):
        raise BusinessError(f"rate {per_s}/s burst {burst}: rate 0-100000/s, burst 1-100000")


# --- records


def _business(row) -> BusinessRecord:
    values = dict(row._mapping)
    values["state"] = BusinessState(values["state"])
    values["allowed_ips"] = tuple(json.loads(values["allowed_ips"] or "[]"))
    return BusinessRecord(**values)


def _key(row) -> ApiKey:
    values = dict(row._mapping)
    values.pop("key_digest")
    values["scope"] = KeyScope(values["scope"])
    values["state"] = KeyState(values["state"])
    return ApiKey(**values)


def get_business_txn(conn: Connection, code: str) -> BusinessRecord | None:
    row = conn.execute(select(businesses).where(businesses.c.code == code)).first()
    return _business(row) if row is not None else None


def get_business_by_id_txn(conn: Connection, business_id: int) -> BusinessRecord | None:
    row = conn.execute(select(businesses).where(businesses.c.id == business_id)).first()
    return _business(row) if row is not None else None


def require_business_txn(conn: Connection, code: str) -> BusinessRecord:
    found = get_business_txn(conn, code)
    if found is None:
        raise BusinessError(f"no business {code}")
    return found


def list_businesses_txn(conn: Connection) -> list[BusinessRecord]:
    return [_business(row) for row in conn.execute(select(businesses).order_by(businesses.c.id))]


def keys_of_txn(conn: Connection, business_id: int) -> list[ApiKey]:
    query = select(api_keys).where(api_keys.c.business_id == business_id).order_by(api_keys.c.id)
    return [_key(row) for row in conn.execute(query)]


def _merchant_txn(conn: Connection, msisdn: str, name: str, currency: str, hasher: PinHasher,
                  now_ns: int, actor: str) -> None:  # fmt: skip
    """The business's merchant subscriber and wallet: an existing merchant (a till's) is used."""
    found = get_subscriber_txn(conn, msisdn)
    if found is None:
        create_subscriber_txn(
            conn, msisdn, pin=None, hasher=hasher, currency=currency, now_ns=now_ns,
            name=name, role=Role.BILLER, registered_by=f"staff:{actor}",
        )  # fmt: skip
    elif found.role is not Role.BILLER:
        raise BusinessError(
            f"{msisdn} is registered as {found.role.value}: a business needs a merchant number"
        )
    else:
        open_wallet_txn(conn, msisdn, Role.BILLER, currency, now_ns)


def create_business_txn(
    conn: Connection,
    *,
    code: str,
    name: str,
    msisdn: str,
    currency: str,
    now_ns: int,
    hasher: PinHasher,
    actor: str = SYSTEM_ACTOR,
    rate_limit_per_s: float | None = None,
    rate_limit_burst: int | None = None,
    allowed_ips: Iterable[str] = (),
) -> Business:
    """A new business (active, no key yet) with its merchant subscriber and wallet."""
    code = normal_code(code)
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX_CHARS or not name.isprintable():
        raise BusinessError(f"name {name!r}: 1 to {NAME_MAX_CHARS} printable characters")
    _check_rate(rate_limit_per_s, rate_limit_burst)
    cidrs = parse_cidrs(allowed_ips)
    if get_business_txn(conn, code) is not None:
        raise BusinessError(f"business {code} exists already")
    if conn.execute(select(businesses.c.code).where(businesses.c.msisdn == msisdn)).first():
        raise BusinessError(f"{msisdn} is already the account of another business")
    _merchant_txn(conn, msisdn, name, currency, hasher, now_ns, actor)
    values = {
        "code": code, "name": name, "msisdn": msisdn, "state": BusinessState.ACTIVE.value,
        "rate_limit_per_s": rate_limit_per_s, "rate_limit_burst": rate_limit_burst,
        "allowed_ips": json.dumps(list(cidrs)), "secret_version": 1,
        "created_at_ns": now_ns, "updated_at_ns": now_ns,
    }  # fmt: skip
    business_id = conn.execute(
        insert(businesses).values(values).returning(businesses.c.id)
    ).scalar_one()
    detail = f"name {name!r}, account {msisdn}"
    record_txn(conn, actor, "business.add", _target(code), detail, now_ns)
    found = get_business_by_id_txn(conn, business_id)
    assert found is not None
    return found.principal()


def _target(code: str) -> str:
    return f"business:{code}"


def _update_txn(conn: Connection, found: BusinessRecord, now_ns: int, **values) -> BusinessRecord:
    where = businesses.c.id == found.id
    conn.execute(update(businesses).where(where).values(updated_at_ns=now_ns, **values))
    changed = get_business_by_id_txn(conn, found.id)
    assert changed is not None
    return changed


def set_state_txn(
    conn: Connection, code: str, state: BusinessState, now_ns: int, actor: str = SYSTEM_ACTOR
) -> BusinessRecord:
    """Suspend (every request refused) or reinstate; BusinessError if it is already so."""
    found = require_business_txn(conn, code)
    if found.state is state:
        raise BusinessError(f"business {code} is {state.value} already")
    changed = _update_txn(conn, found, now_ns, state=state.value)
    action = "business.suspend" if state is BusinessState.SUSPENDED else "business.reinstate"
    record_txn(conn, actor, action, _target(code), f"was {found.state.value}", now_ns)
    return changed


def set_allowed_ips_txn(
    conn: Connection, code: str, cidrs: Iterable[str], now_ns: int, actor: str = SYSTEM_ACTOR
) -> BusinessRecord:
    """The addresses the business may call from (none: any)."""
    found = require_business_txn(conn, code)
    normal = parse_cidrs(cidrs)
    changed = _update_txn(conn, found, now_ns, allowed_ips=json.dumps(list(normal)))
    detail = (
        f"allowed IPs {', '.join(normal) or 'any'} (were {', '.join(found.allowed_ips) or 'any'})"
    )
    record_txn(conn, actor, "business.allow_ip", _target(code), detail, now_ns)
    return changed


def set_rate_limit_txn(
    conn: Connection,
    code: str,
    per_s: float | None,
    burst: int | None,
    now_ns: int,
    actor: str = SYSTEM_ACTOR,
) -> BusinessRecord:
    """Its own rate limit (requests per second, burst), or None and None: the [api] default."""
    _check_rate(per_s, burst)
    found = require_business_txn(conn, code)
    changed = _update_txn(conn, found, now_ns, rate_limit_per_s=per_s, rate_limit_burst=burst)
    detail = f"rate {per_s}/s burst {burst}" if per_s is not None else "rate: the default"
    record_txn(conn, actor, "business.rate", _target(code), detail, now_ns)
    return changed


# --- keys


def add_key_txn(
    conn: Connection,
    business_id: int,
    label: str,
    scope: KeyScope,
    now_ns: int,
    *,
    actor: str = SYSTEM_ACTOR,
) -> tuple[str, str]:
    """A new key: (key_text, key_id). The text is shown to the operator once and never stored."""
    found = get_business_by_id_txn(conn, business_id)
    if found is None:
        raise BusinessError(f"no business with id {business_id}")
    label = " ".join(label.split())
    if len(label) > LABEL_MAX_CHARS or not label.isprintable():
        raise BusinessError(f"label {label!r}: up to {LABEL_MAX_CHARS} printable characters")
    scope = KeyScope(scope)
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    key_text = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    values = {
        "business_id": business_id, "key_id": key_id, "key_digest": key_digest(key_text),
        "label": label, "scope": scope.value, "state": KeyState.ACTIVE.value,
        "created_at_ns": now_ns,
    }  # fmt: skip
    conn.execute(insert(api_keys).values(values))
    detail = f"key {key_id} ({scope.value}) {label!r}"
    record_txn(conn, actor, "business.key_add", _target(found.code), detail, now_ns)
    return key_text, key_id


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """What a presented key names: its record and its business (whatever their states)."""

    key: ApiKey
    business: BusinessRecord


def find_key_txn(conn: Connection, key_text: str) -> KeyMatch | None:
    """The key this text is, if it is one of ours (the digest compared in constant time)."""
    key_id = split_key(key_text)
    if key_id is None:
        return None
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None or not hmac.compare_digest(bytes(row.key_digest), key_digest(key_text)):
        return None
    owner = get_business_by_id_txn(conn, row.business_id)
    assert owner is not None  # a foreign key
    return KeyMatch(_key(row), owner)


def get_key_txn(conn: Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    return _key(row) if row is not None else None


def revoke_key_txn(conn: Connection, key_id: str, now_ns: int, actor: str = SYSTEM_ACTOR) -> ApiKey:
    """The key refused from now on; BusinessError if unknown or revoked already."""
    found = get_key_txn(conn, key_id)
    if found is None:
        raise BusinessError(f"no API key {key_id}")
    if found.state is KeyState.REVOKED:
        raise BusinessError(f"API key {key_id} is revoked already")
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == found.id)
        .values(state=KeyState.REVOKED.value, revoked_at_ns=now_ns)
    )
    owner = get_business_by_id_txn(conn, found.business_id)
    assert owner is not None
    record_txn(conn, actor, "business.key_revoke", _target(owner.code), f"key {key_id}", now_ns)
    revoked = get_key_txn(conn, key_id)
    assert revoked is not None
    return revoked


def touch_key_txn(conn: Connection, key_id: str, now_ns: int) -> None:
    """When the key was last used (the authenticator calls this at most once a minute per key)."""
    conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at_ns=now_ns))
