"""Double-entry ledger on SQLAlchemy Core (accounts, immutable transfers, pending/post/void).

Every function takes a SQLAlchemy `Connection`; the caller owns the transaction, so ledger postings
commit together with whatever else the caller writes. Time is always passed in (`now_ns`).

    engine = make_engine("sqlite:///ledger.db")
    with engine.begin() as conn:
        upgrade(conn)
        create_accounts(conn, [Account(1, "KES"), Account(2, "KES")], now_ns=clock_ns())
        create_transfers(conn, [Transfer(10, 1, 2, 500, "KES")], now_ns=clock_ns())

`ledger.fastpath` (re-exported here) holds the generic SQL fast-path helpers the ledger's batches
are built on, for applications whose own hot paths share the ledger's transaction.
`ledger.testing` holds testing aids (a throwaway PostgreSQL cluster); it is not imported here.
"""

from ledger.accounts import create_accounts
from ledger.check import CheckReport, ExportedHead, Violation, check_ledger, export_head
from ledger.engine import display_url, make_engine, sqlite_file
from ledger.errors import (
    DatabaseNotFound,
    ExpectedHeadError,
    LedgerBatchTooLarge,
    LedgerError,
    SchemaVersionError,
)
from ledger.expiry import expire_pending_transfers
from ledger.fastpath import (
    BulkStatement,
    PreparedSelect,
    bulk_insert,
    bulk_update,
    id_filter,
    in_parameter,
    in_parameter_value,
)
from ledger.migrate import current_version, require_current_schema, upgrade
from ledger.model import (
    Account,
    AccountCode,
    AccountFlags,
    AccountRecord,
    Balance,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
)
from ledger.queries import (
    Statement,
    StatementLine,
    get_accounts,
    get_balance,
    get_transfers,
    statement,
    transfers_by_user_data,
)
from ledger.results import CreateAccountResult, CreateTransferResult
from ledger.transfers import MAX_BATCH, create_transfers

__all__ = [
    "MAX_BATCH",
    "Account",
    "AccountCode",
    "AccountFlags",
    "AccountRecord",
    "Balance",
    "BulkStatement",
    "CheckReport",
    "CreateAccountResult",
    "CreateTransferResult",
    "DatabaseNotFound",
    "ExpectedHeadError",
    "ExportedHead",
    "LedgerBatchTooLarge",
    "LedgerError",
    "PendingStatus",
    "PreparedSelect",
    "SchemaVersionError",
    "Statement",
    "StatementLine",
    "Transfer",
    "TransferFlags",
    "TransferRecord",
    "Violation",
    "bulk_insert",
    "bulk_update",
    "check_ledger",
    "create_accounts",
    "create_transfers",
    "current_version",
    "display_url",
    "expire_pending_transfers",
    "export_head",
    "get_accounts",
    "get_balance",
    "get_transfers",
    "id_filter",
    "in_parameter",
    "in_parameter_value",
    "make_engine",
    "require_current_schema",
    "sqlite_file",
    "statement",
    "transfers_by_user_data",
    "upgrade",
]
