"""Typed errors. Bad input to the batch API is not an error: it gets a result code instead."""


class LedgerError(Exception):
    """Base of every error the ledger raises."""


class SchemaVersionError(LedgerError):
    """The database schema is missing or at another version than this code expects."""


class LedgerBatchTooLarge(LedgerError):
    """A batch exceeded MAX_BATCH events; split it (a bound keeps lock sets and memory finite)."""


class ExpectedHeadError(LedgerError):
    """An exported head given to the checker is malformed."""


class DatabaseNotFound(LedgerError):
    """A reader was pointed at a SQLite file that does not exist (readers never create one)."""
