"""Mobile money: subscriber KYC tier, state and agent links; moves, vouchers, one-time codes, daily
usage and the staff audit log. The role 'admin' is now called 'staff'.

Revision ID: d0004
Revises: d0003
"""

import sqlalchemy as sa
from alembic import op

from daemon.schema import metadata

revision = "d0004"
down_revision = "d0003"
branch_labels = None
depends_on = None

# As in daemon.schema when this revision was written. Like d0001, the new tables come from the
# schema module: a later revision that changes them adds its columns only where they are missing.
TABLES = ("moves", "vouchers", "one_time_codes", "daily_usage", "audit_log")
SUBSCRIBER_COLUMNS = (
    sa.Column("kyc_tier", sa.Integer, nullable=False, server_default="1"),
    sa.Column("state", sa.String(16), nullable=False, server_default="active"),
    sa.Column("id_number", sa.String(32), nullable=True),
    sa.Column("store_msisdn", sa.String(21), nullable=True),
    sa.Column("agent_number", sa.String(8), nullable=True),
    sa.Column("registered_by", sa.String(64), nullable=True),
)


def upgrade() -> None:
    bind = op.get_bind()
    # d0001 creates subscribers from the schema module as it is now: a new database has these.
    present = {column["name"] for column in sa.inspect(bind).get_columns("subscribers")}
    for column in SUBSCRIBER_COLUMNS:
        if column.name not in present:
            op.add_column("subscribers", column.copy())
    if "agent_number" not in present:
        op.create_index("uq_subscribers_agent_number", "subscribers", ["agent_number"], unique=True)
    outbox_columns = {column["name"] for column in sa.inspect(bind).get_columns("outbox")}
    if "holds_code" not in outbox_columns:
        op.add_column(
            "outbox", sa.Column("holds_code", sa.Boolean, nullable=False, server_default=sa.false())
        )
        op.create_index(
            "ix_outbox_holds_code", "outbox", ["status"],
            sqlite_where=sa.text("holds_code"), postgresql_where=sa.text("holds_code"),
        )  # fmt: skip
    op.execute("UPDATE subscribers SET role = 'staff' WHERE role = 'admin'")
    metadata.create_all(bind, tables=[metadata.tables[name] for name in TABLES], checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[metadata.tables[name] for name in reversed(TABLES)])
    op.execute("UPDATE subscribers SET role = 'admin' WHERE role = 'staff'")
    op.drop_index("ix_outbox_holds_code", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("holds_code")
    with op.batch_alter_table("subscribers") as batch:
        for column in SUBSCRIBER_COLUMNS:
            batch.drop_column(column.name)
