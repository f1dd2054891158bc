"""The HTTP interfaces' tables (d0009): businesses and their API keys, the business API's requests
(idempotency, request states, the responses a client can recover), callbacks, bulk batches and the
access log; and each app subscriber's private event channel.

No secret is stored here: API keys are kept as SHA-256 digests (the keys are random 256-bit values,
so a digest is enough); a business's callback signing secret derives from a key file
(daemon.api.callback_keys); channel events are stored encrypted.
"""

import sqlalchemy as sa

from daemon.schema_base import RowId, metadata

CORRELATION_ID_MAX_CHARS = 256  # the GSMA spec's X-CorrelationID / serverCorrelationId bound

# A business integrating over the API. Its account in the chart is the wallet of `msisdn`, a
# subscriber with Role.BILLER (a merchant): TILL and REQ already land there, disbursements leave it.
businesses = sa.Table(
    "businesses",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(32), nullable=False, unique=True),  # e.g. ACME; in the CLI
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("msisdn", sa.String(21), nullable=False, unique=True),  # its merchant wallet
    sa.Column("state", sa.String(12), nullable=False),  # active | suspended
    sa.Column("rate_limit_per_s", sa.Float, nullable=True),  # None: [api] rate_limit_per_s
    sa.Column("rate_limit_burst", sa.Integer, nullable=True),
    sa.Column("allowed_ips", sa.Text, nullable=False, default="[]"),  # JSON: CIDRs; [] = any
    sa.Column("secret_version", sa.Integer, nullable=False, default=1),  # callback secret's
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ns", sa.BigInteger, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("business_id", RowId, sa.ForeignKey("businesses.id"), nullable=False),
    sa.Column("key_id", sa.String(24), nullable=False, unique=True),  # public part of the key
    sa.Column("key_digest", sa.LargeBinary(32), nullable=False),  # SHA-256 of the whole key
    sa.Column("label", sa.String(32), nullable=False, default=""),
    # maker | checker | both: who may create a bulk batch, who may approve one (never the same key).
    sa.Column("scope", sa.String(12), nullable=False, default="both"),
    sa.Column("state", sa.String(12), nullable=False),  # active | revoked
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("revoked_at_ns", sa.BigInteger, nullable=True),
    sa.Column("last_used_at_ns", sa.BigInteger, nullable=True),
    sa.Index("ix_api_keys_business", "business_id", "state"),
)

# One row per accepted asynchronous request (POST /transactions/type/..., reversals, batches).
api_requests = sa.Table(
    "api_requests",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("business_id", RowId, sa.ForeignKey("businesses.id"), nullable=False),
    sa.Column("client_correlation_id", sa.String(CORRELATION_ID_MAX_CHARS), nullable=True),
    sa.Column("server_correlation_id", sa.String(36), nullable=False, unique=True),  # a UUID
    sa.Column(
        "operation", sa.String(32), nullable=False
    ),  # merchantpay | disbursement | ... | reversal | batch
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.String(255), nullable=False),
    sa.Column("body_digest", sa.LargeBinary(32), nullable=False),  # SHA-256 of the canonical body
    sa.Column("body", sa.Text, nullable=False),  # the validated request, JSON
    sa.Column("callback_url", sa.String(1024), nullable=True),  # X-Callback-URL; None: polling
    sa.Column("state", sa.String(12), nullable=False),  # pending | completed | failed
    sa.Column("pending_reason", sa.String(256), nullable=True),
    sa.Column("object_reference", sa.String(64), nullable=True),  # transactionReference, batchId
    sa.Column("response", sa.Text, nullable=True),  # the final representation, JSON
    sa.Column("error", sa.Text, nullable=True),  # the errorObject of a failed request, JSON
    sa.Column("move_id", RowId, sa.ForeignKey("moves.id"), nullable=True),
    sa.Column("pay_request_id", RowId, sa.ForeignKey("pay_requests.id"), nullable=True),
    sa.Column("batch_id", RowId, nullable=True),  # api_batches.id of a bulk item
    sa.Column("polls", sa.Integer, nullable=False, default=0),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ns", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ns", sa.BigInteger, nullable=True),  # an approval's deadline
    sa.Column("forget_at_ns", sa.BigInteger, nullable=False),  # idempotency retention
    sa.UniqueConstraint("business_id", "client_correlation_id", name="uq_api_requests_client"),
    sa.Index("ix_api_requests_state", "state", "created_at_ns"),
    sa.Index("ix_api_requests_move", "move_id"),
    sa.Index("ix_api_requests_pay_request", "pay_request_id"),
    sa.Index("ix_api_requests_object", "business_id", "object_reference"),
    sa.Index("ix_api_requests_forget", "forget_at_ns"),
)

