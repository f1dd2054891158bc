"""Bulk MO injection (POST /v1/mo with "count"): no Deferred per MO, same delivery as one by one."""

from twisted.internet.task import Clock

from simulators.delivery import BacklogFull
from smscore.concat import concat_info
from tests.simulators.harness import Inbox, Network, bound_esme, make_simulator


def test_bulk_mos_are_shared_round_robin_and_counted(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, window_size=2)  # 4 per bind at a time: the backlog waits
    inboxes = [Inbox(), Inbox()]
    for inbox in inboxes:
        bound_esme(network, simulator, inbox=inbox)
    simulator.inject_mos("254711000001", "3456", "BAL 1234", 40)
    network.run(1.0)
    assert [len(inbox.mos()) for inbox in inboxes] == [20, 20]
    stats = simulator.stats()
    assert (stats["mo_sent"], stats["mo_acknowledged"], stats["deliveries_pending"]) == (40, 40, 0)


def test_bulk_long_mos_get_a_reference_each(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock)
    inbox = Inbox()
    bound_esme(network, simulator, inbox=inbox)
    simulator.inject_mos("254711000001", "3456", "Habari! " * 30, 3)
    network.run(1.0)
    references = {
        concat_info(p.esm_class, p.short_message, p.tlvs)[0].reference for p in inbox.mos()
    }
    assert len(inbox.mos()) == 6 and len(references) == 3


def test_a_full_backlog_stops_the_batch_and_keeps_what_was_queued(clock: Clock) -> None:
    simulator = make_simulator(clock, max_pending_deliveries=5)
    try:
        simulator.inject_mos("254711000001", "3456", "hi", 8)
    except BacklogFull:
        pass
    else:
        raise AssertionError("BacklogFull not raised")
    assert simulator.stats()["deliveries_pending"] == 5
