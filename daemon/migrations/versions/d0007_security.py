"""Security: enrolled devices, offline transfers, SIM swaps and fraud holds.

Revision ID: d0007
Revises: d0006
"""

from alembic import op

from daemon.schema import metadata

revision = "d0007"
down_revision = "d0006"
branch_labels = None
depends_on = None

# As in daemon.schema when this revision was written; like d0005, the tables come from the schema
# module, and a later revision that changes them adds its columns only where they are missing.
TABLES = ("devices", "offline_transfers", "sim_swaps", "fraud_holds")


def upgrade() -> None:
    tables = [metadata.tables[name] for name in TABLES]
    metadata.create_all(op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    tables = [metadata.tables[name] for name in reversed(TABLES)]
    metadata.drop_all(op.get_bind(), tables=tables)
