"""daemon.logs: JSON lines and text lines, the component of a namespace, per-component levels,
secrets kept out of the fields; smscore.pdu_trace: PDU hex at debug only, bind passwords
and message texts masked (tests/smscore/test_pdu_trace.py has the texts)."""

import io
import json
import logging
from datetime import UTC, datetime

import pytest
from twisted.logger import Logger, LogLevel

from daemon import logs
from daemon.config import LOG_COMPONENTS, LoggingConfig
from daemon.log_lines import mask_msisdn
from daemon.logs import component_of, json_line, make_observer, wants_json
from smscore import pdu_trace
from smscore.pdu import BindTransmitter, Outbind, SubmitSm
from tests.smscore.test_protocol import Pair, outcome, submit_sm

T0 = 1_764_590_400.25  # 2025-12-01 12:00:00.25 UTC


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def emit(stream, settings, namespace, level, fmt, **fields):
    """One event as a Logger makes it, at T0 (Logger.emit itself stamps the wall clock)."""
    observer = make_observer(settings, stream)
    event = {**fields, "log_format": fmt, "log_level": level, "log_namespace": namespace}
    observer({**event, "log_time": T0})


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_time_level_component_message_and_the_fields():
    stream = io.StringIO()
    emit(stream, LoggingConfig(format="json"), "daemon.lis", LogLevel.info,
         "MO {correlation_id} on {bind}", correlation_id="mo-7", bind="smsc1", parts=[1, 2])  # fmt: skip
    [line] = lines(stream)
    assert line["time"] == "2025-12-01T12:00:00.250000Z"
    assert datetime.fromisoformat(line["time"]) == datetime.fromtimestamp(T0, UTC)
    assert line["level"] == "info" and line["component"] == "lis"
    assert line["message"] == "MO mo-7 on smsc1"
    assert line["correlation_id"] == "mo-7" and line["bind"] == "smsc1" and line["parts"] == [1, 2]


def test_fields_named_as_secrets_are_never_written():
    stream = io.StringIO()
    emit(stream, LoggingConfig(format="json"), "daemon.tranproc", LogLevel.warn, "checked",
         pin="4321", password="hunter22", new_pin="9876", api_key="smk_x", bind="b")  # fmt: skip
    text = stream.getvalue()
    for secret in ("4321", "hunter22", "9876", "smk_x"):
        assert secret not in text
    assert lines(stream)[0]["bind"] == "b"


def test_a_failure_adds_its_error_and_traceback():
    stream = io.StringIO()
    log = Logger(
        namespace="daemon.sender", observer=make_observer(LoggingConfig(format="json"), stream)
    )
    try:
        raise ValueError("boom")
    except ValueError:
        log.failure("recording failed")
    [line] = lines(stream)
    assert line["level"] == "critical" and line["error"] == "boom"
    assert "ValueError" in line["traceback"] and line["component"] == "sender"


def test_other_values_are_written_as_text():
    line = json.loads(json_line({"log_format": "x", "log_namespace": "daemon.api", "obj": object}))
    assert line["obj"] == str(object) and line["component"] == "api"


@pytest.mark.parametrize(
    ("namespace", "component"),
    [
        ("smscore.protocol.SMPPProtocol", "smpp"), ("smscore.client", "smpp"),
        ("daemon.lis", "lis"), ("daemon.tranproc", "tranproc"), ("daemon.tranproc_service", "service"),
        ("daemon.money.send", "tranproc"), ("daemon.money.settle", "settler"),
        ("daemon.sender", "sender"), ("daemon.outbox.claims", "sender"),
        ("daemon.receipts", "receipts"), ("daemon.sweeper", "sweeper"),
        ("daemon.api.worker", "api"), ("daemon.channels.hub", "channels"),
        ("daemon.ussd.inbox", "ussd"), ("ledger.fastpath", "ledger"), ("daemon.inbox", "inbox"),
        ("daemon.service", "service"), ("daemon.runner", "service"), (None, "service"),
        ("daemon.lisx", "service"),
    ],
)  # fmt: skip
def test_a_namespace_belongs_to_one_component(namespace, component):
    assert component_of(namespace) == component
    assert component in LOG_COMPONENTS


def test_a_prefix_ends_at_a_dot():
    # daemon.tranproc_service is not inside daemon.tranproc; daemon.tranproc.x is.
    assert component_of("daemon.tranproc.x") == "tranproc"


def test_levels_per_component_over_the_default():
    stream = io.StringIO()
    settings = LoggingConfig(format="json", level="warn", levels={"smpp": "debug", "lis": "error"})
    emit(stream, settings, "smscore.protocol", LogLevel.debug, "hex")  # smpp: debug passes
    emit(stream, settings, "daemon.sender", LogLevel.info, "dropped")  # default warn
    emit(stream, settings, "daemon.sender", LogLevel.warn, "kept")
    emit(stream, settings, "daemon.lis", LogLevel.warn, "dropped too")  # lis: error only
    emit(stream, settings, "daemon.lis", LogLevel.error, "lis error")
    assert [line["message"] for line in lines(stream)] == ["hex", "kept", "lis error"]


