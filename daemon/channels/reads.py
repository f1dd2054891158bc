"""What a device reads from its channel, each in one transaction: a page of events (recording the
device's position), the wallet's balance with the channel's head, recent postings."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from daemon.api.errors import iso_time
from daemon.channels.events import event_json, events_after_txn
from daemon.channels.models import (
    ChannelBalance,
    ChannelEvent,
    ChannelStatement,
    EventsPage,
    StatementEntry,
)
from daemon.channels.observer import side_of
from daemon.channels.principal import ChannelPrincipal
from daemon.chart import wallet_account_id
from daemon.money.moves import recent_moves_txn
from daemon.schema_api import channel_positions, channels
from ledger import get_balance


def head_seq_txn(conn: Connection, channel_id: int, lock: bool = False) -> int:
    """The channel's last seq. `lock` (PostgreSQL): hold a share lock on the channel's row, which
    every event writer's UPDATE needs, so what is read next in this transaction (the balance)
    includes exactly the postings up to this seq."""
    query = select(channels.c.next_seq).where(channels.c.id == channel_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    return conn.execute(query).scalar_one() - 1


def page_txn(
    conn: Connection, principal: ChannelPrincipal, after: int, limit: int, now_ns: int
) -> EventsPage:
    """The events after `after`, oldest first; the device's position recorded (acked_seq: what it
    said it has)."""
    stored = events_after_txn(conn, principal.channel_id, after, limit)
    record_position_txn(conn, principal, after, now_ns)
    return EventsPage(
        events=[ChannelEvent(**event_json(event)) for event in stored],
        next=stored[-1].seq if stored else after,
        head=head_seq_txn(conn, principal.channel_id),
    )


def record_position_txn(
    conn: Connection, principal: ChannelPrincipal, acked_seq: int, now_ns: int
) -> None:
    done = conn.execute(
        update(channel_positions)
        .where(channel_positions.c.device_id == principal.device_id)
        .values(acked_seq=acked_seq, last_seen_at_ns=now_ns, channel_id=principal.channel_id)
    )
    if done.rowcount == 0:  # a token issued before positions were kept
        conn.execute(
            insert(channel_positions).values(
                device_id=principal.device_id, channel_id=principal.channel_id,
                acked_seq=acked_seq, last_seen_at_ns=now_ns,
            )
        )  # fmt: skip


def balance_txn(conn: Connection, principal: ChannelPrincipal, currency: str) -> ChannelBalance:
    head = head_seq_txn(conn, principal.channel_id, lock=True)
    found = get_balance(conn, wallet_account_id(principal.msisdn))
    return ChannelBalance(
        balanceMinor=found.posted if found is not None else 0,
        availableMinor=found.available if found is not None else 0,
        currency=currency,
        headSeq=head,
    )


def statement_txn(
    conn: Connection, principal: ChannelPrincipal, currency: str, limit: int
) -> ChannelStatement:
    """The wallet's latest posted or pending moves, newest first, as the ledger has them."""
    entries = []
    for move in recent_moves_txn(conn, principal.msisdn, limit):
        debit = move.payer_msisdn == principal.msisdn
        fee, counterparty = side_of(move, debit)
        entries.append(
            StatementEntry(
                ref=move.ref,
                kind=move.kind.value,
                state=move.state.value,
                direction="debit" if debit else "credit",
                amountMinor=move.amount_minor,
                feeMinor=fee,
                counterparty=counterparty,
                createdAt=iso_time(move.created_at_ns),
                decidedAt=iso_time(move.decided_at_ns) if move.decided_at_ns else None,
            )
        )
    return ChannelStatement(currency=currency, entries=entries)
