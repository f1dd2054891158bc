"""What the mix needs beside the customers (e2e.seed_database seeds those in bulk): agent stores with
e-float, the biller KPLC, and the airtime provider's password file. Written before the daemon starts,
straight into its database (the agents as `smscore subscriber add` makes them; the biller through
`smscore admin biller add`, in process)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks import traffic

AGENT_FLOAT_MINOR = 10_000_000 * 100  # KES 10 million each: far above a run's deposits
AIRTIME_PASSWORD = "bench-airtime-secret"


def seed_agents(config_path: Path, count: int = traffic.AGENTS) -> None:
    from daemon.chart import deposit_txn, new_transfer_id
    from daemon.commands import Role
    from daemon.components import pin_hasher
    from daemon.config import load_config
    from daemon.service import open_database
    from daemon.subscribers import create_subscriber_txn

    config = load_config(config_path)
    database = open_database(config, reactor=None)
    hasher, currency, now_ns = pin_hasher(config), config.service.currency, time.time_ns()

    def agents_txn(conn: Any) -> None:
        for index in range(count):
            created = create_subscriber_txn(
                conn, traffic.agent(index), hasher=hasher, currency=currency, now_ns=now_ns,
                role=Role.AGENT, name=f"Bench Store {index}", pin=traffic.AGENT_PIN,
                agent_number=traffic.agent_number(index),
            )  # fmt: skip
            deposit_txn(conn, created.account_id, AGENT_FLOAT_MINOR, currency, now_ns,
                        transfer_id=new_transfer_id(), user_data="bench agent float")  # fmt: skip

    database.run_sync("bench.agents", agents_txn)
    database.engine.dispose()


def seed_biller(config_path: Path) -> None:
    from click.testing import CliRunner

    from daemon.admin.cli import admin

    command = ["biller", "add", traffic.BILLER, "--name", "Kenya Power", "--account-rule",
               traffic.BILLER_RULE, "--config", str(config_path), "--actor", "bench"]  # fmt: skip
    result = CliRunner().invoke(admin, command)
    if result.exit_code != 0:
        raise RuntimeError(f"adding the biller failed: {result.output.strip()}")


def airtime_config(work: Path, provider_url: str) -> str:
    """The daemon's [airtime] section: the simulator's provider, answers at once."""
    secret = work / "airtime_password"
    secret.write_text(AIRTIME_PASSWORD + "\n")
    return (
        f'\n[airtime]\nenabled = true\nurl = "{provider_url}"\npassword_file = "{secret}"\n'
        "timeout_s = 5.0\nquery_after_s = 1.0\npoll_interval_s = 0.1\n"
    )
