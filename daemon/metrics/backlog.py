"""The back-pressure figures for /metrics (daemon.backpressure): read from the Backlog on the
reactor at each scrape, no query."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.backpressure import Backlog


class BacklogCollector(Collector):
    def __init__(self, backlog: Backlog) -> None:
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        backlog = self._backlog
        rows = GaugeMetricFamily(
            "smscore_inbox_backlog",
            "Inbox rows not yet handled by the TranProc, as this LIS estimates them (counted every "
            "inbox.backlog_check_s, plus the MOs admitted since: it may overstate, never under).",
        )
        rows.add_metric([], backlog.rows)
        bound = GaugeMetricFamily(
            "smscore_inbox_backlog_bound", "inbox.max_backlog: past it, deliver_sm is refused."
        )
        bound.add_metric([], backlog.max_backlog)
        refusing = GaugeMetricFamily(
            "smscore_inbox_backlog_refusing",
            "1 while deliver_sm are answered ESME_RX_T_APPN for the backlog, else 0.",
        )
        refusing.add_metric([], int(backlog.refusing))
        refused = CounterMetricFamily(
            "smscore_inbox_backlog_refused",
            "deliver_sm (not receipts) answered ESME_RX_T_APPN, unstored, for the backlog.",
        )
        refused.add_metric([], backlog.counters["refused"])
        pauses = CounterMetricFamily(
            "smscore_inbox_backlog_pauses", "Times the backlog reached its bound."
        )
        pauses.add_metric([], backlog.counters["pauses"])
        yield from (rows, bound, refusing, refused, pauses)
