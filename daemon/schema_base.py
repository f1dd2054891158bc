"""What every schema module shares: the metadata (one for the daemon's tables, with the naming
convention Alembic needs), the row id type and sizes more than one table uses."""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

OWNER_MAX_CHARS = 96  # service.instance_name

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


USSD_SESSION_MAX_CHARS = 64  # the network's session key as text (its_session_info, a dialog id...)


def ussd_columns() -> list[sa.Column]:
    """The USSD columns inbox and outbox share (d0008), NULL on an SMS: the session key as the
    bind's dialect reads it (smscore.ussd), the ussd_service_op, and whether the dialogue ends."""
    return [
        sa.Column("ussd_session", sa.String(USSD_SESSION_MAX_CHARS), nullable=True),
        sa.Column("ussd_op", sa.Integer, nullable=True),
        sa.Column("ussd_end", sa.Boolean, nullable=True),
    ]
