"""Payments: billers and their open bills, merchant tills, airtime orders, requests to pay and
reversals.

Revision ID: d0005
Revises: d0004
"""

import sqlalchemy as sa
from alembic import op

from daemon.schema import metadata

revision = "d0005"
down_revision = "d0004"
branch_labels = None
depends_on = None

# As in daemon.schema when this revision was written; like d0004, the tables come from the schema
# module, and a later revision that changes them adds its columns only where they are missing.
TABLES = ("billers", "bills", "tills", "airtime_orders", "pay_requests", "reversals")


def upgrade() -> None:
    bind = op.get_bind()
    # d0001 creates moves from the schema module as it is now: a new database has the column.
    if "detail" not in {column["name"] for column in sa.inspect(bind).get_columns("moves")}:
        op.add_column("moves", sa.Column("detail", sa.String(64), nullable=True))
    tables = [metadata.tables[name] for name in TABLES]
    metadata.create_all(bind, tables=tables, checkfirst=True)


def downgrade() -> None:
    tables = [metadata.tables[name] for name in reversed(TABLES)]
    metadata.drop_all(op.get_bind(), tables=tables)
    with op.batch_alter_table("moves") as batch:
        batch.drop_column("detail")
