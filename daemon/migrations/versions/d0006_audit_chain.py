"""The audit log becomes a hash chain: each entry's place (seq) and hash, and the chain's head row.
Entries already in the log are chained in the order they were written (by id).

Revision ID: d0006
Revises: d0005
"""

import sqlalchemy as sa
from alembic import op

from daemon.audit_chain import GENESIS_HASH, HASH_BYTES, HEAD_ROW_ID, entry_digest
from daemon.schema import audit_head, metadata

revision = "d0006"
down_revision = "d0005"
branch_labels = None
depends_on = None

# As when this revision was written. d0004 creates audit_log from the schema module as it is now: a
# new database already has these columns (and no entries to chain).
COLUMNS = ("seq", "hash")
_audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.BigInteger), sa.column("at_ns", sa.BigInteger),
    sa.column("actor", sa.String), sa.column("action", sa.String),
    sa.column("target", sa.String), sa.column("detail", sa.Text),
    sa.column("seq", sa.BigInteger), sa.column("hash", sa.LargeBinary),
)  # fmt: skip


def upgrade() -> None:
    bind = op.get_bind()
    present = {column["name"] for column in sa.inspect(bind).get_columns("audit_log")}
    if "seq" not in present:
        op.add_column("audit_log", sa.Column("seq", sa.BigInteger, nullable=True))
        op.add_column("audit_log", sa.Column("hash", sa.LargeBinary(HASH_BYTES), nullable=True))
    head = _chain_entries(bind)
    if "seq" not in present:
        with op.batch_alter_table("audit_log") as batch:
            batch.alter_column("seq", existing_type=sa.BigInteger, nullable=False)
            batch.alter_column("hash", existing_type=sa.LargeBinary(HASH_BYTES), nullable=False)
            batch.create_index("uq_audit_log_seq", ["seq"], unique=True)
    metadata.create_all(bind, tables=[audit_head], checkfirst=True)
    op.execute(sa.delete(audit_head))
    count, last_id, head_hash = head
    op.execute(
        sa.insert(audit_head).values(
            id=HEAD_ROW_ID, entry_count=count, last_id=last_id, head_hash=head_hash
        )
    )


def _chain_entries(bind: sa.Connection) -> tuple[int, int, bytes]:
    """Give every entry its place and hash, oldest first; the head (count, last id, last hash)."""
    log = _audit_log.c
    rows = bind.execute(
        sa.select(log.id, log.at_ns, log.actor, log.action, log.target, log.detail).order_by(log.id)
    ).all()
    previous, last_id = GENESIS_HASH, 0
    for seq, (entry_id, at_ns, actor, action, target, detail) in enumerate(rows, start=1):
        previous = entry_digest(previous, entry_id, seq, at_ns, actor, action, target, detail)
        bind.execute(sa.update(_audit_log).where(log.id == entry_id).values(seq=seq, hash=previous))
        last_id = entry_id
    return len(rows), last_id, previous


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[audit_head])
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("uq_audit_log_seq")
        for name in COLUMNS:
            batch.drop_column(name)
