"""`[seal]`: loss and corruption detection (daemon.seal_guard, ledger.seal). Kept out of
daemon/config.py (which re-exports it) so that module stays one screen per section."""

from typing import Annotated

from pydantic import Field

from daemon.config_base import FilePath, Section


class SealConfig(Section):
    # The seal: the ledger's and the audit log's count and head hash, outside the database.
    # None: `ledger.seal` in service.state_dir. Keep it off the database's disk if you can.
    file: FilePath | None = None
    # The running daemon seals again this often (only when a head moved: one read of the head
    # rows, one small file written and fsync'd) and at a clean stop; 0: at a clean stop only. A
    # loss of commits younger than the last seal cannot be told from a quiet moment.
    interval_s: Annotated[float, Field(ge=0, le=86_400)] = 5.0
    # Start-up re-hashes this many of the last transfers (and audit-log entries) against their head
    # rows; `smscore ledger check` walks every one.
    tail_transfers: Annotated[int, Field(ge=0, le=10_000_000)] = 10_000
