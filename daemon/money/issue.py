"""E-money issued by staff from the trust account: e-float into an agent store (FLOAT) or an opening
balance into any wallet (ISSUE). Each is a move, posted at once, pointing at the audit entry of the
staff action that caused it, so the ledger posting is traceable to who did it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from daemon.chart import SystemAccount, TransferCode
from daemon.money.moves import LedgerRefusal, Leg, Move, MoveKind, MoveRequest, open_move_txn

ISSUED_KINDS = (MoveKind.FLOAT, MoveKind.ISSUE)


class IssueRefused(Exception):
    """The ledger refused the issue (e.g. the wallet is in another currency); one line."""


@dataclass(frozen=True, slots=True)
class Issue:
    kind: MoveKind  # FLOAT or ISSUE
    payee_msisdn: str
    account_id: int  # the payee's wallet (a store's float)
    amount_minor: int
    audit_id: int


def issue_txn(conn: Connection, issue: Issue, currency: str, now_ns: int) -> Move:
    """Post `issue` from the trust account in the caller's transaction; IssueRefused if refused."""
    if issue.kind not in ISSUED_KINDS:
        raise ValueError(f"{issue.kind.value} is not issued from the trust account")
    leg = Leg(
        debit_account_id=int(SystemAccount.TRUST),
        credit_account_id=issue.account_id,
        amount_minor=issue.amount_minor,
        code=TransferCode.DEPOSIT,
    )
    request = MoveRequest(
        kind=issue.kind,
        payer_msisdn=None,  # the issuer: the trust account, not a subscriber
        payee_msisdn=issue.payee_msisdn,
        amount_minor=issue.amount_minor,
        legs=(leg,),
        audit_id=issue.audit_id,
    )
    move = open_move_txn(conn, request, currency=currency, now_ns=now_ns)
    if isinstance(move, LedgerRefusal):
        raise IssueRefused(
            f"{issue.kind.value} of {issue.amount_minor} into {issue.payee_msisdn}: "
            f"the ledger refused it ({move.result.value})"
        )
    return move
