"""`smscore demo`: the bundled SMSC simulator and the daemon in one process, a scripted conversation
printed as it happens, then the simulator stays up for your own messages until Ctrl-C."""

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click
from sqlalchemy import Connection
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.internet.task import LoopingCall

from daemon.config import Config, ConfigError, build_config
from daemon.run_cli import fail
from daemon.runner import RunHooks

if TYPE_CHECKING:
    from daemon.service import Daemon
    from daemon.subscribers import PinHasher
    from simulators.simulator import ListeningAddresses, Simulator

SHORT_CODE = "12345"
DEMO_SUBSCRIBERS = (("254712000001", "1234", 100_050), ("254712000002", "4321", 25_000))
SCRIPT = (
    ("254712000001", "PING"),
    ("254712000001", "BAL 1234"),
    ("254712000002", "help"),
    ("254712000002", "HELP BAL"),
    ("254712000001", "bal 9999"),
    ("254712000003", "BAL 1111"),
    ("254712000002", "what is my balance"),
    ("254712000002", "  Bal   4321 "),
)
SCRIPT_INTERVAL_S = 1.0


@dataclass
class Conversation:
    """Prints MOs as they are sent and replies as the simulated phones receive them."""

    simulator: "Simulator"
    out: TextIO = sys.stdout
    sent: dict[str, int] = field(default_factory=dict)
    replies: dict[str, int] = field(default_factory=dict)
    _shown: set[tuple[str, int]] = field(default_factory=set)

    def send(self, msisdn: str, text: str) -> None:
        self._print(f"  {msisdn} -> {SHORT_CODE}: {text}")
        self.sent[msisdn] = self.sent.get(msisdn, 0) + 1
        result = self.simulator.inject_mo(msisdn, SHORT_CODE, text)
        result.addErrback(lambda failure: self._print(f"  !! {failure.getErrorMessage()}"))

    def show_new_replies(self) -> None:
        for msisdn in sorted(self.sent):
            for message in self.simulator.handset_inbox(msisdn):
                if (msisdn, message.seq) in self._shown:
                    continue
                self._shown.add((msisdn, message.seq))
                self.replies[msisdn] = self.replies.get(msisdn, 0) + 1
                self._print(f"  {msisdn} <- {message.sender}: {message.text}")

    def all_answered(self) -> bool:
        return all(self.replies.get(msisdn, 0) >= count for msisdn, count in self.sent.items())

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def demo_config(state_dir: Path, smsc_port: int, status_listen: str) -> Config:
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
                }
            ],
            "status": {"listen": status_listen},
            "tranproc": {"poll_interval_s": 1.0},
            "sender": {"poll_interval_s": 1.0},
        },
        "smscore demo",
    )


def seed_subscribers_txn(
    conn: Connection, config: Config, hasher: "PinHasher", now_ns: int
) -> None:
    from daemon.chart import deposit_txn, ensure_chart_txn, new_transfer_id
    from daemon.subscribers import create_subscriber_txn, get_subscriber_txn

    ensure_chart_txn(conn, config.service.currency, now_ns)
    for msisdn, pin, balance_minor in DEMO_SUBSCRIBERS:
        if get_subscriber_txn(conn, msisdn) is not None:
            continue
        subscriber = create_subscriber_txn(
            conn, msisdn, pin=pin, hasher=hasher, currency=config.service.currency, now_ns=now_ns
        )
        deposit_txn(
            conn,
            subscriber.account_id,
            balance_minor,
            config.service.currency,
            now_ns,
            transfer_id=new_transfer_id(),
            user_data="demo opening balance",
        )


class DemoHooks(RunHooks):
    """The simulator next to the daemon, the seeded subscribers, the script and its verdict."""

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
        self.conversation = Conversation(simulator)

    def prepared(self, daemon: "Daemon") -> None:
        from daemon.clock import now_ns
        from daemon.components import pin_hasher

        config = daemon.config
        daemon.db.run_sync(
            "demo.seed", seed_subscribers_txn, config, pin_hasher(config), now_ns(self.reactor)
        )

    def started(self, daemon: "Daemon") -> None:
        print(banner(self.smsc_port, self.sim_http, daemon.status_address), flush=True)
        for index, (msisdn, text) in enumerate(SCRIPT):
            self.reactor.callLater(
                1.0 + index * SCRIPT_INTERVAL_S, self.conversation.send, msisdn, text
            )
        LoopingCall(self.conversation.show_new_replies).start(0.1, now=False)
        if self.exit_after_s is not None:
            self.reactor.callLater(self.exit_after_s, self.finish)

    def finish(self) -> None:
        self.conversation.show_new_replies()
        if not self.conversation.all_answered():
            print("  !! some messages got no reply", flush=True)
            self.exit_code = 1
        IReactorCore(self.reactor).stop()

    def stopping(self) -> Deferred:
        return self.simulator.stop()


def banner(smsc_port: int, sim_http: str, status_address: str) -> str:
    return (
        f"SMSC simulator on 127.0.0.1:{smsc_port} (control API http://{sim_http}), "
        f"smscore status on http://{status_address}/status\n"
        f"Subscribers: 254712000001 (PIN 1234), 254712000002 (PIN 4321). Short code {SHORT_CODE}.\n"
        f"Try it yourself: smscore sim send --api http://{sim_http} 254712000001 {SHORT_CODE} 'BAL 1234'\n"
    )


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("var/demo"),
    show_default=True,
    help="Database and PIN pepper of the demo.",
)
@click.option(
    "--sim-http", default="127.0.0.1:8775", show_default=True, help="Simulator control API."
)
@click.option("--status-listen", default="127.0.0.1:8780", show_default=True)
@click.option(
    "--exit-after",
    type=float,
    default=None,
    help="Stop after S seconds (exit 1 if an MO went unanswered).",
)
def demo(state_dir: Path, sim_http: str, status_listen: str, exit_after: float | None) -> None:
    """Simulator + daemon in one process, with a scripted conversation."""
    from twisted.internet import reactor

    from daemon.checks import check_config
    from daemon.runner import run_forever
    from simulators.config import AccountConfig, SimulatorConfig
    from simulators.simulator import Simulator, StartError

    simulator = Simulator(
        reactor,
        SimulatorConfig(
            listen="127.0.0.1:0",
            http=sim_http,
            account=(AccountConfig(system_id="smscore", password="secret"),),
        ),
    )
    try:
        addresses = simulator.start_listening()
        config = demo_config(state_dir, addresses.smpp[1], status_listen)
        check_config(config, "smscore demo")  # what `smscore run` checks before it starts
    except StartError as exc:
        fail(str(exc), 1)
    except ConfigError as exc:
        fail(str(exc))
    sys.exit(run_forever(config, DemoHooks(simulator, reactor, addresses, exit_after)))
