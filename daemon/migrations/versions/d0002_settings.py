"""Settings: facts the database must agree with, e.g. the PIN pepper's fingerprint.

Revision ID: d0002
Revises: d0001
"""

import sqlalchemy as sa
from alembic import op

revision = "d0002"
down_revision = "d0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("set_at_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_settings"),
    )


def downgrade() -> None:
    op.drop_table("settings")
