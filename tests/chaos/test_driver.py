"""The chaos driver's USSD dialogues against a scripted network: a dialogue meant to hang up at its
last answer that stops earlier (no screen in time) is given up and aborted like any other, so the
simulator does not keep it open past the drain (seen in a `smscore chaos --seed 18` run)."""

from dataclasses import dataclass, field
from types import SimpleNamespace

from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from daemon.chaos.driver import Driver
from daemon.chaos.intents import Intent
from simulators.ussd import UssdState


@dataclass
class Session:
    id: str
    state: UssdState = UssdState.WAITING_ANSWER
    screens: list = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.state in (UssdState.WAITING_SCREEN, UssdState.WAITING_ANSWER)


@dataclass
class Network:
    """Shows the first screen, then no screen in time for the first answer (the daemon is down)."""

    session: Session = field(default_factory=lambda: Session("s1"))
    answers: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)

    def start(self, msisdn: str, code: str) -> Session:
        return self.session

    def answer(self, session_id: str, text: str) -> Session:
        self.answers.append(text)
        self.session.state = UssdState.WAITING_SCREEN
        return self.session

    def wait(self, session: Session, wait_s: float):
        return succeed(session)

    def abort(self, session_id: str) -> Session:
        self.aborted.append(session_id)
        self.session.state = UssdState.ABORTED
        return self.session


def _driver(network: Network) -> Driver:
    return Driver(SimpleNamespace(reactor=Clock(), ussd=network), maker=None)


def _dialogue(hang_up: bool) -> Intent:
    return Intent(1, "ussd_send", "254713000001", ussd_answers=("1", "0713000002", "5", "1234"),
                  hang_up=hang_up)  # fmt: skip


def test_a_hang_up_dialogue_stopped_before_its_last_answer_is_given_up_and_aborted() -> None:
    network = Network()
    driver = _driver(network)
    driver._dial(_dialogue(hang_up=True))
    assert network.answers == ["1"]  # no screen came for the first answer
    assert network.aborted == ["s1"]
    assert len(driver.gave_up) == 1 and not driver.ussd_busy


def test_a_hang_up_dialogue_that_reaches_its_last_answer_hangs_up_once() -> None:
    network = Network()
    network.answer = lambda session_id, text: (network.answers.append(text), network.session)[1]
    driver = _driver(network)
    driver._dial(_dialogue(hang_up=True))
    assert network.answers == ["1", "0713000002", "5", "1234"]
    assert network.aborted == ["s1"] and driver.gave_up == []
