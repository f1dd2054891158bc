"""USSD's tables (d0008): the menu versions the daemon has loaded, and the sessions walking them.

A session is durable: a restart or a second TranProc continues it from its row. It keeps the
menu version it started on (a reload applies to new sessions only), the screen it is on, the page
of a long list, and the inputs typed so far, never a PIN (a PIN is the last input of a path and is
used at once, not kept).
"""

import sqlalchemy as sa

from daemon.schema_base import USSD_SESSION_MAX_CHARS, RowId, metadata

MENU_VERSION_MAX_CHARS = 64

# Every menu document the daemon has run, by version: a session's version stays readable after a
# reload and a restart, and the app channel offers the latest to devices.
menus = sa.Table(
    "menus",
    metadata,
    sa.Column("version", sa.String(MENU_VERSION_MAX_CHARS), primary_key=True),
    sa.Column("digest", sa.LargeBinary(32), nullable=False),  # SHA-256 of the document
    sa.Column("document", sa.Text, nullable=False),  # the file's text, as loaded
    sa.Column("source", sa.String(255), nullable=False),  # the file it was loaded from
    sa.Column("loaded_at_ns", sa.BigInteger, nullable=False),
)

ussd_sessions = sa.Table(
    "ussd_sessions",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("bind_name", sa.String(32), nullable=False),
    sa.Column("msisdn", sa.String(21), nullable=False),
    sa.Column("session_key", sa.String(USSD_SESSION_MAX_CHARS), nullable=False),
    sa.Column("service_code", sa.String(32), nullable=False),  # what was dialled: *334#
    sa.Column("menu_version", sa.String(MENU_VERSION_MAX_CHARS), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("screen", sa.String(64), nullable=False),  # the screen shown last
    sa.Column("page", sa.Integer, nullable=False, default=0),  # of a list longer than a screen
    sa.Column("inputs", sa.Text, nullable=False, default="{}"),  # JSON: arg name -> typed text
    sa.Column("back", sa.Text, nullable=False, default="[]"),  # JSON: the screen ids that led here
    sa.Column("steps", sa.Integer, nullable=False, default=0),  # screens answered so far
    # open | ended (the last screen sent) | aborted (by the user or network) | timed_out
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("end_reason", sa.String(32), nullable=True),
    sa.Column("started_at_ns", sa.BigInteger, nullable=False),
    sa.Column("last_at_ns", sa.BigInteger, nullable=False),  # the last MO of the session
    sa.Column("ended_at_ns", sa.BigInteger, nullable=True),
    # The outbox row of the last screen sent: its submit decides a money action (d0008 HOOK).
    sa.Column("last_outbox_id", RowId, sa.ForeignKey("outbox.id"), nullable=True),
    sa.Index("ix_ussd_sessions_key", "bind_name", "msisdn", "session_key", "state"),
    sa.Index("ix_ussd_sessions_state", "state", "started_at_ns"),  # the timeout sweep's
    sa.Index("ix_ussd_sessions_ended", "ended_at_ns"),  # pruning ended ones (daemon.ussd.sweep)
)
