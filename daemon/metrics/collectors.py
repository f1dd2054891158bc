"""Metrics read at scrape time, on the reactor, from what is already in memory: each bind's link
(smscore.client.PersistentBind: its PduCounts, counters and session) and the last queue snapshot.
Nothing here touches the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from twisted.internet.interfaces import IReactorTime

from daemon.clock import NS_PER_S
from daemon.metrics.queues import QueueSnapshot
from smscore.client import PersistentBind
from smscore.pdu_counts import status_name

BIND_STATES = ("up", "down", "refused-credentials", "refused-tls")  # PersistentBind.state


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


class BindCollector(Collector):
    """Per bind: PDUs in and out by command and status, window in use, send queue, throttling,
    connects and drops, the bound state. `binds()` is asked at each scrape (a reload may change
    them); `windows` is each bind's configured window, by name."""

    def __init__(
        self, binds: Callable[[], list[PersistentBind]], windows: Callable[[], Mapping[str, int]]
    ) -> None:
        self._binds = binds
        self._windows = windows

    def collect(self) -> Iterator[Metric]:
        binds = self._binds()
        windows = self._windows()
        yield self._pdus(binds)
        yield from self._link_gauges(binds, windows)
        yield from self._link_counters(binds)

    def _pdus(self, binds: list[PersistentBind]) -> Metric:
        pdus = _counter(
            "smscore_bind_pdus",
            "SMPP PDUs received (direction in) and sent (out) on a bind, by command and "
            "command_status (every PDU, enquire_link and automatic answers included).",
            ("bind", "direction", "command", "command_status"),
        )
        for bind in binds:
            for (direction, command, status), count in sorted(bind.pdu_counts.pdus.items()):
                pdus.add_metric([bind.name, direction, command, status_name(status)], count)
        return pdus

    def _link_gauges(
        self, binds: list[PersistentBind], windows: Mapping[str, int]
    ) -> Iterator[Metric]:
        up = _gauge("smscore_bind_up", "1 while the bind is bound, else 0.", ("bind",))
        state = _gauge(
            "smscore_bind_state", "1 for the bind's current state (up, down, refused-credentials, "
            "refused-tls), 0 for the others.", ("bind", "state"),
        )  # fmt: skip
        in_use = _gauge(
            "smscore_bind_window_in_use", "Requests sent and not yet answered.", ("bind",)
        )
        window = _gauge("smscore_bind_window_size", "The bind's configured window.", ("bind",))
        queued = _gauge(
            "smscore_bind_send_queue_length",
            "Requests waiting for room in the window (or for a throttle pause to end).",
            ("bind",),
        )
        for bind in binds:
            protocol = bind.protocol
            up.add_metric([bind.name], int(bind.is_bound))
            for name in BIND_STATES:
                state.add_metric([bind.name, name], int(bind.state == name))
            in_use.add_metric([bind.name], protocol.session.outstanding_count if protocol else 0)
            window.add_metric([bind.name], windows.get(bind.name, bind.config.timers.window))
            queued.add_metric([bind.name], protocol.queued_count if protocol else 0)
        yield from (up, state, in_use, window, queued)

    def _link_counters(self, binds: list[PersistentBind]) -> Iterator[Metric]:
        families = {
            "connects": "TCP (or TLS) connections made to the SMSC.",
            "reconnects": "Connections made after the first (the link was lost or refused).",
            "binds": "Bind requests the SMSC accepted.",
            "bind_failures": "Bind requests the SMSC refused or did not answer.",
            "drops": "Links lost while bound (not by our own unbind).",
            "throttled_responses": "ESME_RTHROTTLED / ESME_RMSGQFUL answers to submits that were "
            "queued again.",
            "throttle_pauses": "Times sending paused because the SMSC asked to slow down.",
        }
        metrics = {
            key: _counter(f"smscore_bind_{key}", doc, ("bind",)) for key, doc in families.items()
        }
        for bind in binds:
            counters, counts = bind.counters, bind.pdu_counts
            values = {
                "connects": counters.connects,
                "reconnects": max(counters.connects - 1, 0),
                "binds": counters.binds,
                "bind_failures": counters.bind_failures,
                "drops": counters.drops,
                "throttled_responses": counts.throttled,
                "throttle_pauses": counts.throttle_pauses,
            }
            for key, value in values.items():
                metrics[key].add_metric([bind.name], value)
        yield from metrics.values()


class QueueCollector(Collector):
    """Depths and oldest ages of the queues, and fraud holds (waiting, and the decisions counted),
    from the last QueueSnapshot; the ages are counted to now (the reactor's clock), so they keep
    growing between snapshots."""

    def __init__(self, snapshot: QueueSnapshot, reactor: IReactorTime) -> None:
        self._snapshot = snapshot
        self._reactor = reactor

    def collect(self) -> Iterator[Metric]:
        now_s = self._reactor.seconds()
        figures = self._snapshot.last
        depth = _gauge(
            "smscore_queue_depth",
            "Rows waiting in a queue by state: inbox new; outbox queued, in_flight, submitted "
            "(awaiting a receipt); moves held, confirming, pending; api_callbacks pending, sending.",
            ("queue", "state"),
        )
        age = _gauge(
            "smscore_queue_oldest_age_seconds",
            "Age of the oldest row in a queue state (0 when it is empty).",
            ("queue", "state"),
        )
        waiting = _gauge(
            "smscore_fraud_holds_waiting",
            "Fraud holds waiting for staff to release or refuse them.",
        )
        decisions = _counter(
            "smscore_fraud_hold_decisions",
            "Fraud holds ended since this process started, by decision: released (by staff) or "
            "refused (by staff, or expired), from the audit log (every process counts them all).",
            ("decision",),
        )
        for decision, count in self._snapshot.fraud_decisions.items():
            decisions.add_metric([decision], count)
        snapshot_age = _gauge(
            "smscore_queue_snapshot_age_seconds",
            "Seconds since the queue figures were taken (they are taken every few seconds).",
        )
        failures = _counter(
            "smscore_queue_snapshot_failures",
            "Queue snapshots that failed (the database did not answer).",
        )
        failures.add_metric([], self._snapshot.counters["failures"])
        if figures is not None:
            for (queue, state), (rows, oldest_ns) in figures.depths.items():
                depth.add_metric([queue, state], rows)
                oldest_s = 0.0 if oldest_ns is None else max(now_s - oldest_ns / NS_PER_S, 0.0)
                age.add_metric([queue, state], oldest_s)
            waiting.add_metric([], figures.fraud_holds_waiting)
            snapshot_age.add_metric([], max(now_s - figures.taken_at_ns / NS_PER_S, 0.0))
        yield from (depth, age, waiting, decisions, snapshot_age, failures)
