"""USSD subscribers in the simulator, per dialect, against a tiny application ESME on a Clock."""

import itertools

import pytest
from twisted.internet.task import Clock

from simulators.config import ConfigError, build_config
from simulators.simulator import Simulator
from simulators.ussd import (
    GONE_STATUS,
    NoUssdRoute,
    SessionConflict,
    TooManySessions,
    UnknownSession,
    UssdState,
)
from smscore.constants import Npi, Ton
from smscore.status import CommandStatus
from smscore.ussd import Dialect, UssdOp
from smscore.ussd_dialects import read_ussd
from tests.simulators.harness import Network, bound_esme, esme_config, is_receipt, submit_pdu
from tests.simulators.ussd_esme import (
    ACCOUNT,
    ASK_PHONE,
    BALANCE,
    MENU,
    screen_pdu,
    ussd_app,
    ussd_simulator,
)

DIALECTS = list(Dialect)
PHONE = "254712000001"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_dialogue_start_screen_answer_final(network: Network, dialect: Dialect) -> None:
    simulator = ussd_simulator(network, dialect)
    app = ussd_app(network, simulator, dialect)
    session = simulator.ussd.start(PHONE, "*334#")
    assert session.state is UssdState.WAITING_SCREEN
    network.run(0.5)
    [dial] = app.received
    message = read_ussd(dialect, dial)
    assert message is not None and message.op == UssdOp.PSSR_INDICATION and not message.end
    assert message.session_key == session.session_key
    assert (dial.source_addr, dial.destination_addr, dial.short_message) == (
        PHONE,
        "*334#",
        b"*334#",
    )
    assert (dial.dest_addr_ton, dial.dest_addr_npi) == (Ton.UNKNOWN, Npi.ISDN)
    assert session.state is UssdState.WAITING_ANSWER and session.screens[-1].text == MENU
    simulator.ussd.answer(session.id, "2")
    network.run(0.5)
    answer = read_ussd(dialect, app.received[-1])
    assert answer is not None and answer.op == UssdOp.USSR_CONFIRM
    assert app.received[-1].short_message == b"2"
    simulator.ussd.answer(session.id, "0712000002")
    network.run(0.5)
    assert [screen.text for screen in session.screens] == [MENU, ASK_PHONE, "Sent to 0712000002"]
    assert [screen.final for screen in session.screens] == [False, False, True]
    assert session.state is UssdState.ENDED and session.end_reason == "final screen"
    assert all(r.command_status == CommandStatus.ESME_ROK for r in app.responses)
    assert len({r.message_id for r in app.responses}) == 3 and all(
        r.message_id for r in app.responses
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_screens_get_no_receipt_but_an_sms_on_the_same_bind_does(
    network: Network, dialect: Dialect
) -> None:
    simulator = ussd_simulator(network, dialect)
    app = ussd_app(network, simulator, dialect)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.5)
    simulator.ussd.answer(session.id, "1")
    network.run(3.0)  # far past the receipt delay
    assert session.screens[-1].text == BALANCE and session.state is UssdState.ENDED
    assert not [pdu for pdu in app.received if is_receipt(pdu)]
    assert len(simulator.store) == 0 and simulator.handset_inbox(PHONE) == []
    app.esme.submit(submit_pdu(PHONE, "an SMS"))  # type: ignore[union-attr]
    network.run(3.0)
    assert len([pdu for pdu in app.received if is_receipt(pdu)]) == 1
    assert simulator.stats()["ussd_screens"] == 2


