"""Initial ledger schema: accounts, transfers (hash-chained), pending state, chain head.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("debits_posted", sa.BigInteger, nullable=False),
        sa.Column("credits_posted", sa.BigInteger, nullable=False),
        sa.Column("debits_pending", sa.BigInteger, nullable=False),
        sa.Column("credits_pending", sa.BigInteger, nullable=False),
        sa.Column("user_data", sa.String(64), nullable=True),
        sa.Column("timestamp_ns", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 "
            "AND credits_pending >= 0",
            name=op.f("ck_ledger_accounts_balances_not_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
    )
    op.create_index(op.f("ix_ledger_accounts_user_data"), "ledger_accounts", ["user_data"])
    op.create_table(
        "ledger_transfers",
        sa.Column("seq", RowId, autoincrement=False, nullable=False),
        sa.Column("id", sa.BigInteger, nullable=False),
        sa.Column("debit_account_id", sa.BigInteger, nullable=False),
        sa.Column("credit_account_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("pending_id", sa.BigInteger, nullable=True),
        sa.Column("timeout_s", sa.BigInteger, nullable=False),
        sa.Column("user_data", sa.String(64), nullable=True),
        sa.Column("timestamp_ns", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_debit_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_credit_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("id", name=op.f("uq_ledger_transfers_id")),
    )
    for columns in (["debit_account_id", "seq"], ["credit_account_id", "seq"]):
        op.create_index(op.f(f"ix_ledger_transfers_{columns[0]}"), "ledger_transfers", columns)
    for column in ("user_data", "pending_id"):
        not_null = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            op.f(f"ix_ledger_transfers_{column}"),
            "ledger_transfers",
            [column],
            sqlite_where=not_null,
            postgresql_where=not_null,
        )
    op.create_table(
        "ledger_pending_transfers",
        sa.Column("transfer_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger, nullable=True),
        sa.Column("resolved_at_ns", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_pending_transfers_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_ledger_pending_transfers")),
    )
    op.create_index(
        op.f("ix_ledger_pending_transfers_status"),
        "ledger_pending_transfers",
        ["status", "expires_at_ns"],
    )
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("transfer_count", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("last_timestamp_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    op.bulk_insert(
        head, [{"id": 1, "transfer_count": 0, "head_hash": bytes(32), "last_timestamp_ns": 0}]
    )


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_table("ledger_pending_transfers")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
