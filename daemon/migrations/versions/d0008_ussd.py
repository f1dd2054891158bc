"""USSD: menu versions, sessions, and the USSD columns of inbox and outbox.

Revision ID: d0008
Revises: d0007
"""

import sqlalchemy as sa
from alembic import op

from daemon.schema import metadata
from daemon.schema_base import ussd_columns

revision = "d0008"
down_revision = "d0007"
branch_labels = None
depends_on = None

TABLES = ("menus", "ussd_sessions")
COLUMNS_OF = ("inbox", "outbox")


def upgrade() -> None:
    bind = op.get_bind()
    for table in COLUMNS_OF:
        # d0001 creates inbox and outbox from the schema module as it is now: a new database has
        # the columns already.
        present = {column["name"] for column in sa.inspect(bind).get_columns(table)}
        for column in ussd_columns():
            if column.name not in present:
                op.add_column(table, column)
    tables = [metadata.tables[name] for name in TABLES]
    metadata.create_all(bind, tables=tables, checkfirst=True)


def downgrade() -> None:
    tables = [metadata.tables[name] for name in reversed(TABLES)]
    metadata.drop_all(op.get_bind(), tables=tables)
    for table in COLUMNS_OF:
        with op.batch_alter_table(table) as batch:
            for column in ussd_columns():
                batch.drop_column(column.name)