@pytest.mark.parametrize("dialect", DIALECTS)
def test_abort_sends_the_release_and_refuses_later_screens(
    network: Network, dialect: Dialect
) -> None:
    simulator = ussd_simulator(network, dialect)
    app = ussd_app(network, simulator, dialect)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.5)
    simulator.ussd.abort(session.id)
    network.run(0.5)
    [release] = app.releases
    assert release.session_key == session.session_key and release.end
    assert session.state is UssdState.ABORTED and simulator.ussd.open_count == 0
    app.send(PHONE, session.session_key, "too late", False)
    network.run(0.5)
    assert app.responses[-1].command_status == GONE_STATUS == CommandStatus.ESME_RSUBMITFAIL
    with pytest.raises(SessionConflict, match="already aborted"):
        simulator.ussd.abort(session.id)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_session_times_out_after_its_timeout(
    network: Network, clock: Clock, dialect: Dialect
) -> None:
    simulator = ussd_simulator(network, dialect)
    app = ussd_app(network, simulator, dialect)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(1.0)
    assert session.state is UssdState.WAITING_ANSWER  # the subscriber never answers
    network.run(178.0)
    assert session.state is UssdState.WAITING_ANSWER
    network.run(1.5)
    assert session.state is UssdState.TIMED_OUT and session.end_reason == "session_timeout"
    [release] = app.releases
    assert release.session_key == session.session_key
    with pytest.raises(SessionConflict, match="timed_out, not waiting_answer"):
        simulator.ussd.answer(session.id, "1")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_late_screen_is_refused_and_the_session_dropped(
    network: Network, dialect: Dialect
) -> None:
    simulator = ussd_simulator(network, dialect, ussd={"answer_timeout_s": 5.0})
    app = ussd_app(network, simulator, dialect)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.5)
    app.reply_after_s = 6.0
    simulator.ussd.answer(session.id, "1")
    network.run(5.2)
    assert session.state is UssdState.TIMED_OUT and session.end_reason == "screen_timeout"
    assert len(app.releases) == 1
    network.run(1.0)
    assert app.responses[-1].command_status == CommandStatus.ESME_RSUBMITFAIL
    assert [screen.text for screen in session.screens] == [MENU]
    assert simulator.stats()["ussd_screens_refused"] == 1


def test_a_screen_before_the_answer_and_a_screen_too_long_are_refused(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34)
    app = ussd_app(network, simulator, Dialect.SMPP34)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.5)
    key = session.session_key
    app.send(PHONE, key, "a second question", False)
    network.run(0.1)
    assert app.responses[-1].command_status == CommandStatus.ESME_RSUBMITFAIL
    simulator.ussd.answer(session.id, "2")
    app.silent = True
    network.run(0.1)
    app.send(PHONE, key, "x" * 183, False)
    network.run(0.1)
    assert app.responses[-1].command_status == CommandStatus.ESME_RINVMSGLEN
    app.send(PHONE, key, "x" * 182, True)
    network.run(0.1)
    assert app.responses[-1].command_status == CommandStatus.ESME_ROK
    assert session.state is UssdState.ENDED


def test_a_notice_op_in_a_dialogue_is_refused(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.DIALOG)
    app = ussd_app(network, simulator, Dialect.DIALOG, silent=True)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.1)
    pdu = screen_pdu(Dialect.DIALOG, PHONE, session.session_key, "hi", UssdOp.USSN_REQUEST, False)
    app.esme.submit(pdu).addCallback(app.responses.append)  # type: ignore[union-attr]
    network.run(0.1)
    assert app.responses[-1].command_status == CommandStatus.ESME_RINVOPTPARAMVAL


def test_an_account_without_a_dialect_gets_no_ussd(network: Network, clock: Clock) -> None:
    simulator = Simulator(clock, build_config({"account": [{"system_id": "a", "password": "b"}]}))
    with pytest.raises(NoUssdRoute, match="no account has a ussd_dialect"):
        simulator.ussd.start(PHONE, "*334#")
    with pytest.raises(NoUssdRoute, match="account 'a' has no ussd_dialect"):
        simulator.ussd.start(PHONE, "*334#", system_id="a")
    open_mode = Simulator(clock, build_config({"ussd": {"dialect": "umr"}}))
    assert open_mode.ussd.start(PHONE, "*334#").system_id is None
    with pytest.raises(NoUssdRoute, match=r"\[ussd\] dialect is not set"):
        Simulator(clock, build_config({})).ussd.start(PHONE, "*334#")


