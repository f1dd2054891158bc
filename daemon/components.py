"""Builds each long-running component from the config (the service decides which ones a role runs)."""

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from daemon.chart import ensure_chart_txn
from daemon.clock import now_ns
from daemon.commands.builtin import default_registry
from daemon.config import Config
from daemon.db import Database
from daemon.lis import InboxWriter
from daemon.receipts import apply_receipts_txn, is_receipt, receipt_from_pdu
from daemon.sender import Sender
from daemon.subscribers import PinHasher, load_or_create_pepper, pepper_path
from daemon.sweeper import Sweeper
from daemon.tranproc import BatchResult, TranProc
from smscore.client import BindPool


def pin_hasher(config: Config) -> PinHasher:
    return PinHasher(load_or_create_pepper(pepper_path(config)))


def make_tranproc(
    config: Config,
    reactor: Any,
    db: Database,
    on_batch: Callable[[BatchResult], None],
    claim_limit: Callable[[], int] | None = None,
) -> TranProc:
    db.run_sync("chart.ensure", ensure_chart_txn, config.service.currency, now_ns(reactor))
    return TranProc(
        reactor,
        db,
        default_registry(),
        config,
        pin_hasher(config),
        on_batch=on_batch,
        claim_limit=claim_limit,
    )


def dedupe_secret(config: Config) -> bytes:
    """The inbox's dedupe key, derived from the PIN pepper (the same in every LIS process)."""
    pepper = load_or_create_pepper(pepper_path(config))
    return hmac.new(pepper, b"smscore inbox dedupe", hashlib.sha256).digest()


def make_inbox(config: Config, reactor: Any, db: Database, wake_tranproc: Any) -> InboxWriter:
    return InboxWriter(
        reactor,
        db,
        config.inbox,
        on_committed=wake_tranproc,
        is_receipt=is_receipt,
        receipt_from_pdu=receipt_from_pdu,
        receipt_sink=apply_receipts_txn,
        dedupe_secret=dedupe_secret(config),
    )


def make_sender(config: Config, reactor: Any, db: Database, pool: BindPool) -> Sender:
    settings = {bind.name: bind for bind in config.binds}
    return Sender(reactor, db, pool, settings, config.sender)


def make_sweeper(config: Config, reactor: Any, db: Database, jobs: dict[str, Any]) -> Sweeper:
    sweeper = Sweeper(reactor, db, config.sweeper, sender_config=config.sender)
    for name, job in jobs.items():
        sweeper.add_job(name, job)
    return sweeper
