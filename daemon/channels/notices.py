"""Notices on a subscriber's channel: security (a device enrolled or removed, the PIN locked, money
held after a SIM change), limits (a payment refused by a limit) and global (staff, to everyone:
daemon.admin.notices). Written in the transaction of what they tell of; nothing at all for a
subscriber without a channel (one indexed read)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, select

from daemon import replies
from daemon.channels.events import event_master, get_channel_txn, write_event_txn
from daemon.clock import NS_PER_S
from daemon.schema import subscribers


class NoticeTopic(StrEnum):
    SECURITY = "security"
    LIMIT = "limit"
    GLOBAL = "global"


def notify_txn(
    conn: Connection, msisdn: str, topic: NoticeTopic | str, text: str, now_ns: int
) -> int | None:
    """A notice event on the subscriber's channel; its seq, or None (no channel)."""
    event = {"type": "notice", "topic": NoticeTopic(topic).value, "text": text}
    return write_event_txn(conn, msisdn, event, now_ns)


def notify_key_txn(
    conn: Connection,
    msisdn: str,
    topic: NoticeTopic,
    key: str,
    now_ns: int,
    service: str = "",
    **fields: object,
) -> int | None:
    """The catalogue text `key` in the subscriber's language as a notice; nothing (not even the
    text) for a subscriber without a channel."""
    if event_master() is None or get_channel_txn(conn, msisdn) is None:
        return None
    language = conn.execute(
        select(subscribers.c.language).where(subscribers.c.msisdn == msisdn)
    ).scalar()
    text = replies.render(language or replies.DEFAULT_LANGUAGE, key, service=service, **fields)
    return notify_txn(conn, msisdn, topic, text, now_ns)


def notify_lockout_txn(
    conn: Connection, msisdn: str, tries: int, lockout_ns: int, now_ns: int
) -> int | None:
    minutes = max(1, -(-lockout_ns // (60 * NS_PER_S)))
    return notify_key_txn(
        conn,
        msisdn,
        NoticeTopic.SECURITY,
        "notice_pin_locked",
        now_ns,
        tries=tries,
        minutes=minutes,
    )
