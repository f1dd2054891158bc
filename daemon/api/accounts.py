"""The Accounts API, the part a business needs around its payments:

- GET /accounts/{identifierType}/{identifier}/balance: the business's OWN account only (any other
  account is not found: a business never reads a customer's balance);
- GET .../accountname: the name lookup before paying: the registered customer or merchant an
  identifier names, shown as confirmations show people to others (`JANE W.`, a till's name), never
  the full name; anything else (unknown, an agent's float, a staff account) is not found;
- GET .../statemententries: the business's own posted and pending transactions, newest first,
  `limit` (default 50, at most 200) from `offset`, between fromDateTime and toDateTime, with the
  X-Records-Available-Count and X-Records-Returned-Count headers.

identifierType is msisdn or walletid (daemon.api.parties).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, RootModel
from sqlalchemy import Connection, and_, func, or_, select
from twisted.internet.defer import Deferred

from daemon.api.amounts import format_amount
from daemon.api.errors import not_found, validation_error
from daemon.api.models import Model
from daemon.api.parties import Party, parse_wallet
from daemon.api.principal import Business
from daemon.api.routing import ROUTER, Call, Reply
from daemon.api.transaction_models import Amount, Currency, Text256
from daemon.api.transaction_view import View, statement_entry
from daemon.chart import wallet_account_id
from daemon.clock import NS_PER_S
from daemon.commands.registry import Role
from daemon.config import Config
from daemon.money import pay_requests
from daemon.money.moves import MoveState, get_move_txn
from daemon.money.notices import numbering
from daemon.schema import moves
from daemon.subscribers import get_subscriber_txn
from ledger import get_balance

TAG = "Accounts"
PAGE_DEFAULT = 50  # the specification's default limit
PAGE_MAX = 200
_SHOWN = (MoveState.POSTED.value, MoveState.PENDING.value)
_NAMED_ROLES = (Role.CUSTOMER, Role.BILLER)


class AccountBalance(Model):
    accountStatus: str
    currentBalance: Amount
    availableBalance: Amount
    reservedBalance: Amount
    unclearedBalance: Amount
    currency: Currency


class SubjectName(Model):
    firstName: Text256 | None = None
    lastName: Text256 | None = None
    fullName: Text256 | None = None


class AccountName(Model):
    name: SubjectName


class StatementEntry(Model):
    transactionReference: Text256
    creditParty: list[Party]
    debitParty: list[Party]
    transactionStatus: Text256
    amount: Amount
    currency: Currency
    descriptionText: str | None = Field(default=None, max_length=160)
    displayType: Text256 | None = None
    transactionReceipt: Text256 | None = None
    creationDate: str | None = None
    modificationDate: str | None = None
    requestDate: str | None = None


class StatementEntries(RootModel[list[StatementEntry]]):
    pass


class StatementQuery(Model):
    limit: int | None = Field(default=None, ge=1, le=PAGE_MAX)
    offset: int | None = Field(default=None, ge=0)
    fromDateTime: str | None = Field(default=None, max_length=64)
    toDateTime: str | None = Field(default=None, max_length=64)


def account_msisdn(call: Call) -> str:
    """The account the path names, as a number; validation error for an identifierType smscore
    does not use."""
    kind = call.params["identifierType"]
    if kind not in ("msisdn", "walletid"):
        raise validation_error(
            "formatError", "identifierType", "identifierType: msisdn or walletid"
        )
    party = Party(key=kind, value=call.params["identifier"][:256] or "-")
    return parse_wallet([party], "identifier", numbering(call.env.config.service.region)).msisdn


def own_account(call: Call) -> str:
    business: Business = call.principal
    msisdn = account_msisdn(call)
    if msisdn != business.msisdn:
        raise not_found("identifier", call.params["identifier"][:64])
    return msisdn


def _balance_txn(conn: Connection, msisdn: str, currency: str) -> dict:
    found = get_balance(conn, wallet_account_id(msisdn))
    subscriber = get_subscriber_txn(conn, msisdn)
    amounts = (0, 0, 0, 0)  # a wallet the ledger has no account for holds nothing
    if found is not None:
        amounts = (found.posted, found.available, found.debits_pending, found.credits_pending)
    names = ("currentBalance", "availableBalance", "reservedBalance", "unclearedBalance")
    shown = {
        name: format_amount(minor, currency) for name, minor in zip(names, amounts, strict=True)
    }
    status = "unavailable" if subscriber is None or subscriber.frozen else "available"
    return {"accountStatus": status, **shown, "currency": currency}


@ROUTER.op(
    "GET",
    "/accounts/{identifierType}/{identifier}/balance",
    "accountsIdentifierTypeIdentifierBalanceGET",
    summary="View the business's own account balance",
    tag=TAG,
    responses={200: AccountBalance},
    auth="business",
)
def balance(call: Call) -> Deferred:
    msisdn = own_account(call)
    found = call.env.db.run_interaction(
        "api.balance", _balance_txn, msisdn, call.env.config.service.currency
    )
    return found.addCallback(lambda body: Reply(200, body))


def _name_txn(conn: Connection, msisdn: str, shown: str) -> dict:
    found = get_subscriber_txn(conn, msisdn)
    if found is None or found.role not in _NAMED_ROLES:
        raise not_found("identifier", shown)
    label = pay_requests.requester_label(conn, found)  # a till's name, or `JANE W.`
    first = label.split()[0] if label else None
    return {"name": {"firstName": first, "fullName": label}} if label else {"name": {}}


@ROUTER.op(
    "GET",
    "/accounts/{identifierType}/{identifier}/accountname",
    "accountsIdentifierTypeIdentifierAccountnameGET",
    summary="View an account holder's name (before paying them)",
    tag=TAG,
    responses={200: AccountName},
    auth="business",
)
def account_name(call: Call) -> Deferred:
    msisdn = account_msisdn(call)
    shown = call.params["identifier"][:64]
    found = call.env.db.run_interaction("api.accountname", _name_txn, msisdn, shown)
    return found.addCallback(lambda body: Reply(200, body))


def _instant_ns(text: str | None, field: str) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise validation_error("formatError", field, f"{field}: an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise validation_error("formatError", field, f"{field}: give the time zone (Z)")
    return int(moment.timestamp() * NS_PER_S)


def _statement_txn(
    conn: Connection, business: Business, query: StatementQuery, config: Config
) -> tuple[list[dict], int]:
    msisdn = business.msisdn
    party = or_(moves.c.payer_msisdn == msisdn, moves.c.payee_msisdn == msisdn)
    where = [party, moves.c.state.in_(_SHOWN)]
    since = _instant_ns(query.fromDateTime, "fromDateTime")
    until = _instant_ns(query.toDateTime, "toDateTime")
    if since is not None:
        where.append(moves.c.created_at_ns >= since)
    if until is not None:
        where.append(moves.c.created_at_ns <= until)
    total = conn.execute(select(func.count()).select_from(moves).where(and_(*where))).scalar_one()
    page = (
        select(moves.c.id)
        .where(and_(*where))
        .order_by(moves.c.created_at_ns.desc(), moves.c.id.desc())
        .limit(query.limit or PAGE_DEFAULT)
        .offset(query.offset or 0)
    )
    view = View.of(config)
    entries = [
        statement_entry(conn, get_move_txn(conn, move_id), view, msisdn, business.id)
        for move_id in conn.execute(page).scalars()
    ]
    return entries, total


@ROUTER.op(
    "GET",
    "/accounts/{identifierType}/{identifier}/statemententries",
    "accountsIdentifierTypeIdentifierStatemententriesGET",
    summary="View the business's own statement",
    tag=TAG,
    query=StatementQuery,
    responses={200: StatementEntries},
    auth="business",
)
def statement_entries(call: Call) -> Deferred:
    own_account(call)
    found = call.env.db.run_interaction(
        "api.statement", _statement_txn, call.principal, call.query, call.env.config
    )
    return found.addCallback(_statement_reply)


def _statement_reply(result: tuple[list[dict], int]) -> Reply:
    entries, total = result
    headers = {
        "X-Records-Available-Count": str(total),
        "X-Records-Returned-Count": str(len(entries)),
    }
    return Reply(200, entries, headers)
