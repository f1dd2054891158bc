"""Airtime end to end: BUY through the real daemon and simulator, the simulator's airtime provider
over HTTP on 127.0.0.1 with its faults per number: success (for oneself and another number),
failure, timeout, late success (reported, then written off by staff). Each test ends with every SMS
read and `smscore ledger check` (the invariants and the trust reconciliation)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.admin.cli import admin
from daemon.chart import ensure_chart_txn
from daemon.migrate import upgrade_all
from daemon.schema import airtime_orders
from ledger import make_engine
from tests.e2e.harness import DaemonProcess, SimulatorProcess, daemon_settings, wait_for
from tests.e2e.money import (
    _LOGGED_ERROR,
    PIN,
    REPLY_TIMEOUT_S,
    START,
    MoneyService,
    kes,
    money_settings,
    national,
    ref_in,
)

KES = 100
AIRTIME = {
    "enabled": True,
    "timeout_s": 1.0,
    "query_after_s": 0.3,
    "backoff": 1.0,
    "max_queries": 3,
    "late_checks": 2,
    "poll_interval_s": 0.1,
}


@pytest.fixture(scope="module")
def money_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    workdir = tmp_path_factory.mktemp("airtime")
    simulator = SimulatorProcess(workdir, dlr={"delay_s": 0.05})
    secret = workdir / "airtime_password"
    secret.write_text("e2e-airtime-secret\n")
    airtime = {**AIRTIME, "url": f"{simulator.api}/airtime/v1", "password_file": str(secret)}
    try:
        settings = daemon_settings(
            workdir / "state", f"sqlite:///{workdir / 'money.db'}", simulator.port,
            **money_settings(), airtime=airtime,
        )  # fmt: skip
        daemon = DaemonProcess(workdir, settings)
        engine = make_engine(daemon.config.database_url)
        with engine.begin() as conn:
            upgrade_all(conn)
            ensure_chart_txn(conn, "KES", time.time_ns())
        daemon.start().wait_ready()
        wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
    except BaseException:
        simulator.stop()
        raise
    service = MoneyService(simulator, daemon, engine)
    yield service
    try:  # as MoneyService.stop, but a late success is logged at error level on purpose
        errors = [line for line in service.daemon_log() if _LOGGED_ERROR.search(line)]
        assert all("late success" in line for line in errors), "\n".join(errors)
        assert daemon.stop() == 0, daemon.log()
        service.ledger_check()
    finally:
        engine.dispose()
        simulator.stop()


def provider_fault(money: MoneyService, msisdn: str, **fault: object) -> None:
    body = json.dumps({"numbers": {msisdn: fault}}).encode()
    request = urllib.request.Request(
        f"{money.simulator.api}/v1/airtime/faults", body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def provider_orders(money: MoneyService) -> dict[str, dict]:
    with urllib.request.urlopen(f"{money.simulator.api}/v1/airtime/orders", timeout=10) as answer:
        return {order["id"]: order for order in json.loads(answer.read())["orders"]}


def order_of(money: MoneyService, ref: str):
    with money.engine.connect() as conn:
        return conn.execute(select(airtime_orders).where(airtime_orders.c.ref == ref)).one()


def test_buy_for_oneself_succeeds(money) -> None:
    alice = money.customer(START)
    reply = alice.send(f"BUY 100 {PIN}")
    ref = ref_in(reply.split("ref ", 1)[1])
    assert reply == (f"Buying {kes(100 * KES)} airtime for {national(alice.msisdn)[:4]} "
                     f"{national(alice.msisdn)[4:]}, ref {ref}. You will get an SMS when it is done.")  # fmt: skip
    told = alice.next("the airtime confirmation")
    assert told.startswith(f"{ref} Confirmed. {kes(100 * KES)} airtime bought for")
    money.quiet()
    assert money.posted(alice.msisdn) == START - 100 * KES
    assert provider_orders(money)[ref]["topups"] == 1
    assert order_of(money, ref).state == "succeeded"


def test_buy_for_another_unregistered_number_tells_both(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    carol = money.phone(money.number("2547330"))
    reply = alice.send(f"BUY 50 {national(carol.msisdn)} {PIN}")
    assert reply.startswith(f"Buying {kes(50 * KES)} airtime for")
    assert "airtime bought for" in alice.next("the airtime confirmation")
    assert (f"ALICE A. {national(alice.msisdn)[:4]} {national(alice.msisdn)[4:]} bought you "
            f"{kes(50 * KES)} airtime. Sig K") in carol.next("the recipient's notice")  # fmt: skip
    money.quiet()
    assert money.posted(alice.msisdn) == START - 50 * KES


def test_a_failure_takes_nothing(money) -> None:
    alice = money.customer(START)
    provider_fault(money, alice.msisdn, kind="failure")
    alice.send(f"BUY 100 {PIN}")
    told = alice.next("the failure notice")
    assert f"could not be bought. Nothing was taken. Your balance is {kes(START)}" in told
    money.quiet()
    assert money.posted(alice.msisdn) == START


def test_a_timeout_is_queried_then_voided(money) -> None:
    alice = money.customer(START)
    provider_fault(money, alice.msisdn, kind="timeout")
    reply = alice.send(f"BUY 100 {PIN}")
    ref = ref_in(reply.split("ref ", 1)[1])
    assert money.balance(alice.msisdn) == (START, 100 * KES)  # reserved while it is unknown
    told = alice.next("the notice that it was not confirmed")
    assert f"the provider did not confirm your {kes(100 * KES)} airtime" in told
    money.quiet()
    assert money.posted(alice.msisdn) == START
    order = order_of(money, ref)
    assert order.state == "voided" and order.queries >= AIRTIME["max_queries"] - 1
    assert provider_orders(money)[ref]["topups"] == 0


def test_a_late_success_is_reported_and_written_off(money) -> None:
    alice = money.customer(START)
    provider_fault(money, alice.msisdn, kind="late_success")
    reply = alice.send(f"BUY 100 {PIN}")
    ref = ref_in(reply.split("ref ", 1)[1])
    assert "Nothing was taken" in alice.next("the failure notice")
    wait_for(
        lambda: order_of(money, ref).state == "late_success", REPLY_TIMEOUT_S, "a late success"
    )
    assert "airtime: 1 late success(es)" in money.ledger_check(in_process=True)
    where = ["--db", money.config.database_url]
    listed = CliRunner().invoke(admin, ["airtime", "list", "--late", *where])
    assert ref in listed.output, listed.output
    order_id = str(order_of(money, ref).id)
    done = CliRunner().invoke(admin, ["airtime", "resolve", order_id, "--write-off", *where])
    assert done.exit_code == 0 and "written_off" in done.output, done.output
    money.quiet()
    assert money.posted(alice.msisdn) == START
    assert "late success" not in money.ledger_check(in_process=True)
