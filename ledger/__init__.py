"""Double-entry ledger on SQLAlchemy Core (accounts, immutable transfers, pending/post/void)."""
