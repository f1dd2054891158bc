"""The daemon's tables (the ledger keeps its own): inbox, MO parts, outbox, receipts, subscribers,
settings, leases, and mobile money's moves, vouchers, one-time codes, daily usage and the staff audit log;
payments' billers, open bills, merchant tills, airtime orders, requests to pay and reversals (d0005);
the audit log's hash chain and its head (d0006); security's tables (d0007, daemon.schema_security);
USSD sessions and menu versions, and the USSD columns of inbox and outbox (d0008, daemon.schema_ussd);
the business API's and the app event channels' tables (d0009, daemon.schema_api).

Times are integer nanoseconds since the epoch (UTC), like the ledger's. Status columns hold short words;
the modules that own each table define them as enums.
"""

import sqlalchemy as sa

from daemon.schema_base import OWNER_MAX_CHARS, RowId, metadata, ussd_columns

SCHEMA_VERSION = "d0009"

# One row per whole MO (concatenated parts already joined), written before deliver_sm_resp ESME_ROK.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("received_at_ns", sa.BigInteger, nullable=False),
    sa.Column("bind_name", sa.String(32), nullable=False),
    sa.Column("source_addr", sa.String(65), nullable=False),
    sa.Column("destination_addr", sa.String(65), nullable=False),
    sa.Column("data_coding", sa.Integer, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("dedupe_key", sa.String(64), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # new | done | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("processed_at_ns", sa.BigInteger, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("command", sa.String(32), nullable=True),
    *ussd_columns(),  # a USSD MO (d0008): the network's session, operation and end flag
    sa.Index("ix_inbox_status_id", "status", "id"),
    sa.Index("ix_inbox_dedupe", "dedupe_key", "received_at_ns"),
)

# Parts of a concatenated MO, stored (and acknowledged) one by one until the last one arrives.
mo_parts = sa.Table(
    "mo_parts",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("bind_name", sa.String(32), nullable=False),
    sa.Column("source_addr", sa.String(65), nullable=False),
    sa.Column("destination_addr", sa.String(65), nullable=False),
    sa.Column("reference", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("data_coding", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("received_at_ns", sa.BigInteger, nullable=False),
    # Set once the message is whole; the row stays for the dedupe window so re-sent parts are ignored.
    sa.Column("inbox_id", RowId, nullable=True),
    sa.UniqueConstraint(
        "bind_name", "source_addr", "destination_addr", "reference", "total", "sequence",
        name="uq_mo_parts_identity",
    ),
)  # fmt: skip

# One row per SMS reply/notification to send; parts below once submitted.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("inbox_id", RowId, sa.ForeignKey("inbox.id"), nullable=True),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("source_addr", sa.String(21), nullable=False),
    sa.Column("destination_addr", sa.String(21), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("bind_name", sa.String(32), nullable=True),  # preferred bind (the MO's), if any
    # queued | in_flight | submitted | delivered | failed | undeliverable
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at_ns", sa.BigInteger, nullable=False),
    sa.Column("claimed_at_ns", sa.BigInteger, nullable=True),
    # The lease owner (leases.owner) of the process that claimed the row while it is in_flight.
    sa.Column("claimed_by", sa.String(OWNER_MAX_CHARS), nullable=True),
    sa.Column("parts_total", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("final_at_ns", sa.BigInteger, nullable=True),
    # What to do if this message is finally not delivered (e.g. void a pending transfer).
    sa.Column("on_failure", sa.String(32), nullable=True),
    sa.Column("on_failure_ref", sa.BigInteger, nullable=True),
    sa.Column("deliver_by_ns", sa.BigInteger, nullable=True),
    # Set when the sweeper has called the on_failure hook (it is called exactly once).
    sa.Column("on_failure_done_at_ns", sa.BigInteger, nullable=True),
    # The concatenation reference of this message, kept so a retry re-sends only missing parts.
    sa.Column("concat_reference", sa.Integer, nullable=True),
    # The text holds a one-time code (first PIN, voucher, YES): it is masked once the row is final.
    sa.Column("holds_code", sa.Boolean, nullable=False, default=False),
    *ussd_columns(),  # a USSD screen (d0008): sent in its session with this operation
    sa.Index("ix_outbox_status_next", "status", "next_attempt_at_ns"),
    # Rows whose code is still to be masked (daemon.money.settle): few, so the search stays small.
    sa.Index(
        "ix_outbox_holds_code", "status",
        sqlite_where=sa.text("holds_code"), postgresql_where=sa.text("holds_code"),
    ),
    # The sweeper's search for hooks still to call stays small: only rows with a pending hook.
    sa.Index(
        "ix_outbox_pending_hook", "deliver_by_ns",
        sqlite_where=sa.text("on_failure IS NOT NULL AND on_failure_done_at_ns IS NULL"),
        postgresql_where=sa.text("on_failure IS NOT NULL AND on_failure_done_at_ns IS NULL"),
    ),
)  # fmt: skip

outbox_parts = sa.Table(
    "outbox_parts",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", RowId, sa.ForeignKey("outbox.id"), nullable=False),
    sa.Column("part_no", sa.Integer, nullable=False),
    sa.Column("bind_name", sa.String(32), nullable=False),
    sa.Column("message_id", sa.String(65), nullable=False),  # as the SMSC returned it
    sa.Column("message_key", sa.String(65), nullable=False),  # normalised for receipt matching
    # The id's value read as decimal, when it is all digits (SMSCs that answer in decimal and
    # report receipts in hex); see daemon.receipts.
    sa.Column("message_key_alt", sa.String(65), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # submitted | delivered | failed
    sa.Column("receipt_stat", sa.String(8), nullable=True),
    sa.Column("receipt_err", sa.String(8), nullable=True),
    sa.Column("submitted_at_ns", sa.BigInteger, nullable=False),
    sa.Column("done_at_ns", sa.BigInteger, nullable=True),
    sa.Index("ix_outbox_parts_key", "message_key"),
    sa.Index("ix_outbox_parts_key_alt", "message_key_alt"),
    sa.UniqueConstraint("outbox_id", "part_no", name="uq_outbox_parts_part"),
)

# Receipts whose message id matches nothing yet (they can overtake the submit_sm_resp).
early_receipts = sa.Table(
    "early_receipts",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("bind_name", sa.String(32), nullable=False),
    sa.Column("message_key", sa.String(65), nullable=False),
    sa.Column("message_key_alt", sa.String(65), nullable=True),  # decimal reading, if all digits
    sa.Column("stat", sa.String(8), nullable=False),
    sa.Column("err", sa.String(8), nullable=False),
    sa.Column("received_at_ns", sa.BigInteger, nullable=False),
    sa.Index("ix_early_receipts_key", "message_key"),
    sa.Index("ix_early_receipts_key_alt", "message_key_alt"),
    sa.Index("ix_early_receipts_received", "received_at_ns"),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("msisdn", sa.String(21), primary_key=True),
    sa.Column("account_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False, default=""),
    sa.Column("role", sa.String(16), nullable=False, default="customer"),
    sa.Column("language", sa.String(8), nullable=False, default="en"),
    sa.Column("pin_hmac", sa.LargeBinary, nullable=True),
    sa.Column("pin_failures", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until_ns", sa.BigInteger, nullable=False, default=0),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    # Mobile money (d0004). kyc_tier: 1 at registration by an agent; staff raise it.
    sa.Column("kyc_tier", sa.Integer, nullable=False, default=1),
    sa.Column("state", sa.String(16), nullable=False, default="active"),  # active | frozen
    sa.Column("id_number", sa.String(32), nullable=True),  # KYC document number: never replied
    sa.Column("store_msisdn", sa.String(21), nullable=True),  # an assistant's agent store
    sa.Column("agent_number", sa.String(8), nullable=True, unique=True),  # a store's short number
    sa.Column("registered_by", sa.String(64), nullable=True),  # agent MSISDN or staff actor
)

# Facts the database must agree with whatever process opens it, by name; e.g. the fingerprint of
# the PIN pepper its digests were made with (never the pepper itself).
settings = sa.Table(
    "settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("set_at_ns", sa.BigInteger, nullable=False),
)

# One row per process slot that claims outbox rows (daemon.outbox.leases): alive while expires_at_ns
# is in the future. in_flight rows of an owner whose lease expired are re-queued by any sweeper.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("owner", sa.String(OWNER_MAX_CHARS), primary_key=True),
    sa.Column("incarnation", sa.BigInteger, nullable=False),  # +1 at every start of the owner
    sa.Column("pid", sa.Integer, nullable=False),  # for operators: which process holds it
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("renewed_at_ns", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ns", sa.BigInteger, nullable=False),
)

# One row per money movement (SEND, DEPOSIT, WITHDRAW, COLLECT, voucher claim or return, e-float):
# who paid whom, how much, and where it stands. Its ledger transfers are a linked chain with ids
# transfer_id_base + 0 .. legs-1, so every posting is traceable to the move and the move to the
# inbox message (inbox_id) or staff action (audit_id) that caused it.
moves = sa.Table(
    "moves",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(12), nullable=False, unique=True),  # shown to the parties (VERIFY)
    sa.Column("kind", sa.String(16), nullable=False),
    # held | confirming | pending | posted | voided | declined | expired
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("payer_msisdn", sa.String(21), nullable=True),
    sa.Column("payee_msisdn", sa.String(21), nullable=True),
    sa.Column("actor_msisdn", sa.String(21), nullable=True),  # who sent it, when not the payer
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("fee_minor", sa.BigInteger, nullable=False, default=0),
    sa.Column("commission_minor", sa.BigInteger, nullable=False, default=0),
    sa.Column("transfer_id_base", sa.BigInteger, nullable=True, unique=True),
    sa.Column("legs", sa.Integer, nullable=False, default=0),
    sa.Column("inbox_id", RowId, sa.ForeignKey("inbox.id"), nullable=True),
    sa.Column("audit_id", RowId, nullable=True),
    sa.Column("code_hmac", sa.LargeBinary, nullable=True),  # YES/NO code of a held move
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("decided_at_ns", sa.BigInteger, nullable=True),
    sa.Column("expires_at_ns", sa.BigInteger, nullable=True),
    # What the payee is when not a wallet (d0005): "KPLC 12345678" for a bill, the till number, the
    # airtime number, the reversed move's ref. Shown by VERIFY and MINI; never a secret.
    sa.Column("detail", sa.String(64), nullable=True),
    sa.Index("ix_moves_payer", "payer_msisdn", "created_at_ns"),
    sa.Index("ix_moves_payee", "payee_msisdn", "created_at_ns"),
    sa.Index("ix_moves_state_expires", "state", "expires_at_ns"),
    sa.Index("ix_moves_inbox", "inbox_id"),
)

# Money sent to a number with no wallet, held in the voucher suspense account until an agent pays
# it out (COLLECT), the number registers (claimed) or it expires (returned to the sender).
vouchers = sa.Table(
    "vouchers",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("move_id", RowId, sa.ForeignKey("moves.id"), nullable=False, unique=True),
    sa.Column("sender_msisdn", sa.String(21), nullable=False),
    sa.Column("recipient_msisdn", sa.String(21), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("code_hmac", sa.LargeBinary, nullable=False),
    sa.Column(
        "state", sa.String(16), nullable=False
    ),  # pending | open | collected | claimed | returned | voided
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ns", sa.BigInteger, nullable=False),
    sa.Column("closed_at_ns", sa.BigInteger, nullable=True),
    sa.Column("closed_by_move_id", RowId, nullable=True),
    sa.Index("ix_vouchers_recipient", "recipient_msisdn", "state"),
    sa.Index("ix_vouchers_state_expires", "state", "expires_at_ns"),
)

# One-time codes sent by SMS (the first-PIN code after registration); only a digest is kept.
one_time_codes = sa.Table(
    "one_time_codes",
    metadata,
    sa.Column("msisdn", sa.String(21), primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False, primary_key=True),
    sa.Column("code_hmac", sa.LargeBinary, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ns", sa.BigInteger, nullable=False),
)

# What each subscriber has moved today, for the per-day limits (value and count); day is the
# service-local date, YYYY-MM-DD.
daily_usage = sa.Table(
    "daily_usage",
    metadata,
    sa.Column("msisdn", sa.String(21), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("value_minor", sa.BigInteger, nullable=False, default=0),
    sa.Column("count", sa.Integer, nullable=False, default=0),
)

# Every staff action (smscore admin ...): who, what, on whom, when. Never a PIN or secret.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("at_ns", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(64), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    # The hash chain (d0006, daemon.audit_chain): the entry's place (1, 2, ...) and
    # SHA-256(previous entry's hash || this entry's canonical bytes), so an edit, a deletion or a
    # reordering is detected.
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_audit_log_target", "target", "at_ns"),
    sa.Index("uq_audit_log_seq", "seq", unique=True),
)

# The audit chain's head, one row (id 1): locked by each append so concurrent writers queue rather
# than fork the chain; the count also shows an entry deleted from the end.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("entry_count", sa.BigInteger, nullable=False),
    sa.Column("last_id", sa.BigInteger, nullable=False),  # the next entry's id is this + 1
    sa.Column("head_hash", sa.LargeBinary(32), nullable=False),
)


# --- payments (d0005)

# A biller customers pay with PAY <code> <account> <amount>: its own settlement account in the chart
# (daemon.money.billers), the rule its account numbers follow, and whether only listed bills are paid.
billers = sa.Table(
    "billers",
    metadata,
    sa.Column("code", sa.String(16), primary_key=True),  # upper case, e.g. KPLC
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("number", sa.Integer, nullable=False, unique=True),  # 1, 2, ... in order of adding
    sa.Column("account_id", sa.BigInteger, nullable=False, unique=True),  # BILLER_ID_BASE + number
    sa.Column("account_rule", sa.String(128), nullable=False),  # e.g. "digits:6-10,luhn"
    sa.Column("bills_only", sa.Boolean, nullable=False, default=False),  # only accounts in bills
    sa.Column("state", sa.String(16), nullable=False, default="active"),  # active | suspended
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False, default=""),
)

# A biller's open bills, imported from CSV: PAY can name the amount due and refuse an unknown account.
bills = sa.Table(
    "bills",
    metadata,
    sa.Column("biller_code", sa.String(16), sa.ForeignKey("billers.code"), primary_key=True),
    sa.Column("account", sa.String(32), primary_key=True),
    sa.Column("customer_name", sa.String(64), nullable=False, default=""),
    sa.Column("amount_due_minor", sa.BigInteger, nullable=False),
    sa.Column("paid_minor", sa.BigInteger, nullable=False, default=0),
    sa.Column("state", sa.String(16), nullable=False, default="open"),  # open | paid | closed
    sa.Column("due_day", sa.String(10), nullable=True),  # YYYY-MM-DD, shown in the reply
    sa.Column("imported_at_ns", sa.BigInteger, nullable=False),
)

# A merchant till (Buy Goods): the merchant is a subscriber with the biller role whose wallet
# (a merchant wallet) receives TILL payments; its phone is told of each payment.
tills = sa.Table(
    "tills",
    metadata,
    sa.Column("till_number", sa.String(10), primary_key=True),
    sa.Column("msisdn", sa.String(21), nullable=False, unique=True),  # the merchant subscriber
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="active"),  # active | suspended
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False, default=""),
)

# Airtime bought from a provider through the gateway: the wallet is debited by a pending move, the
# provider's answer posts or voids it. A row is written in the same transaction as the move, so no
# order is lost; the worker asks the provider (again: an unknown outcome is queried, never guessed).
# States and their meaning: daemon.money.airtime_orders.
airtime_orders = sa.Table(
    "airtime_orders",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("move_id", RowId, sa.ForeignKey("moves.id"), nullable=False, unique=True),
    sa.Column(
        "ref", sa.String(16), nullable=False, unique=True
    ),  # our id at the provider: idempotent
    sa.Column("payer_msisdn", sa.String(21), nullable=False),
    sa.Column("recipient_msisdn", sa.String(21), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    # awaiting_screen | cancelled | new | sent | unknown | succeeded | failed | voided |
    # late_success | charged | written_off
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("provider_ref", sa.String(64), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # requests made: the claim token
    sa.Column("queries", sa.Integer, nullable=False, default=0),  # answered unknown while pending
    sa.Column("checks", sa.Integer, nullable=False, default=0),  # queries after the move was voided
    # When the worker next asks the provider; NULL: nothing more to ask. A claim moves it past the
    # request's timeout, so a second worker never asks at the same time (and a dead one is retried).
    sa.Column("next_attempt_at_ns", sa.BigInteger, nullable=True),
    sa.Column("inbox_id", RowId, sa.ForeignKey("inbox.id"), nullable=True),  # the BUY
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ns", sa.BigInteger, nullable=False),
    sa.Column("last_error", sa.String(200), nullable=False, default=""),
    sa.Column("resolved_move_id", RowId, sa.ForeignKey("moves.id"), nullable=True),  # staff
    sa.Index("ix_airtime_orders_due", "next_attempt_at_ns"),
    sa.Index("ix_airtime_orders_state", "state"),
)

# REQ: one party asks another to pay; the payer answers PAY <code> <PIN> or NO <code>.
pay_requests = sa.Table(
    "pay_requests",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(8), nullable=False),  # quoted by the payer; unique while open
    sa.Column("requester_msisdn", sa.String(21), nullable=False),
    sa.Column("payer_msisdn", sa.String(21), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("note", sa.String(64), nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False),  # open | paid | refused | expired
    sa.Column("move_id", RowId, sa.ForeignKey("moves.id"), nullable=True),  # the payment
    sa.Column("inbox_id", RowId, sa.ForeignKey("inbox.id"), nullable=True),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ns", sa.BigInteger, nullable=False),
    sa.Column("decided_at_ns", sa.BigInteger, nullable=True),
    sa.Index("ix_pay_requests_payer", "payer_msisdn", "state"),
    sa.Index("ix_pay_requests_state_expires", "state", "expires_at_ns"),
)

# REVERSE <ref>: a sender asks for a payment back. The recipient's amount is held (hold_move_id, a
# pending move to the reversal suspense account) until staff approve (a new reversing move) or reject.
reversals = sa.Table(
    "reversals",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("move_id", RowId, sa.ForeignKey("moves.id"), nullable=False, unique=True),  # once
    sa.Column("requester_msisdn", sa.String(21), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # held | unfunded | approved | rejected
    sa.Column("hold_move_id", RowId, nullable=True),
    sa.Column("reversal_move_id", RowId, nullable=True),  # the posting that gave the money back
    sa.Column("inbox_id", RowId, sa.ForeignKey("inbox.id"), nullable=True),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("decided_at_ns", sa.BigInteger, nullable=True),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("reason", sa.String(200), nullable=False, default=""),
    sa.Index("ix_reversals_state", "state", "created_at_ns"),
)


# Tables kept in their own modules (this one stays readable); imported here so that importing
# daemon.schema defines every table on the one metadata, as Alembic and create_all expect.
from daemon.schema_api import (  # noqa: E402, F401
    api_access,
    api_batches,
    api_callbacks,
    api_keys,
    api_requests,
    businesses,
    channel_events,
    channel_positions,
    channels,
)
from daemon.schema_security import devices, fraud_holds, offline_transfers, sim_swaps  # noqa: E402, F401
from daemon.schema_ussd import menus, ussd_sessions  # noqa: E402, F401