def test_open_mode_sessions_take_the_bind_of_their_first_screen(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.UMR, account=[], ussd={"dialect": "umr"})
    app = ussd_app(network, simulator, Dialect.UMR)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.5)
    assert session.system_id == ACCOUNT and session.screens[-1].text == MENU
    simulator.ussd.answer(session.id, "1")
    network.run(0.5)
    assert session.screens[-1].text == BALANCE and app.releases == []


def test_one_dialogue_per_phone_and_a_bound_on_sessions(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34, ussd={"max_sessions": 2})
    ussd_app(network, simulator, Dialect.SMPP34)
    first = simulator.ussd.start(PHONE, "*334#")
    with pytest.raises(SessionConflict, match=f"{PHONE} is already in USSD session 1"):
        simulator.ussd.start(PHONE, "*334#")
    simulator.ussd.start("254712000002", "*334#")
    with pytest.raises(TooManySessions):
        simulator.ussd.start("254712000003", "*334#")
    simulator.ussd.abort(first.id)
    third = simulator.ussd.start("254712000003", "*334#")  # the ended one made room
    assert [s.id for s in simulator.ussd.sessions()] == ["2", third.id]
    with pytest.raises(UnknownSession):
        simulator.ussd.get(first.id)


def test_session_keys_fit_the_dialect_and_differ_per_dialogue(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34)
    keys = []
    for _ in range(300):
        session = simulator.ussd.start(PHONE, "*334#")
        keys.append(int(session.session_key))
        simulator.ussd.abort(session.id)
    assert all(1 <= key <= 0xFF for key in keys)
    assert all(a != b for a, b in itertools.pairwise(keys))


def test_wait_fires_on_the_screen_or_after_wait_s(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34)
    app = ussd_app(network, simulator, Dialect.SMPP34, reply_after_s=1.0)
    session = simulator.ussd.start(PHONE, "*334#")
    fired: list = []
    simulator.ussd.wait(session, 3.0).addCallback(lambda s: fired.append(s.state))
    network.run(0.9)
    assert fired == []
    network.run(0.2)
    assert fired == [UssdState.WAITING_ANSWER]
    app.silent = True
    simulator.ussd.answer(session.id, "1")
    simulator.ussd.wait(session, 2.0).addCallback(lambda s: fired.append(s.state))
    network.run(1.9)
    assert len(fired) == 1
    network.run(0.2)
    assert fired[-1] is UssdState.WAITING_SCREEN


def test_a_refused_dial_ends_the_session(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34)
    bound_esme(
        network, simulator, esme_config(system_id=ACCOUNT), lambda pdu: CommandStatus.ESME_RX_P_APPN
    )  # type: ignore[arg-type]
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.5)
    assert session.state is UssdState.ENDED
    assert session.end_reason is not None and session.end_reason.startswith("not delivered: ")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"account": [{"system_id": "a", "password": "b", "ussd_dialect": "ss7"}]},
         "sim.toml: account.0.ussd_dialect: Input should be 'smpp34', 'dialog' or 'umr'"),
        ({"ussd": {"session_timeout_s": 0}}, "sim.toml: ussd.session_timeout_s: Input should be"),
        ({"ussd": {"max_sessions": 0}}, "sim.toml: ussd.max_sessions: Input should be"),
    ],
)  # fmt: skip
def test_ussd_config_errors_name_the_key(data: dict, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(data, "sim.toml")
    assert str(caught.value).startswith(error)


def test_the_redeliver_fault_leaves_dialogue_steps_alone(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34, faults={"redeliver": {"every_n": 1}})
    app = ussd_app(network, simulator, Dialect.SMPP34)
    session = simulator.ussd.start(PHONE, "*334#")
    network.run(0.5)
    simulator.ussd.answer(session.id, "1")
    network.run(3.0)
    assert len(app.received) == 2 and session.state is UssdState.ENDED
