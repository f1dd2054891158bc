"""The daemon's Prometheus metrics: one `CollectorRegistry` per Daemon (tests build many daemons in
one process; the global registry would mix them), the counters and histograms the pipeline's hooks
move, and the text a scrape gets.

Every name starts with `smscore_`, counters end in `_total`, durations are `_seconds`, counts of
things are named by the thing (`_messages`). What is read at scrape time (binds, queues) comes from
the custom collectors in daemon.metrics.collectors.

prometheus_client would add a `*_created` series (the time it was made) beside every counter and
histogram: twice the series for a figure Prometheus itself does not use (it sees a reset as a drop
of the value), so they are switched off for the process.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.registry import Collector

from daemon.metrics.queues import QueueSnapshot
from daemon.receipts import STAT_OUTCOMES, ReceiptOutcome
from daemon.sweeper import SweepReport
from daemon.tranproc import BatchResult
from smscore import __version__

disable_created_metrics()

# Messages per non-empty TranProc batch (batch_size is 1..10,000 in the config; 100 by default).
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
# From dispatch to the batch's answer: a batch is one transaction, a few ms on SQLite at best.
BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
RECEIPT_OUTCOMES = ("delivered", "failed", "expired", "intermediate", "unknown")
RELOAD_RESULTS = ("ok", "refused")


def receipt_outcome(stat: str) -> str:
    """A receipt's stat word as one of RECEIPT_OUTCOMES: EXPIRED apart from the other failures;
    ACCEPTD / ENROUTE / BUFFRED are intermediate; UNKNOWN and words nobody defined are unknown."""
    if stat == "EXPIRED":
        return "expired"
    outcome = STAT_OUTCOMES.get(stat)
    if outcome is ReceiptOutcome.DELIVERED:
        return "delivered"
    if outcome is ReceiptOutcome.FAILED:
        return "failed"
    if outcome is ReceiptOutcome.INTERMEDIATE and stat != "UNKNOWN":
        return "intermediate"
    return "unknown"


class DaemonMetrics:
    """The registry of one daemon and the events counted into it (on the reactor thread; the
    postings on the database thread, once committed: prometheus_client's values are locked)."""

    def __init__(self, role: str, bind_names: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.queue_snapshot: QueueSnapshot | None = (
            None  # with status.metrics (daemon.metrics.wiring)
        )
        registry = self.registry
        info = Gauge(
            "smscore_build_info", "The smscore version and role of this process (always 1).",
            ["version", "role"], registry=registry,
        )  # fmt: skip
        info.labels(__version__, role).set(1)
        self.commands = Counter(
            "smscore_commands",
            "Inbox messages the TranProc handled in a committed batch, by command keyword ('-': "
            "none recognised) and result: done, rejected (parse error, role, PIN), failed (the "
            "handler raised) or replayed (a repeat answered with its first reply). The ledger "
            "postings are smscore_postings_total.",
            ["command", "result"], registry=registry,
        )  # fmt: skip
        self.batch_messages = Histogram(
            "smscore_tranproc_batch_messages",
            "Inbox messages (rows) claimed per non-empty TranProc batch.",
            buckets=BATCH_SIZE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "smscore_tranproc_batch_duration_seconds",
            "Seconds from dispatching a non-empty TranProc batch to its commit (database thread "
            "queueing included).",
            buckets=BATCH_SECONDS_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_failures = Counter(
            "smscore_tranproc_batch_failures",
            "TranProc batches whose transaction failed (retried at the next poll).",
            registry=registry,
        )
        self.receipts = Counter(
            "smscore_receipts",
            "Delivery receipts received (before their commit: one the SMSC re-sends after a "
            "failed write counts again), by bind and outcome.",
            ["bind", "outcome"], registry=registry,
        )  # fmt: skip
        self._add_money_metrics()
        self.reloads = Counter(
            "smscore_reloads", "Configuration reloads (SIGHUP), by result: ok or refused.",
            ["result"], registry=registry,
        )  # fmt: skip
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        for bind in bind_names:
            for outcome in RECEIPT_OUTCOMES:
                self.receipts.labels(bind, outcome)

    def _add_money_metrics(self) -> None:
        registry = self.registry
        self.postings = Counter(
            "smscore_postings",
            "Ledger postings of money moves once committed, from every path (TranProc, settler, "
            "sweeper, API worker), by move kind and result: reserved, posted, voided, declined, "
            "expired (daemon.metrics.postings).",
            ["kind", "result"], registry=registry,
        )  # fmt: skip
        self.rollbacks = Counter(
            "smscore_rollbacks",
            "Money confirmations not delivered in time whose move the sweeper undid (voided).",
            registry=registry,
        )
        self.rollback_errors = Counter(
            "smscore_rollback_errors",
            "Undo hooks of undelivered confirmations that raised (see the daemon's log).",
            registry=registry,
        )

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """The Prometheus text format of everything registered (answered by GET /metrics)."""
        return generate_latest(self.registry)

    # --- the hooks (daemon.metrics.wiring connects them) ---

    def observe_batch(self, result: BatchResult | None, took_s: float) -> None:
        if result is None:
            self.batch_failures.inc()
            return
        if not result.claimed:
            return  # an empty poll: neither a size nor a latency worth a bucket
        self.batch_messages.observe(result.claimed)
        self.batch_seconds.observe(took_s)
        for (command, kind), count in result.by_command.items():
            self.commands.labels(command, kind).inc(count)

    def count_receipt(self, bind_name: str, stat: str) -> None:
        self.receipts.labels(bind_name, receipt_outcome(stat)).inc()

    def observe_sweep(self, report: SweepReport) -> None:
        # Every on_failure hook the daemon registers undoes a money move (daemon.money.settle).
        if undone := report.hooks_called - report.hook_errors:
            self.rollbacks.inc(undone)
        if report.hook_errors:
            self.rollback_errors.inc(report.hook_errors)

    def count_reload(self, ok: bool) -> None:
        """For the SIGHUP reload (daemon.service): ok, or refused (the old config stays)."""
        self.reloads.labels("ok" if ok else "refused").inc()
