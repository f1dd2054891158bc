"""Initial daemon schema: inbox, MO parts, outbox and its parts, early receipts, subscribers.

Revision ID: d0001
Revises:
"""

from alembic import op

from daemon.schema import metadata

revision = "d0001"
down_revision = None
branch_labels = None
depends_on = None


# The tables of this revision: later revisions' tables are theirs to create.
TABLES = ("inbox", "mo_parts", "outbox", "outbox_parts", "early_receipts", "subscribers")


def upgrade() -> None:
    # The first revision is the schema module's snapshot; later revisions carry explicit operations.
    metadata.create_all(op.get_bind(), tables=[metadata.tables[name] for name in TABLES])


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[metadata.tables[name] for name in TABLES])
