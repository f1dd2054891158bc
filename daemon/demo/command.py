"""`smscore demo`: the bundled SMSC simulator and the daemon in one process; the mobile-money story
told as the phones see it (daemon.demo.story), then the simulator stays up for your own messages
until Ctrl-C."""

import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from daemon.config import Config, ConfigError, build_config
from daemon.demo.state import DemoStateError, fresh_state_dir
from daemon.demo.story import (
    AGENT,
    ALICE,
    ALICE_BILL_ACCOUNT,
    BILLER,
    BOB,
    BUSINESS,
    BUSINESS_CODE,
    CUSTOMERS,
    MERCHANT,
    SHORT_CODE,
    TILL_NUMBER,
    USSD_CODE,
)
from daemon.run_cli import fail
from daemon.runner import RunHooks

if TYPE_CHECKING:
    from daemon.demo.teller import Teller
    from daemon.service import Daemon
    from simulators.simulator import ListeningAddresses, Simulator

RECEIPT_DELAY_S = 0.05  # how long the simulated phones take to receive an SMS
WATCH_INTERVAL_S = 0.2  # after the story: how often replies to your own messages are looked for


AIRTIME_PASSWORD_FILE = "airtime_password"  # in the state directory: the simulated provider's
USSD_DIALECT = "smpp34"  # how the bind and the simulator carry USSD: the SMPP 3.4 TLVs


def demo_config(
    state_dir: Path,
    smsc_port: int,
    status_listen: str,
    airtime_url: str | None = None,
    api_listen: str = "127.0.0.1:0",
) -> Config:
    """The daemon's config for the demo: short timings, so the story takes seconds, not minutes;
    BUY buys from the simulator's airtime provider at `airtime_url` (None: BUY is off)."""
    airtime = {
        "enabled": airtime_url is not None,
        "url": airtime_url or "http://127.0.0.1:8775/airtime/v1",
        "password_file": str(state_dir / AIRTIME_PASSWORD_FILE),
        "timeout_s": 3.0,
        "query_after_s": 2.0,
        "poll_interval_s": 0.2,
    }
    return build_config(
        {
            "service": {"state_dir": str(state_dir)},
            "logging": {"level": "warn"},
            "binds": [
                {
                    "name": "sim",
                    "host": "127.0.0.1",
                    "port": smsc_port,
                    "system_id": "smscore",
                    "password": "secret",
                    "serves": [SHORT_CODE],
                    "ussd_dialect": USSD_DIALECT,
                }
            ],
            "status": {"listen": status_listen},
            # The business's callbacks go to the demo's receiver within a fraction of a second.
            "api": {"listen": api_listen, "worker_interval_s": 0.1, "callback_interval_s": 0.2},
            "tranproc": {"poll_interval_s": 0.2},
            # After a USSD dialogue, its SMS (confirmations) come from the short code.
            "sender": {"poll_interval_s": 0.1, "source_addr": SHORT_CODE},
            "sweeper": {"interval_s": 0.2},
            # A confirmation whose receipt says undelivered is voided at the next sweep; one with no
            # receipt at all after 5 s.
            "money": {"rollback_timeout_s": 5.0, "settle_interval_s": 0.2},
            "airtime": airtime,
        },
        "smscore demo",
    )


class DemoHooks(RunHooks):
    """The simulator next to the daemon, the agent store staff set up, the story and its verdict."""

    def __init__(
        self,
        simulator: "Simulator",
        reactor: IReactorTime,
        addresses: "ListeningAddresses",
        exit_after_s: float | None,
    ) -> None:
        self.simulator = simulator
        self.reactor = reactor
        self.smsc_port = addresses.smpp[1]
        self.sim_http = f"{addresses.http[0]}:{addresses.http[1]}" if addresses.http else "-"
        self.exit_after_s = exit_after_s
        self.agent_number = ""
        self.teller: Teller | None = None

    def prepared(self, daemon: "Daemon") -> None:
        from daemon.clock import now_ns
        from daemon.demo.state import seed_agent_txn

        self.agent_number = daemon.db.run_sync(
            "demo.seed", seed_agent_txn, daemon.config, now_ns(self.reactor)
        )

    def started(self, daemon: "Daemon") -> None:
        from daemon.demo.teller import Teller

        print(banner(self.smsc_port, self.sim_http, daemon.status_address), flush=True)
        self.teller = Teller(self.reactor, self.simulator, daemon, self.agent_number)
        told = self.teller.tell()
        told.addCallbacks(self._told, self._broke)

    def _told(self, as_told: bool) -> None:
        assert self.teller is not None
        if not as_told:
            self.exit_code = 1
        key = self.teller.try_key
        by_hand = (
            try_the_api(self.teller.daemon.api_address, key, self.sim_http)
            if key is not None
            else ""
        )
        print(try_it(self.sim_http, self.agent_number, by_hand), flush=True)
        LoopingCall(self.teller.show_new_messages).start(WATCH_INTERVAL_S, now=False)
        if self.exit_after_s is not None:
            self.reactor.callLater(self.exit_after_s, IReactorCore(self.reactor).stop)

    def _broke(self, failure: Failure) -> None:
        print(f"  !! the story stopped: {failure.getErrorMessage()}", flush=True)
        self.exit_code = 1
        reactor = IReactorCore(self.reactor)
        if reactor.running:  # not already shutting down (Ctrl-C mid-story)
            reactor.stop()

    def stopping(self) -> Deferred:
        if self.teller is not None:
            self.teller.api.stop()  # the callback receiver: it only listens
        return self.simulator.stop()


