"""HTTP interfaces: businesses, API keys, requests, callbacks, batches, the access log, and the
app subscribers' event channels.

Revision ID: d0009
Revises: d0008
"""

from alembic import op

from daemon.schema import metadata

revision = "d0009"
down_revision = "d0008"
branch_labels = None
depends_on = None

TABLES = (
    "businesses",
    "api_keys",
    "api_requests",
    "api_callbacks",
    "api_batches",
    "api_access",
    "channels",
    "channel_events",
    "channel_positions",
)


def upgrade() -> None:
    tables = [metadata.tables[name] for name in TABLES]
    metadata.create_all(op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    tables = [metadata.tables[name] for name in reversed(TABLES)]
    metadata.drop_all(op.get_bind(), tables=tables)
