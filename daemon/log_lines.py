"""One log line per message event, each with its correlation id (daemon.correlation):

- `mo` (component inbox): an MO the TranProc handled: bind, source (masked), short code, the
  command word (never the text: it may hold a PIN), its result;
- `posting` (ledger): money reserved, posted or released: move ref, kind, amount, the ledger
  transfer ids, the move's new state;
- `mt` (sender): an outbox row's submit_sm_resp: bind, message ids, command status;
- `receipt` (receipts): a delivery receipt matched to a part: message id, outcome.

Lines about database work are written once its transaction has committed (daemon.committed): a
batch rolled back and retried, or a COMMIT that failed, must not leave a line for what it undid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection
from twisted.logger import Logger

from daemon import committed
from daemon.correlation import for_inbox, for_move, for_outbox, outbox_correlations_txn
from daemon.money.move_observers import add_move_observer, remove_move_observer

mo_log = Logger(namespace="daemon.inbox")
posting_log = Logger(namespace="daemon.ledger")
mt_log = Logger(namespace="daemon.sender")
receipt_log = Logger(namespace="daemon.receipts")

_SHOWN_EDGE_DIGITS = 3  # a number shows its first and last 3 digits: 254******678
_SHORT_NUMBER = 2 * _SHOWN_EDGE_DIGITS + 2
_CODE_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_:.]{0,39}")  # a result code, never free text
_ALL = frozenset({"inbox", "ledger", "sender", "receipts"})
_USER = "log_lines"
_state: dict[str, Any] = {"active": False, "components": _ALL}


def mask_msisdn(msisdn: str | None) -> str:
    """A phone number as log lines show it: first and last 3 digits (country code, a hint for a
    person matching a complaint); a short one only its last 2 characters."""
    if not msisdn:
        return ""
    if len(msisdn) >= _SHORT_NUMBER:
        hidden = len(msisdn) - 2 * _SHOWN_EDGE_DIGITS
        return msisdn[:_SHOWN_EDGE_DIGITS] + "*" * hidden + msisdn[-_SHOWN_EDGE_DIGITS:]
    return "*" * max(0, len(msisdn) - 2) + msisdn[-2:]


# --- lines written when the transaction commits ----------------------------------------------


def activate(components: Iterable[str] = _ALL) -> None:
    """Start writing the lines (the daemon does at start-up) of `components` (those logging at
    info: the others' lines are not even built): lines wait for their commit (daemon.committed),
    moves are observed. Idempotent."""
    _state["components"] = frozenset(components)
    if _state["active"]:
        return
    _state["active"] = True
    committed.activate(_USER)
    add_move_observer(_observe_move)


def deactivate() -> None:
    """Undo `activate` (tests: the listeners are process-wide)."""
    if not _state["active"]:
        return
    _state["active"], _state["components"] = False, _ALL
    committed.deactivate(_USER)
    remove_move_observer(_observe_move)


def is_active() -> bool:
    return _state["active"]


def after_commit(conn: Connection, correlation_id: str, emit: Callable[[], None]) -> None:
    """Call `emit` once the transaction `conn` is in has committed (never if it rolls back)."""
    if _state["active"]:
        committed.after_commit(conn, correlation_id, emit)


# --- the four lines --------------------------------------------------------------------------


def mo_lines_txn(conn: Connection, rows: Sequence[Any], outcomes: Iterable[Any]) -> None:
    """One `mo` line per handled inbox row (rows: id, bind_name, source_addr, destination_addr;
    outcomes: row_id, status, command, error). A failed row's work was rolled back: its lines
    waiting for the commit (theirs and any other's: the postings counter) are dropped first."""
    outcomes = list(outcomes)
    if committed.is_active():
        failed = {for_inbox(o.row_id) for o in outcomes if o.status == "failed"}
        committed.forget_txn(conn, failed)
    if not _state["active"] or "inbox" not in _state["components"]:
        return
    by_id = {row.id: row for row in rows}
    for outcome in outcomes:
        row = by_id[outcome.row_id]
        fields = {
            "event": "mo",
            "correlation_id": for_inbox(row.id),
            "inbox_id": row.id,
            "bind": row.bind_name,
            "source": mask_msisdn(row.source_addr),
            "short_code": row.destination_addr,
            "command": outcome.command,
            "status": outcome.status,
            "result": _result_code(outcome.status, outcome.error),
        }
        after_commit(conn, fields["correlation_id"], _emitter(mo_log, _MO_FORMAT, fields))


_MO_FORMAT = "MO {correlation_id} on {bind} from {source} to {short_code}: {command} {result}"


def _result_code(status: str, error: str | None) -> str:
    if status == "failed":
        return "failed"  # the reason is in the TranProc's own warning (an exception's first line)
    if error is None:
        return "ok"
    return error if _CODE_LIKE.fullmatch(error) else "refused"


def _emitter(logger: Logger, fmt: str, fields: dict[str, Any]) -> Callable[[], None]:
    return lambda: logger.info(fmt, **fields)


def _observe_move(conn: Connection, move: Any, previous: Any, currency: str, now_ns: int) -> None:
    # Opened (previous None) or reserved from HELD: its own legs; else the post/void transfers.
    from daemon.money.moves import MAX_LEGS, MoveState

    if "ledger" not in _state["components"]:
        return
    first = 0 if previous in (None, MoveState.HELD) else MAX_LEGS
    base = move.transfer_id_base
    ids = [] if base is None else [base + first + leg for leg in range(move.legs)]
    fields = {
        "event": "posting",
        "correlation_id": for_move(move.ref, move.inbox_id),
        "ref": move.ref,
        "kind": move.kind.value,
        "amount_minor": move.amount_minor,
        "fee_minor": move.fee_minor,
        "currency": currency,
        "transfer_ids": ids,
        "result": move.state.value,
        "previous": previous.value if previous is not None else None,
        "payer": mask_msisdn(move.payer_msisdn),
        "payee": mask_msisdn(move.payee_msisdn),
    }
    fmt = "posting {correlation_id} {ref} {kind} {amount_minor} {currency}: {result}"
    after_commit(conn, fields["correlation_id"], _emitter(posting_log, fmt, fields))


def mt_lines(outcomes: Iterable[Any]) -> None:
    """One `mt` line per outbox row whose submit_sm answers were recorded (daemon.sender, after
    the commit). outcomes: daemon.outbox.claims.SmsOutcome."""
    if "sender" not in _state["components"]:
        return
    for outcome in outcomes:
        sms = outcome.sms
        message_ids = [part.message_id for part in outcome.accepted]
        status = outcome.error or "ESME_ROK"
        mt_log.info(
            "MT {correlation_id} on {bind} to {destination}: {status} {message_id}",
            event="mt",
            correlation_id=for_outbox(sms.id, getattr(sms, "inbox_id", None)),
            outbox_id=sms.id,
            bind=outcome.bind_name,
            destination=mask_msisdn(sms.destination_addr),
            message_id=message_ids[0] if message_ids else None,
            message_ids=message_ids,
            parts=outcome.parts_total,
            status=status,
            disposition=outcome.disposition.name.lower(),
        )


def receipt_lines_txn(conn: Connection, matched: Sequence[tuple[Any, Any]]) -> None:
    """One `receipt` line per receipt that changed a part (receipt, part: daemon.receipts)."""
    if not _state["active"] or not matched or "receipts" not in _state["components"]:
        return
    correlations = outbox_correlations_txn(conn, [part.outbox_id for _, part in matched])
    for receipt, part in matched:
        fields = {
            "event": "receipt",
            "correlation_id": correlations.get(part.outbox_id, f"mt-{part.outbox_id}"),
            "outbox_id": part.outbox_id,
            "bind": receipt.bind_name or part.bind_name,
            "message_id": receipt.message_id or receipt.key,
            "outcome": str(receipt.outcome),
            "stat": receipt.stat,
            "err": receipt.err,
        }
        fmt = "receipt {correlation_id} {message_id} on {bind}: {outcome} ({stat})"
        after_commit(conn, fields["correlation_id"], _emitter(receipt_log, fmt, fields))