def banner(smsc_port: int, sim_http: str, status_address: str) -> str:
    return (
        f"SMSC simulator on 127.0.0.1:{smsc_port} (control API http://{sim_http}), "
        f"smscore status on http://{status_address}/status. Short code {SHORT_CODE}.\n"
        "The story of a mobile-money service, as the phones see it: each SMS sent (or staff "
        "command typed), what every phone received, then the balances in the ledger."
    )


def try_it(sim_http: str, agent_number: str, by_hand_api: str = "") -> str:
    people = ", ".join(f"{who.label} {who.msisdn} (PIN {who.pin})" for who in CUSTOMERS)
    first = CUSTOMERS[0]
    return (
        f"\nNow try it yourself. {people}; agent store {AGENT.msisdn} (PIN {AGENT.pin}, "
        f"agent number {agent_number}); shop {MERCHANT.msisdn} (PIN {MERCHANT.pin}, till "
        f"{TILL_NUMBER}); biller {BILLER} (account {ALICE_BILL_ACCOUNT} still has a bill due).\n"
        f"  smscore sim send --api http://{sim_http} {first.msisdn} {SHORT_CODE} "
        f"'BAL {first.pin}'\n"
        f"  smscore sim ussd --api http://{sim_http} {BOB.msisdn} '{USSD_CODE}'   "
        "(a USSD menu: type the numbers; Ctrl-C hangs up)\n"
        f"{by_hand_api}"
        "Replies show below. Ctrl-C stops the demo; the next run starts the story afresh."
    )


def try_the_api(api_address: str, key: str, sim_http: str) -> str:
    """The curl commands for the business API, with a key of the business made for this run."""
    api = f"http://{api_address}"
    with_key = 'curl -s -H "X-API-Key: $KEY"'
    posting = "-H 'Content-Type: application/json' -d"
    pay_bob = (
        f'{{"amount": "100.00", "currency": "KES", "creditParty": [{{"key": "msisdn", '
        f'"value": "+{BOB.msisdn}"}}]}}'
    )
    ask_alice = (
        f'{{"amount": "50.00", "currency": "KES", "debitParty": [{{"key": "msisdn", '
        f'"value": "+{ALICE.msisdn}"}}]}}'
    )
    return (
        f"And the business API, as {BUSINESS.name}'s developer would call it (the OpenAPI "
        f"document: {api}/openapi.json), with a key of {BUSINESS_CODE} made for this run, shown "
        "this once:\n"
        f"  KEY={key}\n"
        f"  curl -s {api}/heartbeat\n"
        f"  {with_key} {api}/accounts/msisdn/{BUSINESS.msisdn}/balance\n"
        f"  {with_key} -H \"X-CorrelationID: by-hand-1\" {posting} '{pay_bob}' "
        f"{api}/transactions/type/disbursement\n"
        f"  {with_key} {api}/responses/by-hand-1\n"
        f"  {with_key} -H \"X-CorrelationID: by-hand-2\" {posting} '{ask_alice}' "
        f"{api}/transactions/type/merchantpay\n"
        f"  smscore sim send --api http://{sim_http} {ALICE.msisdn} {SHORT_CODE} "
        f"'PAY <the code in her SMS> {ALICE.pin}'\n"
        f"  {with_key} {api}/requeststates/<the serverCorrelationId answered>\n"
    )


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("var/demo"),
    show_default=True,
    help="Database and PIN pepper of the demo (emptied at every start).",
)
@click.option(
    "--sim-http", default="127.0.0.1:8775", show_default=True, help="Simulator control API."
)
@click.option("--status-listen", default="127.0.0.1:8780", show_default=True)
@click.option(
    "--api-listen", default="127.0.0.1:8790", show_default=True, help="Business API (HTTP)."
)
@click.option(
    "--exit-after",
    type=float,
    default=None,
    help="Stop S seconds after the story is told (exit 1 if a step went wrong).",
)
def demo(
    state_dir: Path, sim_http: str, status_listen: str, api_listen: str, exit_after: float | None
) -> None:
    """Simulator + daemon in one process, telling the mobile-money story."""
    try:
        fresh_state_dir(state_dir)  # first: nothing else is touched when it is not the demo's
    except DemoStateError as exc:
        fail(str(exc))
    from twisted.internet import reactor

    from daemon.checks import check_config
    from daemon.runner import run_forever
    from simulators.airtime import AirtimeProviderConfig
    from simulators.config import AccountConfig, DlrConfig, SimulatorConfig
    from simulators.simulator import Simulator, StartError

    # BUY works out of the box: the simulator's airtime provider, with a password made for this run.
    airtime_password = secrets.token_hex(16)
    (state_dir / AIRTIME_PASSWORD_FILE).write_text(airtime_password + "\n", encoding="utf-8")
    (state_dir / AIRTIME_PASSWORD_FILE).chmod(0o600)
    simulator = Simulator(
        reactor,
        SimulatorConfig(
            listen="127.0.0.1:0",
            http=sim_http,
            account=(
                AccountConfig(system_id="smscore", password="secret", ussd_dialect=USSD_DIALECT),
            ),
            dlr=DlrConfig(delay_s=RECEIPT_DELAY_S),
            airtime=AirtimeProviderConfig(username="smscore", password=airtime_password),
        ),
    )
    try:
        addresses = simulator.start_listening()
        airtime_url = None
        if addresses.http is not None:
            airtime_url = f"http://{addresses.http[0]}:{addresses.http[1]}/airtime/v1"
        config = demo_config(state_dir, addresses.smpp[1], status_listen, airtime_url, api_listen)
        check_config(config, "smscore demo")  # what `smscore run` checks before it starts
    except StartError as exc:
        fail(str(exc), 1)
    except ConfigError as exc:
        fail(str(exc))
    sys.exit(run_forever(config, DemoHooks(simulator, reactor, addresses, exit_after)))
