"""GET /metrics of an in-process daemon: each counter moves after the event it counts (per-bind PDUs,
throttling, reconnects, TranProc batches and commands, receipts, rollbacks, reloads), parsed with the
Prometheus text parser; one registry per daemon."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from twisted.internet.defer import Deferred, fail

from daemon.db import InlineDatabase
from daemon.metrics.registry import receipt_outcome
from daemon.migrate import upgrade_all
from daemon.schema import outbox
from ledger import make_engine
from smscore.constants import EsmClass
from smscore.pdu import DeliverSm, SubmitSm
from smscore.status import CommandStatus
from tests.daemon.metrics_world import (
    build_daemon,
    get,
    join_smsc,
    scrape,
    settle,
    value,
)

PDUS = "smscore_bind_pdus_total"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'smscore.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
    yield engine
    engine.dispose()


def pdus(samples, direction: str, command: str, status: str = "ESME_ROK") -> float:
    return value(
        samples, PDUS, bind="sim", direction=direction, command=command, command_status=status
    )


def test_every_pdu_of_a_bind_is_counted_once_by_direction_command_and_status(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    before = scrape(daemon)
    assert value(before, "smscore_bind_up", bind="sim") == 0
    smsc = join_smsc(daemon)
    smsc.deliver(DeliverSm(source_addr="254712000001", short_message=b"HELP"))
    settle(daemon, smsc)  # the group commit, then deliver_sm_resp
    samples = scrape(daemon)
    assert pdus(samples, "out", "bind_transceiver") == 1
    assert pdus(samples, "in", "bind_transceiver_resp") == 1
    assert pdus(samples, "in", "deliver_sm") == 1
    assert pdus(samples, "out", "deliver_sm_resp") == 1
    assert value(samples, "smscore_bind_up", bind="sim") == 1
    assert value(samples, "smscore_bind_state", bind="sim", state="up") == 1
    assert value(samples, "smscore_bind_state", bind="sim", state="down") == 0
    assert value(samples, "smscore_bind_connects_total", bind="sim") == 1
    assert value(samples, "smscore_bind_window_size", bind="sim") == 4
    # the enquire_link the session sends on an idle link, and its answer, are PDUs too
    settle(daemon, smsc, seconds=60)
    samples = scrape(daemon)
    assert pdus(samples, "out", "enquire_link") >= 1
    assert pdus(samples, "in", "enquire_link_resp") == pdus(samples, "out", "enquire_link")


def test_window_in_use_is_the_requests_not_yet_answered(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    smsc = join_smsc(daemon)
    smsc.silent = True
    assert daemon.pool is not None
    for _ in range(6):  # window 4: two wait in the send queue
        daemon.pool.submit(SubmitSm(destination_addr="254712000001", short_message=b"x"))
    smsc.endpoint.pump()
    samples = scrape(daemon)
    assert value(samples, "smscore_bind_window_in_use", bind="sim") == 4
    assert value(samples, "smscore_bind_send_queue_length", bind="sim") == 2
    assert pdus(samples, "out", "submit_sm") == 4


def test_throttled_answers_and_pauses_are_counted(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    smsc = join_smsc(daemon)
    smsc.answers = [CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RTHROTTLED]
    assert daemon.pool is not None
    answered: list = []
    daemon.pool.submit(SubmitSm(destination_addr="254712000001", short_message=b"x")).addCallback(
        answered.append
    )
    smsc.endpoint.pump()
    settle(daemon, smsc, seconds=1.0)  # the backoff pauses: 0.5 s, then 1 s
    settle(daemon, smsc, seconds=1.0)
    samples = scrape(daemon)
    assert [response.command_status for response in answered] == [CommandStatus.ESME_ROK]
    assert value(samples, "smscore_bind_throttled_responses_total", bind="sim") == 2
    assert value(samples, "smscore_bind_throttle_pauses_total", bind="sim") == 2
    assert pdus(samples, "in", "submit_sm_resp", "ESME_RTHROTTLED") == 2
    assert pdus(samples, "in", "submit_sm_resp") == 1
    assert pdus(samples, "out", "submit_sm") == 3


def test_a_flood_of_odd_statuses_from_the_peer_keeps_the_series_bounded(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    smsc = join_smsc(daemon)
    odd = [0x0000_0500 + n * 7919 for n in range(40)]  # statuses no spec defines, all different
    smsc.answers = list(odd)
    assert daemon.pool is not None
    for _ in odd:
        daemon.pool.submit(SubmitSm(destination_addr="254712000001", short_message=b"x"))
        settle(daemon, smsc)
    samples = scrape(daemon)
    statuses = {
        dict(labels)["command_status"]
        for name, labels in samples
        if name == PDUS and dict(labels)["command"] == "submit_sm_resp"
    }
    assert statuses == {"other"}
    assert pdus(samples, "in", "submit_sm_resp", "other") == len(odd)


def test_a_drop_and_the_reconnect_are_counted_and_the_pdu_counts_survive_it(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    smsc = join_smsc(daemon)
    smsc.endpoint.current.drop()
    samples = scrape(daemon)
    assert value(samples, "smscore_bind_up", bind="sim") == 0
    assert value(samples, "smscore_bind_drops_total", bind="sim") == 1
    assert value(samples, "smscore_bind_reconnects_total", bind="sim") == 0
    settle(daemon, smsc, seconds=1.0)  # ReconnectPolicy(1.0, ...): the first retry after 1 s
    samples = scrape(daemon)
    assert value(samples, "smscore_bind_up", bind="sim") == 1
    assert value(samples, "smscore_bind_reconnects_total", bind="sim") == 1
    assert value(samples, "smscore_bind_binds_total", bind="sim") == 2
    assert pdus(samples, "out", "bind_transceiver") == 2  # both connections' PDUs


class LaterDatabase(InlineDatabase):
    """Answers each interaction `delay_s` later on the reactor's clock: a batch takes time."""

    def __init__(self, engine: Engine, reactor, delay_s: float) -> None:
        super().__init__(engine)
        self.reactor, self.delay_s = reactor, delay_s

    def run_interaction(self, desc, fn, *args):
        answer = super().run_interaction(desc, fn, *args)
        later: Deferred = Deferred()
        self.reactor.callLater(self.delay_s, answer.chainDeferred, later)
        return later


