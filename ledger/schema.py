"""Tables of the ledger (SQLAlchemy Core). Alembic migrations in `ledger/migrations` create them.

`transfers` is append-only: every row is covered by a hash chain. The mutable state of a pending
transfer (pending → posted / voided / expired) lives in `pending_transfers`, so that resolving a
reservation never edits a transfer row.

The ledger has one or more hash chains (see ledger.batch): each transfer is link `chain_seq` of
chain `chain`, and `ledger_head` holds one row per chain (its count, head hash and newest
timestamp). A batch appends to one chain, holding that chain's head row; concurrent writers on
PostgreSQL take different chains, so no head row orders them all. `seq` is the global row number
(given by the database: an identity on PostgreSQL, the rowid on SQLite); it orders statements and
increases along every chain, but it is not a chain position: values lost to a rolled-back insert
leave gaps there, never in a chain.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

from ledger.hashchain import HASH_BYTES
from ledger.model import USER_DATA_MAX_CHARS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SCHEMA_VERSION = "0002"  # the Alembic head this code expects
HEAD_ROW_ID = 1  # chain 1: the ledger's only chain on SQLite (one writer), the first on PostgreSQL
MAX_CHAINS = 32  # PostgreSQL writers that can append at once; more wait for a head row
GENESIS_HASH = bytes(HASH_BYTES)  # chain 1's (ledger.hashchain.chain_genesis)

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite makes an INTEGER PRIMARY KEY the rowid (no separate index, cheapest insert);
# BIGINT would not be.
RowId = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("currency", String(3), nullable=False),
    Column("code", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("user_data", String(USER_DATA_MAX_CHARS), nullable=True),
    Column("timestamp_ns", BigInteger, nullable=False),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 "
        "AND credits_pending >= 0",
        name="balances_not_negative",
    ),
)
Index(None, accounts.c.user_data)

transfers = Table(
    "ledger_transfers",
    metadata,
    Column("seq", RowId, Identity(), primary_key=True),
    Column("chain", SmallInteger, nullable=False),
    Column("chain_seq", BigInteger, nullable=False),
    Column("id", BigInteger, nullable=False, unique=True),
    Column("debit_account_id", BigInteger, ForeignKey(accounts.c.id), nullable=False),
    Column("credit_account_id", BigInteger, ForeignKey(accounts.c.id), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("code", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("pending_id", BigInteger, nullable=True),
    Column("timeout_s", BigInteger, nullable=False),
    Column("user_data", String(USER_DATA_MAX_CHARS), nullable=True),
    Column("timestamp_ns", BigInteger, nullable=False),
    Column("hash", LargeBinary(HASH_BYTES), nullable=False),
)
Index("uq_ledger_transfers_chain_seq", transfers.c.chain, transfers.c.chain_seq, unique=True)
Index(None, transfers.c.debit_account_id, transfers.c.seq)
Index(None, transfers.c.credit_account_id, transfers.c.seq)
# Most transfers have neither: partial indexes cost nothing on their insert.
Index(
    None,
    transfers.c.user_data,
    sqlite_where=transfers.c.user_data.isnot(None),
    postgresql_where=transfers.c.user_data.isnot(None),
)
Index(
    None,
    transfers.c.pending_id,
    sqlite_where=transfers.c.pending_id.isnot(None),
    postgresql_where=transfers.c.pending_id.isnot(None),
)

pending_transfers = Table(
    "ledger_pending_transfers",
    metadata,
    Column("transfer_id", BigInteger, ForeignKey(transfers.c.id), primary_key=True),
    Column("status", SmallInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=True),
    Column("resolved_at_ns", BigInteger, nullable=True),
)
Index(None, pending_transfers.c.status, pending_transfers.c.expires_at_ns)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("transfer_count", BigInteger, nullable=False),
    Column("head_hash", LargeBinary(HASH_BYTES), nullable=False),
    Column("last_timestamp_ns", BigInteger, nullable=False),
)