def test_auto_is_text_on_a_terminal_and_json_elsewhere():
    assert wants_json("auto", io.StringIO()) and not wants_json("auto", Tty())
    assert wants_json("json", Tty()) and not wants_json("text", io.StringIO())
    tty = Tty()
    emit(tty, LoggingConfig(), "daemon.sender", LogLevel.info, "MT {correlation_id} sent",
         correlation_id="mo-3")  # fmt: skip
    [text] = tty.getvalue().splitlines()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert " info  sender   MT mo-3 sent" in text


def test_a_text_line_names_the_correlation_id_when_the_message_does_not():
    tty = Tty()
    emit(tty, LoggingConfig(format="text"), "daemon.ledger", LogLevel.warn, "odd",
         correlation_id="mv-ABC")  # fmt: skip
    assert tty.getvalue().rstrip().endswith("warn  ledger   odd [mv-ABC]")


@pytest.mark.parametrize(
    ("msisdn", "shown"),
    [("254712345678", "254******678"), ("+254712345678", "+25*******678"), ("12345", "***45"),
     ("", ""), (None, "")],
)  # fmt: skip
def test_numbers_show_only_their_edges(msisdn, shown):
    assert mask_msisdn(msisdn) == shown


@pytest.fixture
def alembic_logger():
    logger = logging.getLogger("alembic")
    level = logger.level
    yield logger
    logger.setLevel(level)


@pytest.mark.parametrize(
    ("level", "levels", "shown"),
    [
        ("info", {}, logging.WARNING),
        ("warn", {}, logging.WARNING),
        ("debug", {}, logging.DEBUG),
        ("info", {"service": "debug"}, logging.DEBUG),  # the component Alembic's lines land in
        ("info", {"smpp": "debug"}, logging.WARNING),
    ],
)
def test_alembic_says_only_warnings_unless_debug_is_asked_for(alembic_logger, level, levels, shown):
    logs.quiet_libraries(logs.ComponentLevels(level, levels))
    assert alembic_logger.getEffectiveLevel() == shown
    assert logging.getLogger("alembic.runtime.migration").getEffectiveLevel() == shown


# --- PDU hex ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pdu_type", [BindTransmitter, Outbind])
def test_a_bind_pdu_dump_masks_the_password(pdu_type):
    dump = pdu_trace.pdu_hex(pdu_type(system_id="esme1", password="s3cr3tpw"))
    assert b"s3cr3tpw".hex() not in dump
    assert b"esme1\x00********\x00".hex() in dump


@pytest.mark.parametrize("password", ["", "pw", "secret", "s3cr3tpw"])
def test_the_password_mask_does_not_show_its_length(password):
    dump = pdu_trace.pdu_hex(BindTransmitter(system_id="esme1", password=password))
    assert b"esme1\x00********\x00".hex() in dump and "2a" * 9 not in dump


def test_other_pdus_are_dumped_as_they_are_but_for_their_text():
    pdu = SubmitSm(source_addr="100", destination_addr="254700000001", short_message=b"hi")
    masked = SubmitSm(source_addr="100", destination_addr="254700000001", short_message=b"**")
    assert pdu_trace.pdu_hex(pdu) == masked.encode_pdu().hex()


def test_a_truncated_bind_shows_no_body():
    data = BindTransmitter(system_id="esme1", password="pw").encode_pdu()
    assert pdu_trace.masked_octets(data[:20]) == data[:16]


@pytest.fixture
def captured():
    from twisted.logger import globalLogPublisher

    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)
    pdu_trace.enable(False)


def dumps(events):
    return [e for e in events if e.get("log_format", "").startswith("{direction} {command}")]


def test_the_protocol_dumps_pdus_at_debug_only_when_switched_on(captured):
    Pair().esme.submit(submit_sm(b"quiet"))
    assert dumps(captured) == []
    pdu_trace.enable(True)
    pair = Pair()
    outcome(pair.esme.submit(submit_sm(b"loud")))
    pair.link.pump()
    traced = dumps(captured)
    assert {e["log_level"] for e in traced} == {LogLevel.debug}
    names = {(e["direction"], e["command"]) for e in traced}
    assert {("out", "bind_transceiver"), ("out", "submit_sm"), ("in", "submit_sm_resp")} <= names
    assert not any(b"loud".hex() in e["hex"] for e in traced)  # the text is masked
    assert any(b"****".hex() in e["hex"] for e in traced if e["command"] == "submit_sm")
    assert not any(b"secret".hex() in e["hex"] for e in traced)  # the ESME's bind password
