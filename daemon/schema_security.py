"""Security's tables (d0007): enrolled devices, offline transfers, SIM swaps and fraud holds."""

import sqlalchemy as sa

from daemon.schema_base import RowId, metadata

# A subscriber's enrolled app (or SIM applet): its X25519 key for the channel, its Ed25519 key for
# offline transfers it signs, and the counters that refuse replays. Several per subscriber.
devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(24), nullable=False, unique=True),  # public, sent in messages
    sa.Column("msisdn", sa.String(21), nullable=False),
    sa.Column("label", sa.String(32), nullable=False, default=""),
    sa.Column("channel_public_key", sa.LargeBinary, nullable=False),  # X25519, 32 bytes
    sa.Column("signing_public_key", sa.LargeBinary, nullable=True),  # Ed25519, 32 bytes
    sa.Column("state", sa.String(16), nullable=False),  # pending | active | revoked
    sa.Column("counter_in", sa.BigInteger, nullable=False, default=0),  # highest accepted
    # Which counters below counter_in were accepted (bit i: counter_in - i; the anti-replay window).
    sa.Column("counter_seen", sa.BigInteger, nullable=False, default=0),
    sa.Column("counter_out", sa.BigInteger, nullable=False, default=0),  # last sent to it
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("enrolled_at_ns", sa.BigInteger, nullable=True),
    sa.Column("revoked_at_ns", sa.BigInteger, nullable=True),
    sa.Index("ix_devices_msisdn", "msisdn", "state"),
)

# Transfers signed offline by a device and delivered later, maybe twice: (device, counter) is
# unique, so a re-delivery finds the first and posts nothing.
offline_transfers = sa.Table(
    "offline_transfers",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(24), nullable=False),
    sa.Column("counter", sa.BigInteger, nullable=False),
    sa.Column("move_id", RowId, sa.ForeignKey("moves.id"), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),  # claimed (until commit) | posted | refused
    sa.Column("reason", sa.String(64), nullable=False, default=""),
    # SHA-256 of the signed payload: a re-delivery with other content under the same counter is
    # a forgery (daemon.security.offline_inbox).
    sa.Column("digest", sa.LargeBinary(32), nullable=False),
    sa.Column("reply", sa.Text, nullable=False, default=""),  # the first answer, sent again
    sa.Column("signed_at_ns", sa.BigInteger, nullable=False),
    sa.Column("received_at_ns", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("device_id", "counter", name="uq_offline_transfers_device_counter"),
)

# SIM changes of a number (staff: smscore admin simswap, or a carrier feed): money out is capped
# for a while after one.
sim_swaps = sa.Table(
    "sim_swaps",
    metadata,
    sa.Column("msisdn", sa.String(21), primary_key=True),
    sa.Column("swapped_at_ns", sa.BigInteger, primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),  # staff:<name> | feed:<file>
    sa.Column("recorded_at_ns", sa.BigInteger, nullable=False),
)

# Transactions a fraud rule held for review: the move waits (HELD, nothing reserved) until staff
# release or reject it (smscore admin review ...).
fraud_holds = sa.Table(
    "fraud_holds",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("msisdn", sa.String(21), nullable=False),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("move_id", RowId, sa.ForeignKey("moves.id"), nullable=True),
    sa.Column("inbox_id", RowId, sa.ForeignKey("inbox.id"), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),  # held | released | rejected
    sa.Column("score", sa.Float, nullable=True),  # the anomaly score, when that rule hit
    sa.Column("detail", sa.String(200), nullable=False, default=""),
    sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    sa.Column("decided_at_ns", sa.BigInteger, nullable=True),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Index("ix_fraud_holds_state", "state", "created_at_ns"),
)
