"""What a chaos run is made of before it starts: its people, the daemon's config, the simulator's
config, and the seeded database (subscribers, agent stores, a biller, opening balances).

Everything is derived from the run's seed and its options, so `smscore chaos --seed N` sets up the
same world again. The people and their opening balances are what the model starts from.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SHORT_CODE = "12345"
USSD_CODE = "*334#"
SYSTEM_ID, PASSWORD = "smscore", "secret"
PIN = "1234"
AGENT_PIN = "2468"
BILLER = "KPLC"
BILLER_RULE = "digits:6"
STAFF = "chaos"
FIRST_CUSTOMER = 254_713_000_001
FIRST_AGENT = 254_722_000_001
KES = 100
RICH_MINOR = 20_000 * KES  # most customers' opening balance
POOR_MINOR = 300 * KES  # every fifth customer: declines for insufficient funds
FLOAT_MINOR = 2_000_000 * KES  # each agent store's opening e-float
# The daemon's money timings, short so that voids, expiries and airtime queries happen in the run.
ROLLBACK_TIMEOUT_S = 4.0
AIRTIME_TIMEOUT_S = 1.0
AIRTIME_PASSWORD = "chaos-airtime"
TARIFF_FILE = "tariff.toml"


@dataclass(frozen=True, slots=True)
class Person:
    msisdn: str
    pin: str
    opening_minor: int
    agent_number: str | None = None  # a store's short number (WITHDRAW at it)

    @property
    def is_agent(self) -> bool:
        return self.agent_number is not None


@dataclass
class People:
    customers: list[Person]
    agents: list[Person] = field(default_factory=list)

    @property
    def everyone(self) -> list[Person]:
        return [*self.customers, *self.agents]

    def opening(self) -> dict[str, int]:
        return {person.msisdn: person.opening_minor for person in self.everyone}

    def with_agent_numbers(self, numbers: list[str]) -> People:
        agents = [
            Person(agent.msisdn, agent.pin, agent.opening_minor, number)
            for agent, number in zip(self.agents, numbers, strict=True)
        ]
        return People(self.customers, agents)


def make_people(customers: int, agents: int) -> People:
    return People(
        [
            Person(str(FIRST_CUSTOMER + i), PIN, POOR_MINOR if i % 5 == 4 else RICH_MINOR)
            for i in range(customers)
        ],
        [Person(str(FIRST_AGENT + i), AGENT_PIN, FLOAT_MINOR) for i in range(agents)],
    )


def tariff_text() -> str:
    return resources.files(__package__).joinpath(TARIFF_FILE).read_text(encoding="utf-8")


def daemon_settings(work: Path, smsc_port: int, airtime_url: str, status_port: int) -> dict:
    """The daemon's config: short timers, one bind that also carries USSD, the chaos tariff."""
    state_dir = work / "state"
    state_dir.mkdir(mode=0o700, exist_ok=True)
    (work / TARIFF_FILE).write_text(tariff_text(), encoding="utf-8")
    password_file = work / "airtime_password"
    password_file.write_text(AIRTIME_PASSWORD, encoding="utf-8")
    password_file.chmod(0o600)
    return {
        "service": {"state_dir": str(state_dir)},
        "logging": {"level": "warn"},
        "binds": [
            {
                "name": "sim",
                "host": "127.0.0.1",
                "port": smsc_port,
                "system_id": SYSTEM_ID,
                "password": PASSWORD,
                "serves": [SHORT_CODE],
                "ussd_dialect": "smpp34",
                "response_timeout_s": 1.0,
                "enquire_link_interval_s": 5.0,
                "reconnect_initial_delay_s": 0.1,
                "reconnect_max_delay_s": 0.5,
            },
        ],
        "inbox": {"group_commit_max_wait_ms": 5.0},
        "tranproc": {"poll_interval_s": 0.1},
        "sender": {
            "poll_interval_s": 0.1,
            "retry_delay_s": 0.2,
            "max_attempts": 50,
            "source_addr": SHORT_CODE,
        },
        "sweeper": {"interval_s": 0.2},
        "status": {"listen": f"127.0.0.1:{status_port}"},
        "api": {"listen": "127.0.0.1:0"},
        "money": {
            "tariff_file": str(work / TARIFF_FILE),
            "rollback_timeout_s": ROLLBACK_TIMEOUT_S,
            "settle_interval_s": 0.2,
            "post_on_delivery": ["SEND", "WITHDRAW"],
        },
        "airtime": {
            "enabled": True,
            "url": airtime_url,
            "password_file": str(password_file),
            "timeout_s": AIRTIME_TIMEOUT_S,
            "query_after_s": 0.5,
            "backoff": 1.5,
            "max_query_interval_s": 2.0,
            "max_queries": 10,
            "late_checks": 0,
            "poll_interval_s": 0.2,
        },
    }


