"""Leases: outbox rows in flight carry their claiming process's owner name, and each owner keeps a
lease, so a dead process's rows are re-queued within seconds rather than after in_flight_timeout_s.

Revision ID: d0003
Revises: d0002
"""

import sqlalchemy as sa
from alembic import op

revision = "d0003"
down_revision = "d0002"
branch_labels = None
depends_on = None

OWNER_MAX_CHARS = 96  # as daemon.schema.OWNER_MAX_CHARS when this revision was written


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("owner", sa.String(OWNER_MAX_CHARS), nullable=False),
        sa.Column("incarnation", sa.BigInteger, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("renewed_at_ns", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_leases"),
    )
    # d0001 creates its tables from the schema module as it is now, so a database created by this
    # code has the column already; one created by an older release gets it here. Rows in flight
    # before this revision have no owner: the in_flight_timeout_s rule still frees them.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("outbox")}
    if "claimed_by" not in columns:
        op.add_column("outbox", sa.Column("claimed_by", sa.String(OWNER_MAX_CHARS), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("leases")
