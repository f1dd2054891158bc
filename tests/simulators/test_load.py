"""The load generator in process on a Clock against the simulator, with ESMEs that reply to MOs:
one reply per acknowledged MO can be read from its summary."""

import json
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from daemon.cli import main
from daemon.commands.msisdn import Numbering, normalize_msisdn
from simulators.load import LoadGenerator, LoadPlan, ReplyPairing, percentile
from simulators.simulator import Simulator
from simulators.targets import InProcessTarget
from smscore.esme import ESMEProtocol
from smscore.pdu import PDU, SubmitSm
from tests.simulators.harness import Network, make_simulator, replying_esme

PLAN = LoadPlan(subscribers=5, rate_per_s=20, duration_s=3, drain_s=2)  # 60 MOs, 12 each


def _echo(mo: PDU) -> bytes:
    return b"ECHO " + mo.short_message


def _load(network: Network, target: Any, plan: LoadPlan = PLAN) -> dict[str, Any]:
    outcome: list = []
    LoadGenerator(network.clock, target, plan).run().addBoth(outcome.append)
    network.run(plan.duration_s + plan.drain_s + 1.0, step_s=0.05)
    [summary] = outcome
    assert isinstance(summary, dict), summary
    return summary


def _simulator(clock: Clock) -> Simulator:
    return make_simulator(clock, dlr={"delay_s": 0.1})


def test_load_generator_summary(network: Network, clock: Clock) -> None:
    simulator = _simulator(clock)
    replying_esme(network, simulator, _echo)
    summary = _load(network, InProcessTarget(simulator))
    assert summary["sent"] == summary["acknowledged"] == summary["replies_received"] == 60
    assert summary["missing_replies"] == summary["extra_replies"] == 0
    assert summary["dlrs"] == 60
    assert 300 <= summary["latency_ms_p50"] <= summary["latency_ms_p99"] <= 400


def test_summary_counts_acknowledged_mos_that_got_no_reply(network: Network, clock: Clock) -> None:
    # A fixed text: each subscriber sends "BAL" 12 times. This ESME answers only the first
    # identical SMS of each subscriber, as a daemon that takes the repeats for re-deliveries does.
    simulator = _simulator(clock)
    answered: set[str] = set()

    def first_only(mo: PDU) -> bytes | None:
        if mo.source_addr in answered:
            return None
        answered.add(mo.source_addr)
        return _echo(mo)

    replying_esme(network, simulator, first_only)
    summary = _load(network, InProcessTarget(simulator))
    assert summary["acknowledged"] == 60 and summary["replies_received"] == 5
    assert summary["missing_replies"] == 55 and summary["extra_replies"] == 0


def test_summary_counts_replies_beyond_one_per_mo(network: Network, clock: Clock) -> None:
    simulator = _simulator(clock)
    esme: list[ESMEProtocol] = []

    def twice(mo: PDU) -> bytes:  # subscriber ...000 gets a second SMS for each MO: 12 of 60
        if mo.source_addr.endswith("0"):
            again = SubmitSm(source_addr=mo.destination_addr, destination_addr=mo.source_addr,
                             short_message=b"AGAIN")  # fmt: skip
            clock.callLater(0.4, lambda: esme[0].submit(again))
        return _echo(mo)

    esme.append(replying_esme(network, simulator, twice))
    summary = _load(network, InProcessTarget(simulator))
    assert summary["acknowledged"] == 60 and summary["replies_received"] == 72
    assert summary["missing_replies"] == 0 and summary["extra_replies"] == 12


def test_a_reply_seen_before_its_acknowledgement_is_paired(network: Network, clock: Clock) -> None:
    # Over HTTP the MO's acknowledgement and the reply travel apart: here the ESME replies at once
    # and acknowledges the deliver_sm only 0.5 s later, after the reply reached the phone.
    simulator = _simulator(clock)
    replying_esme(network, simulator, _echo, reply_after_s=0.0, ack_after_s=0.5)
    summary = _load(network, InProcessTarget(simulator))
    assert summary["acknowledged"] == summary["replies_received"] == 60
    assert summary["missing_replies"] == summary["extra_replies"] == 0
    assert 0 <= summary["latency_ms_p50"] <= summary["latency_ms_max"] <= 200


class _SmallPages:
    """InProcessTarget whose messages_since answers at most 10 messages (and, as the HTTP API
    does, the newest seq overall)."""

    def __init__(self, simulator: Simulator) -> None:
        self.inner = InProcessTarget(simulator)
        self.send_mo, self.stats = self.inner.send_mo, self.inner.stats

    def messages_since(self, seq: int) -> Deferred:
        return self.inner.messages_since(seq).addCallback(lambda page: (page[0][:10], page[1]))


def test_replies_beyond_a_page_are_not_skipped(network: Network, clock: Clock) -> None:
    simulator = _simulator(clock)
    replying_esme(network, simulator, _echo)
    burst = LoadPlan(subscribers=5, rate_per_s=200, duration_s=0.5, drain_s=3)  # 100 MOs
    summary = _load(network, _SmallPages(simulator), burst)
    assert summary["acknowledged"] == summary["replies_received"] == 100
    assert summary["missing_replies"] == 0


