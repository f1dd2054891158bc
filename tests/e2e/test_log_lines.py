"""The real daemon's log (stdout to a file: JSON lines by `logging.format = "auto"`, set to "json"
here): one SEND followed by its correlation id from the MO line through the postings, the MT
lines (submit_sm_resp) and the receipt lines; PDU hex only at debug (smpp), no bind password in
it; never the PIN or the MO's text."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from daemon.chart import ensure_chart_txn
from daemon.log_lines import mask_msisdn
from daemon.migrate import upgrade_all
from daemon.schema import outbox
from ledger import make_engine
from tests.e2e.harness import PASSWORD, DaemonProcess, SimulatorProcess, daemon_settings, wait_for
from tests.e2e.money import DLR_RULES, KES, PIN, START, MoneyService, money_settings, national

LOGGING = {"level": "info", "format": "json", "levels": {"smpp": "debug"}}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    workdir = tmp_path_factory.mktemp("logs")
    simulator = SimulatorProcess(workdir, dlr={"delay_s": 0.05, "rule": DLR_RULES})
    try:
        settings = daemon_settings(
            workdir / "state", f"sqlite:///{workdir / 'logs.db'}", simulator.port,
            **money_settings(), logging=LOGGING,
        )  # fmt: skip
        service = MoneyService(simulator, DaemonProcess(workdir, settings), None)  # type: ignore[arg-type]
        service.engine = _prepare(service)
        service.daemon.start().wait_ready()
        wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
    except BaseException:
        simulator.stop()
        raise
    try:
        yield service
    finally:
        assert service.stop() == 0, service.daemon.log()


def _prepare(service: MoneyService):
    engine = make_engine(service.daemon.config.database_url)
    with engine.begin() as conn:
        upgrade_all(conn)
        ensure_chart_txn(conn, service.daemon.config.service.currency, time.time_ns())
    return engine


@pytest.fixture
def money(service: MoneyService) -> Iterator[MoneyService]:
    yield service
    service.finish_test()


def log_lines(service: MoneyService) -> list[dict]:
    """Every line of the daemon's stdout, each one JSON object (a line that is not fails)."""
    return [json.loads(line) for line in service.daemon_log() if line.strip()]


def chain_of(service: MoneyService, correlation_id: str, wanted: dict[str, int]) -> list[dict]:
    """The lines of one chain, once at least `wanted` lines of each event are there."""

    def complete() -> list[dict] | None:
        lines = [x for x in log_lines(service) if x.get("correlation_id") == correlation_id]
        counts = {kind: sum(x.get("event") == kind for x in lines) for kind in wanted}
        return lines if all(counts[kind] >= n for kind, n in wanted.items()) else None

    return wait_for(complete, 20, f"the lines of {correlation_id}")


def mo_line(service: MoneyService, msisdn: str, command: str) -> dict:
    def found() -> dict | None:
        for line in log_lines(service):
            masked = line.get("source") == mask_msisdn(msisdn)
            if line.get("event") == "mo" and masked and line.get("command") == command:
                return line
        return None

    return wait_for(found, 20, f"the MO line of {command} from {msisdn}")


def test_one_send_is_followed_from_deliver_sm_to_its_receipts(money: MoneyService) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="Bob Otieno")
    text = f"SEND {national(bob.msisdn)} 500 {PIN}"
    assert "Confirmed." in alice.send(text)
    assert "You have received" in bob.next("the recipient's notice")
    money.quiet()

    mo = mo_line(money, alice.msisdn, "SEND")
    assert mo["component"] == "inbox" and mo["level"] == "info" and mo["bind"] == "sim"
    assert mo["short_code"] == "12345" and mo["result"] == "ok"
    chain = chain_of(money, mo["correlation_id"], {"posting": 2, "mt": 2, "receipt": 2})
    postings = [x for x in chain if x["event"] == "posting"]
    assert [x["result"] for x in postings] == ["pending", "posted"]
    assert {x["kind"] for x in postings} == {"send"} and postings[0]["amount_minor"] == 500 * KES
    assert all(x["component"] == "ledger" and x["transfer_ids"] for x in postings)

    mts = [x for x in chain if x["event"] == "mt"]
    assert {x["destination"] for x in mts} == {mask_msisdn(alice.msisdn), mask_msisdn(bob.msisdn)}
    assert all(x["status"] == "ESME_ROK" and x["component"] == "sender" for x in mts)
    receipts = [x for x in chain if x["event"] == "receipt"]
    assert {x["message_id"] for x in receipts} == {x["message_id"] for x in mts}
    assert all(x["outcome"] == "delivered" for x in receipts)

    with money.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.id).where(outbox.c.inbox_id == mo["inbox_id"])).all()
    assert {x["outbox_id"] for x in mts} == {row.id for row in rows}  # every reply and notice

    logged = "\n".join(money.daemon_log())
    assert text not in logged and f"500 {PIN}" not in logged  # the MO's text never, nor its PIN


def test_a_balance_query_has_an_mo_line_and_an_mt_line(money: MoneyService) -> None:
    carol = money.customer(START)
    assert "balance" in carol.send(f"BAL {PIN}").lower()
    money.quiet()
    mo = mo_line(money, carol.msisdn, "BAL")
    chain = chain_of(money, mo["correlation_id"], {"mt": 1, "receipt": 1})
    assert not [x for x in chain if x["event"] == "posting"]  # nothing moved


def test_pdu_hex_is_at_debug_only_and_never_holds_the_bind_password(money: MoneyService) -> None:
    lines = log_lines(money)
    dumps = [x for x in lines if "hex" in x]
    assert dumps and all(x["level"] == "debug" and x["component"] == "smpp" for x in dumps)
    assert any(
        x["command"] == "bind_transceiver" or x["command"].startswith("bind_") for x in dumps
    )
    assert all(PASSWORD.encode().hex() not in x["hex"] for x in dumps)
    assert PASSWORD.encode().hex() not in "\n".join(money.daemon_log())
    assert not [x for x in lines if x["level"] == "debug" and x["component"] != "smpp"]


def test_every_line_is_json_with_the_common_fields(money: MoneyService) -> None:
    for line in log_lines(money):
        assert {"time", "level", "component", "message"} <= line.keys(), line
        assert line["time"].endswith("Z")


def test_start_up_logs_no_library_noise(money: MoneyService) -> None:
    # Twisted's "Starting factory <... at 0x...>" (status and API sites, the bind's connects) and
    # Alembic's "Context impl SQLiteImpl." / "Will assume non-transactional DDL." at info.
    messages = [line["message"] for line in log_lines(money)]
    assert any(message.startswith("bind ") for message in messages), messages[:20]
    noise = ("Starting factory", "Stopping factory", "Context impl", "Will assume")
    assert [message for message in messages if message.startswith(noise)] == []
