"""Agent stores and their assistants, set up by staff; e-float issued to a store from the trust
account. Each function runs in the caller's transaction and writes its one audit entry there."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from daemon.admin.env import AdminEnv, pin_hasher_txn
from daemon.audit import record_txn
from daemon.commands.registry import Role
from daemon.money.issue import Issue, issue_txn
from daemon.money.moves import Move, MoveKind
from daemon.schema import subscribers
from daemon.subscribers import (
    Subscriber,
    SubscriberError,
    create_subscriber_txn,
    get_subscriber_txn,
)

AGENT_NUMBER_ATTEMPTS = 64  # draws before giving up: a nearly full number space needs more digits


class NotRegistered(SubscriberError):
    pass


class NotAStore(SubscriberError):
    pass


class NoFreeAgentNumber(SubscriberError):
    pass


@dataclass(frozen=True, slots=True)
class NewIdentity:
    """An agent store or an assistant to register (the PIN in clear: hashed before it is stored)."""

    msisdn: str
    name: str
    pin: str = field(repr=False)
    language: str = "en"


def registered_txn(conn: Connection, msisdn: str) -> Subscriber:
    found = get_subscriber_txn(conn, msisdn)
    if found is None:
        raise NotRegistered(f"{msisdn} is not registered")
    return found


def store_txn(conn: Connection, msisdn: str) -> Subscriber:
    """The agent store `msisdn`; NotRegistered or NotAStore otherwise."""
    store = registered_txn(conn, msisdn)
    if store.role is Role.ASSISTANT:
        raise NotAStore(
            f"{msisdn} is an assistant at store {store.store_msisdn}, not an agent store"
        )
    if store.role is not Role.AGENT:
        raise NotAStore(f"{msisdn} is a {store.role.value}, not an agent store")
    return store


def new_agent_number_txn(
    conn: Connection, digits: int, draw: Callable[[int], int] = secrets.randbelow
) -> str:
    """A random `digits`-digit agent number, not starting with 0, that no store has yet."""
    lowest = 10 ** (digits - 1)
    for _ in range(AGENT_NUMBER_ATTEMPTS):
        number = str(lowest + draw(9 * lowest))
        taken = select(subscribers.c.msisdn).where(subscribers.c.agent_number == number)
        if conn.execute(taken).first() is None:
            return number
    raise NoFreeAgentNumber(
        f"no free {digits}-digit agent number after {AGENT_NUMBER_ATTEMPTS} tries; "
        "raise [money] agent_number_digits"
    )


def add_agent_txn(
    conn: Connection, env: AdminEnv, agent: NewIdentity, float_minor: int, now_ns: int
) -> tuple[Subscriber, Move | None]:
    """Register an agent store with its float wallet and agent number; issue `float_minor` of
    e-float into it (0: none). The issued move points at the one audit entry."""
    hasher = pin_hasher_txn(conn, env.config, now_ns)
    number = new_agent_number_txn(conn, env.config.money.agent_number_digits)
    store = create_subscriber_txn(
        conn, agent.msisdn, pin=agent.pin, hasher=hasher, currency=env.currency, now_ns=now_ns,
        name=agent.name, role=Role.AGENT, language=agent.language, agent_number=number,
        registered_by=f"staff:{env.actor}",
    )  # fmt: skip
    detail = f"name {agent.name!r}, agent number {number}"
    if float_minor:
        detail += f", float {env.money(float_minor)}"
    audit_id = record_txn(conn, env.actor, "agent.add", agent.msisdn, detail, now_ns)
    if not float_minor:
        return store, None
    issue = Issue(MoveKind.FLOAT, agent.msisdn, store.account_id, float_minor, audit_id)
    return store, issue_txn(conn, issue, env.currency, now_ns)


def add_assistant_txn(
    conn: Connection, env: AdminEnv, store_msisdn: str, assistant: NewIdentity, now_ns: int
) -> Subscriber:
    """Register an assistant working on `store_msisdn`'s float with its own PIN."""
    store_txn(conn, store_msisdn)
    hasher = pin_hasher_txn(conn, env.config, now_ns)
    added = create_subscriber_txn(
        conn, assistant.msisdn, pin=assistant.pin, hasher=hasher, currency=env.currency,
        now_ns=now_ns, name=assistant.name, role=Role.ASSISTANT, language=assistant.language,
        store_msisdn=store_msisdn, registered_by=f"staff:{env.actor}",
    )  # fmt: skip
    detail = f"name {assistant.name!r}, store {store_msisdn}"
    record_txn(conn, env.actor, "assistant.add", assistant.msisdn, detail, now_ns)
    return added


def issue_float_txn(
    conn: Connection, env: AdminEnv, store_msisdn: str, amount_minor: int, now_ns: int
) -> Move:
    """E-float from the trust account into an active store's float."""
    store = store_txn(conn, store_msisdn)
    if store.frozen:
        raise SubscriberError(f"{store_msisdn} is frozen: unfreeze it before issuing float")
    detail = f"float {env.money(amount_minor)}"
    audit_id = record_txn(conn, env.actor, "float", store_msisdn, detail, now_ns)
    issue = Issue(MoveKind.FLOAT, store_msisdn, store.account_id, amount_minor, audit_id)
    return issue_txn(conn, issue, env.currency, now_ns)