events = st.lists(
    st.tuples(st.sampled_from(["mo", "reply"]), st.sampled_from("ab"), st.integers(0, 50)),
    max_size=60,
)


@given(events)
def test_pairing_accounts_for_every_mo_and_reply(recorded: list[tuple[str, str, int]]) -> None:
    pairing = ReplyPairing()
    for kind, msisdn, at_s in recorded:
        (pairing.acknowledged if kind == "mo" else pairing.replied)(msisdn, float(at_s))
    result = pairing.pair()
    mos = sum(1 for kind, _, _ in recorded if kind == "mo")
    replies = len(recorded) - mos
    assert mos - result.missing_replies == replies - result.extra_replies == len(result.latencies_s)
    assert all(latency_s >= 0 for latency_s in result.latencies_s)
    assert pairing.all_replied == all(
        sum(1 for k, m, _ in recorded if k == "reply" and m == msisdn)
        >= sum(1 for k, m, _ in recorded if k == "mo" and m == msisdn)
        for msisdn in "ab"
    )


def test_every_virtual_subscriber_is_a_valid_mobile_number() -> None:
    numbering = Numbering("KE")
    plan = LoadPlan(100_000_000, 1.0, 1.0)
    for msisdn in (plan.first_msisdn, plan.first_msisdn + plan.subscribers - 1):
        assert normalize_msisdn(str(msisdn), numbering) == str(msisdn)
    with pytest.raises(ValueError, match="at most 100000000 subscribers"):
        LoadPlan(100_000_001, 1.0, 1.0)


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert (
        percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    )


def test_replies_held_up_by_a_restart_are_waited_for(network: Network, clock: Clock) -> None:
    # Replies 8 s late (a daemon restarted mid-run): a 2 s wait misses them, the default does not
    # and ends once the last one came rather than at its bound.
    simulator = _simulator(clock)
    replying_esme(network, simulator, _echo, reply_after_s=8.0)
    short = _load(network, InProcessTarget(simulator))
    assert short["missing_replies"] > 0
    plan = LoadPlan(subscribers=5, rate_per_s=20, duration_s=3)
    assert plan.drain_s == 30.0
    ended_at_s: list[float] = []
    started_s = clock.seconds()
    done = LoadGenerator(clock, InProcessTarget(simulator), plan).run()
    done.addCallback(lambda summary: ended_at_s.append(clock.seconds()) or summary)
    network.run(plan.duration_s + plan.drain_s + 1.0, step_s=0.05)
    assert done.result["missing_replies"] == done.result["extra_replies"] == 0
    assert ended_at_s[0] - started_s < plan.duration_s + 8.0 + 1.0


def _cli_load(monkeypatch, summary: dict[str, Any], *args: str):  # type: ignore[no-untyped-def]
    """`smscore sim load ARGS` with a generator that answers `summary`; (result, plans seen)."""
    import simulators.cli
    import simulators.load

    plans: list[LoadPlan] = []

    class Generator:
        def __init__(self, reactor: Any, target: Any, plan: LoadPlan, progress: Any) -> None:
            plans.append(plan)

        def run(self) -> dict[str, Any]:
            return summary

    monkeypatch.setattr(simulators.load, "LoadGenerator", Generator)
    monkeypatch.setattr(simulators.cli, "_run", lambda work, api: work(None, None))
    return CliRunner().invoke(main, ["sim", "load", *args]), plans


def _summary(**counts: int) -> dict[str, Any]:
    base = {"sent": 10, "acknowledged": 10, "failed": 0, "missing_replies": 0, "extra_replies": 0}
    return {**base, **counts}


def test_load_exits_0_when_the_run_passed_and_takes_the_reply_wait(monkeypatch) -> None:
    result, plans = _cli_load(monkeypatch, _summary(), "--reply-wait-s", "12.5")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["missing_replies"] == 0
    assert [plan.drain_s for plan in plans] == [12.5]
    _, plans = _cli_load(monkeypatch, _summary())
    assert plans[0].drain_s == 30.0


@pytest.mark.parametrize(
    ("counts", "said"),
    [
        ({"missing_replies": 1}, "1 missing replies"),
        ({"extra_replies": 2}, "2 extra replies"),
        ({"acknowledged": 9}, "1 not acknowledged"),
    ],
)
def test_load_exits_1_when_a_reply_is_missing_or_extra(monkeypatch, counts, said) -> None:  # type: ignore[no-untyped-def]
    result, _ = _cli_load(monkeypatch, _summary(**counts))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == _summary(**counts)  # the summary is still printed
    assert result.stderr.endswith(f"\nsmscore sim load: failed: {said}\n")  # after the bar


def test_load_help_says_when_it_fails() -> None:
    help_text = CliRunner().invoke(main, ["sim", "load", "--help"]).output
    assert "--reply-wait-s" in help_text and "1 when it did not" in help_text