# Durable callbacks: written in the transaction that completes their request, then delivered.
api_callbacks = sa.Table(
    "api_callbacks",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("business_id", RowId, sa.ForeignKey("businesses.id"), nullable=False),
    sa.Column("request_id", RowId, sa.ForeignKey("api_requests.id"), nullable=True),
    sa.Column("url", sa.String(1024), nullable=False),
    sa.Column("client_correlation_id", sa.String(CORRELATION_ID_MAX_CHARS), nullable=True),
    sa.Column("body", sa.Text, nullable=False),  # exactly the bytes signed and sent
    sa.Column("state", sa.String(12), nullable=False),  # pending | sending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_at_ns", sa.BigInteger, nullable=False),
    sa.Column("last_status", sa.Integer, nullable=True),  # the receiver's HTTP status
    sa.Column("last_error", sa.String(256), nullable=True),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("delivered_at_ns", sa.BigInteger, nullable=True),
    sa.Index("ix_api_callbacks_due", "state", "next_at_ns"),
    sa.Index("ix_api_callbacks_business", "business_id", "created_at_ns"),
)

# Bulk disbursements: a maker's key creates a batch, a checker's key (another) approves it.
api_batches = sa.Table(
    "api_batches",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("business_id", RowId, sa.ForeignKey("businesses.id"), nullable=False),
    sa.Column("batch_ref", sa.String(64), nullable=False, unique=True),  # batchId in the API
    sa.Column("title", sa.String(256), nullable=False, default=""),
    # created | approved | rejected | completed (every item done) ... (daemon.api.batches)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("maker_key_id", sa.String(24), nullable=False),
    sa.Column("checker_key_id", sa.String(24), nullable=True),
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the batch as submitted, JSON
    sa.Column("reason", sa.String(256), nullable=True),  # a rejection's
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("decided_at_ns", sa.BigInteger, nullable=True),
    sa.Column("completed_at_ns", sa.BigInteger, nullable=True),
)

# Every request the API answered, authenticated or not (who, what, the outcome); pruned by age.
api_access = sa.Table(
    "api_access",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("business_id", RowId, nullable=True),  # None: not authenticated
    sa.Column("key_id", sa.String(24), nullable=True),
    sa.Column("remote_ip", sa.String(64), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.String(255), nullable=False),
    sa.Column("operation_id", sa.String(64), nullable=True),
    sa.Column("client_correlation_id", sa.String(CORRELATION_ID_MAX_CHARS), nullable=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("at_ns", sa.BigInteger, nullable=False),
    sa.Column("duration_us", sa.BigInteger, nullable=False),
    sa.Index("ix_api_access_business", "business_id", "at_ns"),
    sa.Index("ix_api_access_at", "at_ns"),
)

# One private channel per app subscriber: `next_seq` numbers its events without gaps (the UPDATE
# that takes a number locks this row, so two TranProcs never take the same one).
channels = sa.Table(
    "channels",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("msisdn", sa.String(21), nullable=False, unique=True),
    sa.Column("reference", sa.String(32), nullable=False, unique=True),  # public, in tokens
    sa.Column("next_seq", sa.BigInteger, nullable=False, default=1),
    sa.Column(
        "key_epoch", sa.Integer, nullable=False, default=1
    ),  # bumped when a device is revoked
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
)

channel_events = sa.Table(
    "channel_events",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("channel_id", RowId, sa.ForeignKey("channels.id"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("key_epoch", sa.Integer, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),  # nonce | ChaCha20-Poly1305
    sa.Column("move_id", RowId, nullable=True),  # the posting it tells of, if any
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("channel_id", "seq", name="uq_channel_events_seq"),
)

# Each device's own position in its subscriber's channel, and when it was last told to pull.
channel_positions = sa.Table(
    "channel_positions",
    metadata,
    sa.Column("device_id", sa.String(24), primary_key=True),
    sa.Column("channel_id", RowId, sa.ForeignKey("channels.id"), nullable=False),
    sa.Column("acked_seq", sa.BigInteger, nullable=False, default=0),  # the highest it pulled
    sa.Column("last_seen_at_ns", sa.BigInteger, nullable=False),
    sa.Column("pushed_at_ns", sa.BigInteger, nullable=True),  # the last "pull" SMS sent to it
    # The timestamp (ms) of the device's last signed token request: a new one must be above it.
    sa.Column("token_timestamp_ms", sa.BigInteger, nullable=True),
    sa.Index("ix_channel_positions_channel", "channel_id"),
)
