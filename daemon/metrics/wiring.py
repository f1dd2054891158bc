"""Connects a built Daemon to its metrics: the hooks of the pipeline's parts (TranProc batches, receipts
as the inbox reads them, sweeps, money moves' postings), the collectors read at scrape time, the
queue snapshot's loop, and the status endpoint's routes. The parts themselves know nothing of
Prometheus."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from twisted.web.resource import Resource
from twisted.web.server import Site

from daemon.components import Adapted, ComponentStatus
from daemon.metrics.backlog import BacklogCollector
from daemon.metrics.collectors import BindCollector, QueueCollector
from daemon.metrics.health import liveness
from daemon.metrics.postings import PostingCounter
from daemon.metrics.queues import QueueSnapshot
from daemon.metrics.registry import DaemonMetrics
from daemon.status import status_root

if TYPE_CHECKING:
    from daemon.lis import InboxWriter
    from daemon.service import Daemon


def attach_metrics(daemon: Daemon) -> DaemonMetrics:
    """The daemon's metrics, its hooks connected; with `status.metrics`, also the collectors and
    the queue snapshot (a component: started and stopped with the others)."""
    config = daemon.config
    metrics = DaemonMetrics(daemon.role, [bind.name for bind in config.binds])
    if daemon.tranproc is not None:
        daemon.tranproc.batch_observers.append(metrics.observe_batch)
    if daemon.inbox is not None:
        _count_receipts(daemon.inbox, metrics)
    if daemon.sweeper is not None:
        daemon.sweeper.report_observers.append(metrics.observe_sweep)
    postings = PostingCounter(metrics.postings)  # a component: its observer is process-wide
    daemon.components.append(
        Adapted("metrics.postings", postings.start, postings.stop, lambda: ComponentStatus({}))
    )
    if not config.status.metrics:
        return metrics
    metrics.register(BindCollector(daemon.binds, lambda: _windows(daemon)))
    if daemon.inbox is not None and daemon.inbox.backlog is not None:  # hostile (R4)
        metrics.register(BacklogCollector(daemon.inbox.backlog))
    snapshot = metrics.queue_snapshot = QueueSnapshot(daemon.reactor, daemon.db)
    metrics.register(QueueCollector(snapshot, daemon.reactor))
    daemon.components.append(
        Adapted(
            snapshot.name,
            snapshot.start,
            snapshot.stop,
            lambda: ComponentStatus(snapshot.counters, snapshot.last_error),
        )
    )
    return metrics


def _windows(daemon: Daemon) -> dict[str, int]:
    return {bind.name: bind.window for bind in daemon.config.binds}


def _count_receipts(inbox: InboxWriter, metrics: DaemonMetrics) -> None:
    """Counts each receipt as the inbox reads it from its deliver_sm (on the reactor, once)."""
    read = inbox.receipt_from_pdu
    if read is None:
        return

    def counted(pdu: Any, bind_name: str) -> Any:
        receipt = read(pdu, bind_name)
        metrics.count_receipt(bind_name, receipt.stat)
        return receipt

    inbox.receipt_from_pdu = counted


def status_resource(daemon: Daemon) -> Resource:
    """The status endpoint's routes: /status, /health, /health/live, /health/ready, /metrics."""
    exposition: Callable[[], bytes] | None = None
    if daemon.config.status.metrics and daemon.metrics is not None:
        exposition = daemon.metrics.exposition
    return status_root(daemon.snapshot, daemon.health, partial(liveness, daemon), exposition)


def status_site(daemon: Daemon) -> Site:
    """What the status endpoint listens with: quiet (no "Starting factory <...>" line at info)."""
    site = Site(status_resource(daemon))
    site.noisy = False
    return site
