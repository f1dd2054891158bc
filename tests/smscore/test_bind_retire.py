"""A bind leaving a running pool (a reload removes or replaces it) with traffic in flight: its MO
gate closes, the MOs it handed on are answered, its submit_sm_resp are awaited, and only then does
it unbind. On a Clock, with an in-memory SMSC; the order is what the ESME writes."""

from typing import Any

from twisted.internet.defer import Deferred

from smscore.client import LEAVING_STATUS, BindPool, PersistentBind
from smscore.pdu import PDU, DeliverSm, SubmitSm
from smscore.status import CommandStatus as S
from tests.smscore.test_client import Harness, outcome

WAIT_S = 10.0  # service.drain_timeout_s


class BusyHarness(Harness):
    """The SMSC answers submit_sm only when the test says; the ESME's handler commits MOs only
    when the test says (as the inbox's group commit does, later)."""

    def __init__(self, name: str = "smsc-a") -> None:
        super().__init__(name)
        self.submit_answers: list[tuple[Deferred, PDU]] = []
        self.commits: list[Deferred] = []
        self.flushes = 0

    def _handle(self, protocol: Any, pdu: PDU) -> Deferred:
        answer: Deferred = Deferred()
        self.submit_answers.append((answer, pdu))
        return answer

    def _on_message(self, pdu: PDU) -> Deferred:  # type: ignore[override]
        self.received.append(pdu.short_message)
        commit: Deferred = Deferred()
        self.commits.append(commit)
        return commit

    def flush(self) -> None:
        self.flushes += 1

    def written(self) -> list[str]:
        """Every PDU the ESME writes from now on, by name (deliver_sm_resp with its status)."""
        sent: list[str] = []
        protocol = self.bind.protocol
        assert protocol is not None

        def trace(direction: str, pdu: PDU) -> None:
            if direction == "out":
                status = f" {S(pdu.command_status).name}" if pdu.name == "deliver_sm_resp" else ""
                sent.append(pdu.name + status)

        protocol._trace = trace  # type: ignore[method-assign]
        return sent

    def deliver(self, text: bytes) -> list:
        [smsc] = self.factory.receivers("esme1")
        answer = outcome(smsc.deliver(DeliverSm(short_message=text)))
        self.endpoint.pump()
        return answer

    def answer_submits(self) -> None:
        for answer, pdu in self.submit_answers:
            answer.callback(pdu.make_response(message_id="m1"))
        self.submit_answers.clear()
        self.endpoint.pump()


def busy_pool() -> tuple[BusyHarness, BindPool, list[str], list, list]:
    """A bound bind with an MO waiting for its commit and a submit_sm waiting for its resp."""
    harness = BusyHarness()
    pool = BindPool([harness.bind])
    pool.start()
    harness.endpoint.pump()
    assert harness.bind.is_bound
    sent = harness.written()
    mo = harness.deliver(b"BAL 1")
    submitted = outcome(pool.submit(SubmitSm(short_message=b"reply")))
    harness.endpoint.pump()
    assert len(harness.commits) == 1 and len(harness.submit_answers) == 1
    sent.clear()
    return harness, pool, sent, mo, submitted


def test_a_removed_bind_answers_its_mos_and_waits_for_its_submits_before_unbinding():
    harness, pool, sent, mo, submitted = busy_pool()
    removed = outcome(pool.remove(harness.bind.name, WAIT_S, harness.flush))
    harness.endpoint.pump()
    assert "smsc-a" not in pool.binds and harness.flushes == 1  # the inbox asked to commit now
    assert sent == [] and removed == []  # nothing answered yet: no unbind either
    late = harness.deliver(b"BAL 2")  # arrives once the gate is closed: refused, not stored
    assert late[0].command_status == LEAVING_STATUS and harness.received == [b"BAL 1"]
    assert harness.bind.counters.refused_leaving == 1
    harness.commits[0].callback(S.ESME_ROK)  # the group commit is done
    harness.advance(1)
    assert mo[0].command_status == S.ESME_ROK  # the SMSC got the answer: no re-delivery
    assert "unbind" not in sent and removed == []  # a submit_sm_resp is still outstanding
    harness.answer_submits()
    harness.advance(1)
    assert submitted[0].command_status == S.ESME_ROK  # answered, not failed: not sent again
    assert sent == [
        "deliver_sm_resp ESME_RX_T_APPN",
        "deliver_sm_resp ESME_ROK",
        "unbind",
    ]
    assert removed == [None] and not harness.bind.is_bound


def test_the_wait_is_bounded_and_the_bind_unbinds_anyway():
    harness, pool, sent, _, _ = busy_pool()
    wait_s = 4.0  # below the bind's response_timeout_s: the submit_sm is still outstanding
    removed = outcome(pool.remove(harness.bind.name, wait_s, harness.flush))
    harness.advance(wait_s - 0.5)
    assert "unbind" not in sent and removed == []
    harness.advance(0.5)
    assert sent == ["unbind"] and removed == [None]


def test_a_replaced_bind_starts_its_successor_only_once_retired():
    harness, pool, sent, _, _ = busy_pool()
    successor = PersistentBind(harness.clock, "smsc-a", harness.endpoint, harness.bind.config)
    replaced = outcome(pool.replace(successor, WAIT_S, harness.flush))
    harness.commits[0].callback(S.ESME_ROK)
    harness.advance(1)
    assert "smsc-a" not in pool.binds and replaced == []  # the old session is still retiring
    assert len(harness.factory.bound_protocols) == 1
    harness.answer_submits()
    harness.advance(1)
    assert sent[-1] == "unbind" and replaced == [None]
    assert pool.binds["smsc-a"] is successor and successor.is_bound
    assert [p.system_id for p in harness.factory.bound_protocols] == ["esme1"]  # one at a time


def test_stopping_the_pool_cuts_a_retirement_short():
    harness, pool, sent, _, _ = busy_pool()
    pool.remove(harness.bind.name, WAIT_S, harness.flush)
    stopped = outcome(pool.stop())
    harness.endpoint.pump()
    assert sent == ["unbind"] and len(stopped) == 1


def test_a_bind_that_is_down_leaves_at_once():
    harness = BusyHarness()
    harness.endpoint.refusing = True
    pool = BindPool([harness.bind])
    pool.start()
    harness.endpoint.pump()
    removed = outcome(pool.remove(harness.bind.name, WAIT_S, harness.flush))
    harness.advance(0.1)
    assert removed == [None] and harness.flushes == 1