class DeadDatabase(InlineDatabase):
    def run_interaction(self, desc, fn, *args):
        return fail(ConnectionError("server closed the connection unexpectedly"))


def test_tranproc_batches_their_sizes_latency_and_commands_by_result(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    smsc = join_smsc(daemon)
    for text in (b"BAL 1234", b"BAL 1234", b"???"):  # unregistered: BAL is refused by role
        smsc.deliver(DeliverSm(source_addr="254712000001", short_message=text))
    settle(daemon, smsc)
    assert daemon.tranproc is not None
    daemon.tranproc._db = LaterDatabase(engine, daemon.reactor, 0.25)
    daemon.tranproc.start()
    daemon.reactor.advance(0)
    assert scrape(daemon).get(("smscore_tranproc_batch_messages_count", frozenset())) == 0
    daemon.reactor.advance(0.25)
    samples = scrape(daemon)
    assert value(samples, "smscore_tranproc_batch_messages_count") == 1
    assert value(samples, "smscore_tranproc_batch_messages_sum") == 3
    assert value(samples, "smscore_tranproc_batch_duration_seconds_sum") == pytest.approx(0.25)
    assert value(samples, "smscore_tranproc_batch_duration_seconds_bucket", le="0.25") == 1
    assert value(samples, "smscore_tranproc_batch_duration_seconds_bucket", le="0.1") == 0
    assert value(samples, "smscore_commands_total", command="BAL", result="rejected") == 2
    assert value(samples, "smscore_commands_total", command="-", result="rejected") == 1
    daemon.reactor.advance(5)  # empty polls are neither sizes nor latencies
    assert value(scrape(daemon), "smscore_tranproc_batch_messages_count") == 1
    daemon.tranproc.stop()


def test_no_created_series_doubles_the_counters_and_histograms(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    assert daemon.metrics is not None
    daemon.metrics.count_reload(True)
    daemon.metrics.batch_messages.observe(3)
    body = get(daemon, b"metrics")[2].decode()
    assert "smscore_reloads_total" in body and "smscore_tranproc_batch_messages_sum" in body
    assert "_created" not in body


def test_a_failed_batch_is_counted(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    assert daemon.tranproc is not None
    daemon.tranproc._db = DeadDatabase(engine)
    daemon.tranproc.start()
    daemon.reactor.advance(0)
    daemon.tranproc.stop()
    assert value(scrape(daemon), "smscore_tranproc_batch_failures_total") == 1


def receipt(stat: str, message_id: str = "a1") -> DeliverSm:
    text = f"id:{message_id} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
    return DeliverSm(
        source_addr="254712000001",
        esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
        short_message=f"{text}stat:{stat} err:000 text:x".encode(),
    )


def test_receipts_are_counted_by_bind_and_outcome(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    samples = scrape(daemon)
    assert ("smscore_receipts_total", frozenset({("bind", "sim"), ("outcome", "failed")})) in (
        samples
    )  # every outcome shows from the start, at 0
    smsc = join_smsc(daemon)
    for stat in ("DELIVRD", "DELIVRD", "EXPIRED", "UNDELIV", "ENROUTE", "UNKNOWN"):
        smsc.deliver(receipt(stat))
    settle(daemon, smsc)
    samples = scrape(daemon)
    counts = {
        outcome: value(samples, "smscore_receipts_total", bind="sim", outcome=outcome)
        for outcome in ("delivered", "expired", "failed", "intermediate", "unknown")
    }
    assert counts == {"delivered": 2, "expired": 1, "failed": 1, "intermediate": 1, "unknown": 1}
    assert pdus(samples, "out", "deliver_sm_resp") == 6


@pytest.mark.parametrize(
    "stat, outcome",
    [
        ("DELIVRD", "delivered"), ("EXPIRED", "expired"), ("UNDELIV", "failed"),
        ("REJECTD", "failed"), ("DELETED", "failed"), ("ACCEPTD", "intermediate"),
        ("BUFFRED", "intermediate"), ("UNKNOWN", "unknown"), ("SOMETHING", "unknown"),
    ],
)  # fmt: skip
def test_receipt_outcomes(stat, outcome):
    assert receipt_outcome(stat) == outcome


def test_confirmations_the_sweeper_undoes_are_rollbacks(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    assert daemon.sweeper is not None
    undone: list[int] = []
    daemon.sweeper.register_hook("test_undo", lambda conn, row, now_ns: undone.append(row.id))
    daemon.sweeper.register_hook("test_broken", lambda conn, row, now_ns: 1 / 0)
    with engine.begin() as conn:
        for hook in ("test_undo", "test_undo", "test_broken"):
            conn.execute(
                insert(outbox).values(
                    created_at_ns=0, source_addr="123", destination_addr="254712000001",
                    text="Confirm?", status="failed", next_attempt_at_ns=0, on_failure=hook,
                    on_failure_ref=1,
                )
            )  # fmt: skip
    assert value(scrape(daemon), "smscore_rollbacks_total") == 0
    daemon.sweeper.sweep_now()
    samples = scrape(daemon)
    assert len(undone) == 2
    assert value(samples, "smscore_rollbacks_total") == 2
    assert value(samples, "smscore_rollback_errors_total") == 1


def test_reloads_are_counted_by_result(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    assert value(scrape(daemon), "smscore_reloads_total", result="refused") == 0
    assert daemon.metrics is not None
    daemon.metrics.count_reload(ok=True)
    daemon.metrics.count_reload(ok=False)
    daemon.metrics.count_reload(ok=False)
    samples = scrape(daemon)
    assert value(samples, "smscore_reloads_total", result="ok") == 1
    assert value(samples, "smscore_reloads_total", result="refused") == 2


def test_each_daemon_has_its_own_registry(tmp_path, engine):
    first = build_daemon(tmp_path, engine)
    second = build_daemon(tmp_path, engine)
    assert first.metrics is not None and second.metrics is not None
    first.metrics.count_reload(ok=True)
    assert value(scrape(first), "smscore_reloads_total", result="ok") == 1
    assert value(scrape(second), "smscore_reloads_total", result="ok") == 0
    assert value(scrape(first), "smscore_build_info", version="0.1.0", role="all") == 1


def test_without_status_metrics_there_is_no_metrics_route_and_no_snapshot(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine, status={"metrics": False})
    code, _, _ = get(daemon, b"metrics")
    assert code == 404
    assert "metrics.queues" not in [component.name for component in daemon.components]
    assert get(daemon, b"status")[0] == 200  # the rest stays
