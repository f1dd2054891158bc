"""The `pay_requests` rows behind REQ / PAY <code> / NO <code>: reading them, their codes, how many
wait, and every change of state as one guarded UPDATE (it names the state it read, so of two
changes racing, a payment and an expiry, exactly one wins).

A request is open until it is paid, refused or expires. Paid means its move (`move_id`) is pending
or posted: a payment whose move is later voided (its confirmation was never delivered) leaves the
request open again, still `paid` in the row but `standing` open until it is paid again, refused or
expires.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from daemon.money.moves import Move, MoveState, get_move_txn
from daemon.money.payment_types import REQUEST_CODE_CHARS
from daemon.schema import moves, pay_requests

CODE_PREFIX = "R"
CODE_ATTEMPTS = 64
_CODE_SPACE = 10 ** (REQUEST_CODE_CHARS - 1)
_PAYING = (MoveState.PENDING.value, MoveState.POSTED.value)


class RequestState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    REFUSED = "refused"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class PayRequest:
    id: int
    code: str
    requester_msisdn: str
    payer_msisdn: str
    amount_minor: int
    note: str
    state: RequestState
    move_id: int | None
    inbox_id: int | None
    created_at_ns: int
    expires_at_ns: int
    decided_at_ns: int | None


def _request(row) -> PayRequest:
    values = dict(row._mapping)
    values["state"] = RequestState(values["state"])
    return PayRequest(**{name: values[name] for name in PayRequest.__slots__})


def find_txn(conn: Connection, payer_msisdn: str, code: str) -> PayRequest | None:
    """The payer's latest request with this code (codes are unique among its recent ones)."""
    query = (
        select(pay_requests)
        .where(pay_requests.c.payer_msisdn == payer_msisdn, pay_requests.c.code == code)
        .order_by(pay_requests.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return _request(row) if row is not None else None


def standing_txn(
    conn: Connection, request: PayRequest, now_ns: int
) -> tuple[RequestState, Move | None]:
    """Where the request stands now, and the move paying it (pending or posted) if paid."""
    if request.state in (RequestState.REFUSED, RequestState.EXPIRED):
        return request.state, None
    if request.move_id is not None:
        move = get_move_txn(conn, request.move_id)
        if move.state.value in _PAYING:
            return RequestState.PAID, move
    if request.expires_at_ns <= now_ns:
        return RequestState.EXPIRED, None
    return RequestState.OPEN, None


def _is_open(now_ns: int):
    return and_(
        pay_requests.c.state == RequestState.OPEN.value, pay_requests.c.expires_at_ns > now_ns
    )


def open_counts_txn(
    conn: Connection, requester_msisdn: str, payer_msisdn: str, now_ns: int
) -> tuple[int, int, int]:
    """Open requests (pair, payer's, requester's): the three queues REQ bounds."""

    def count(*where) -> int:
        query = select(func.count()).select_from(pay_requests).where(_is_open(now_ns), *where)
        return conn.execute(query).scalar_one()

    by_payer = pay_requests.c.payer_msisdn == payer_msisdn
    by_requester = pay_requests.c.requester_msisdn == requester_msisdn
    return count(by_payer, by_requester), count(by_payer), count(by_requester)


def new_code_txn(conn: Connection, payer_msisdn: str, since_ns: int) -> str | None:
    """A code like R4821 that none of the payer's requests made since `since_ns` has, nor any of
    its open ones; None if none was found in CODE_ATTEMPTS draws."""
    query = select(pay_requests.c.code).where(
        pay_requests.c.payer_msisdn == payer_msisdn,
        or_(
            pay_requests.c.created_at_ns >= since_ns,
            pay_requests.c.state == RequestState.OPEN.value,
        ),
    )
    taken = set(conn.execute(query).scalars())
    for _ in range(CODE_ATTEMPTS):
        code = f"{CODE_PREFIX}{secrets.randbelow(_CODE_SPACE):0{REQUEST_CODE_CHARS - 1}d}"
        if code not in taken:
            return code
    return None


def insert_txn(conn: Connection, **values: object) -> int:
    values = {"state": RequestState.OPEN.value, **values}
    return conn.execute(insert(pay_requests).values(values)).inserted_primary_key[0]


# Told of every change of a request's state, in the transaction (and savepoint) that made it:
# observer(conn, the request as it is now, now_ns). The business API follows its own requests so.
Observer = Callable[[Connection, PayRequest, int], None]
_OBSERVERS: list[Observer] = []


def on_change(observer: Observer) -> Observer:
    _OBSERVERS.append(observer)
    return observer


def change_txn(
    conn: Connection, request: PayRequest, state: RequestState, now_ns: int, **values: object
) -> bool:
    """`request` moved to `state` if it is still as read (same state and move); False if it
    changed since (someone else decided it first). Observers are told of a change made."""
    same_move = (
        pay_requests.c.move_id.is_(None)
        if request.move_id is None
        else pay_requests.c.move_id == request.move_id
    )
    changed = conn.execute(
        update(pay_requests)
        .where(
            pay_requests.c.id == request.id,
            pay_requests.c.state == request.state.value,
            same_move,
        )
        .values(state=state.value, decided_at_ns=now_ns, **values)
    )
    if changed.rowcount != 1:
        return False
    now = replace(request, state=state, decided_at_ns=now_ns, **values)  # type: ignore[arg-type]
    for observer in _OBSERVERS:
        observer(conn, now, now_ns)
    return True


def expired_txn(conn: Connection, now_ns: int, limit: int) -> list[PayRequest]:
    """Requests past their time still open: never paid, or paid by a move since voided."""
    unpaid = or_(
        pay_requests.c.state == RequestState.OPEN.value,
        and_(
            pay_requests.c.state == RequestState.PAID.value,
            moves.c.state.is_not(None),
            moves.c.state.not_in(_PAYING),
        ),
    )
    query = (
        select(pay_requests)
        .select_from(pay_requests.outerjoin(moves, moves.c.id == pay_requests.c.move_id))
        .where(pay_requests.c.expires_at_ns <= now_ns, unpaid)
        .order_by(pay_requests.c.expires_at_ns)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=pay_requests, skip_locked=True)
    return [_request(row) for row in conn.execute(query)]


def lock_txn(conn: Connection, request_id: int) -> PayRequest | None:
    """The request, its row locked for this transaction; None if another transaction holds it
    (PostgreSQL; never waited on: the holder is deciding it, a payment or a refusal)."""
    query = select(pay_requests).where(pay_requests.c.id == request_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = conn.execute(query).first()
    return _request(row) if row is not None else None


def get_txn(conn: Connection, request_id: int) -> PayRequest:
    return _request(conn.execute(select(pay_requests).where(pay_requests.c.id == request_id)).one())


def request_of_move_txn(conn: Connection, move_id: int) -> PayRequest | None:
    row = conn.execute(select(pay_requests).where(pay_requests.c.move_id == move_id)).first()
    return _request(row) if row is not None else None