def simulator_config(seed: int) -> Any:
    from simulators.config import AccountConfig, DlrConfig, SimulatorConfig

    return SimulatorConfig(
        listen="127.0.0.1:0",
        http="127.0.0.1:0",
        seed=seed,
        account=(AccountConfig(system_id=SYSTEM_ID, password=PASSWORD, ussd_dialect="smpp34"),),
        dlr=DlrConfig(delay_s=0.05),
        redelivery_interval_s=0.3,
        max_delivery_attempts=1_000_000,  # an MO is offered until some daemon takes it
        response_timeout_s=2.0,
    )


def seed_database(config: Any, people: People, now_ns: int | None = None) -> People:
    """The schema, the chart, the biller, customers and agent stores with their opening money,
    each opening balance an audited ISSUE or FLOAT move, as staff would make them. Returns the
    people with their stores' agent numbers."""
    from daemon.admin.env import AdminEnv
    from daemon.admin.stores import NewIdentity, add_agent_txn
    from daemon.chart import ensure_chart_txn
    from daemon.components import pin_hasher
    from daemon.migrate import upgrade_all
    from daemon.money.account_rules import parse_rule
    from daemon.money.billers import add_biller_txn
    from daemon.subscribers import create_subscriber_txn
    from ledger import make_engine

    now_ns = time.time_ns() if now_ns is None else now_ns
    currency = config.service.currency
    engine = make_engine(config.database_url)
    numbers: list[str] = []
    try:
        with engine.begin() as conn:
            upgrade_all(conn)
            ensure_chart_txn(conn, currency, now_ns)
            add_biller_txn(conn, BILLER, "Kenya Power", parse_rule(BILLER_RULE),
                           bills_only=False, currency=currency, actor=STAFF, now_ns=now_ns)  # fmt: skip
            hasher = pin_hasher(config)
            for person in people.customers:
                create_subscriber_txn(conn, person.msisdn, pin=person.pin, hasher=hasher,
                                      currency=currency, now_ns=now_ns, name="Chaos Customer")  # fmt: skip
                _issue_txn(conn, config, person, now_ns)
            env = AdminEnv(config, actor=STAFF)
            for agent in people.agents:
                identity = NewIdentity(agent.msisdn, "Chaos Store", agent.pin)
                store, _ = add_agent_txn(conn, env, identity, agent.opening_minor, now_ns)
                numbers.append(str(store.agent_number))
    finally:
        engine.dispose()
    return people.with_agent_numbers(numbers)


def _issue_txn(conn: Any, config: Any, person: Person, now_ns: int) -> None:
    from daemon.audit import record_txn
    from daemon.chart import wallet_account_id
    from daemon.money.issue import Issue, issue_txn
    from daemon.money.moves import MoveKind

    audit_id = record_txn(conn, STAFF, "issue", person.msisdn, "chaos opening balance", now_ns)
    issue = Issue(
        MoveKind.ISSUE, person.msisdn, wallet_account_id(person.msisdn), person.opening_minor,
        audit_id,
    )  # fmt: skip
    issue_txn(conn, issue, config.service.currency, now_ns)


def run_seed(seed: int | None) -> int:
    """The seed given, or a fresh one (printed with the result, so the run can be repeated)."""
    return random.randrange(1 << 31) if seed is None else seed
