"""The lose_receipts fault: the message reaches the phone, its delivery receipt never comes (what
`smscore chaos` uses for lost receipts); off again, receipts flow."""

from twisted.internet.task import Clock

from tests.simulators.harness import Inbox, Network, bound_esme, make_simulator, submit_pdu


def test_lost_receipts_deliver_the_message_but_send_no_receipt(
    network: Network, clock: Clock
) -> None:
    simulator = make_simulator(
        clock, dlr={"delay_s": 0.5}, faults={"lose_receipts": {"every_n": 2}}
    )
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    for n in range(4):
        esme.submit(submit_pdu("254711000001", f"reply {n}"))
    network.run(2.0)
    assert [m.text for m in simulator.handset_inbox("254711000001")] == [
        f"reply {n}" for n in range(4)
    ]
    assert len(inbox.receipts()) == 2  # every second one lost
    assert simulator.stats()["fault_actions"]["receipts_lost"] == 2
    simulator.faults.configure({"lose_receipts": None})
    esme.submit(submit_pdu("254711000001", "reply 4"))
    network.run(2.0)
    assert len(inbox.receipts()) == 3
