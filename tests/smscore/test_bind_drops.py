"""Every drop of a bound link is counted and its reason kept (`smscore status` shows them)."""

from tests.smscore.test_client import JITTER_S, POLICY, Harness

# command_length 1 is below the 16-byte header: the stream cannot be framed any more.
GARBAGE = b"\x00\x00\x00\x01" + bytes(12)


def test_a_framing_loss_is_counted_with_its_reason():
    harness = Harness()
    harness.start()
    harness.bind.protocol.dataReceived(GARBAGE)
    harness.endpoint.pump()
    assert not harness.bind.is_bound
    assert harness.bind.counters.drops == 1
    assert harness.bind.last_error.startswith("framing lost")


def test_ten_network_drops_are_ten_drops_and_the_last_reason_is_kept():
    harness = Harness()
    harness.start()
    for _ in range(10):
        harness.endpoint.current.drop()
        harness.run(POLICY.max_delay_s + JITTER_S + 1)
        assert harness.bind.is_bound
    assert harness.bind.counters.drops == 10
    assert "the network dropped the connection" in harness.bind.last_error


def test_our_own_unbind_is_not_a_drop():
    harness = Harness()
    harness.start()
    harness.bind.stop()
    harness.endpoint.pump()
    assert not harness.bind.is_bound
    assert (harness.bind.counters.drops, harness.bind.last_error) == (0, "")
