"""Light commands start light: `smscore --help` imports no subcommand, `smscore status` none of the
daemon, `smscore sim send` neither the simulator's config (pydantic) nor the SMSC itself. Each is
run in a fresh interpreter, which then lists what it imported. And the root's help, made without
importing the commands, is the one click would make by importing them."""

import inspect
import json
import subprocess
import sys

import click
import pytest

from daemon.cli import SHORT_HELP, LazyGroup, main, module_exists

PROGRAM = """
import json, sys
from daemon.cli import main
try:
    main(sys.argv[1:], prog_name="smscore")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""
HEAVY = ("sqlalchemy", "alembic", "pydantic", "cryptography", "daemon.config", "ledger")


def imported(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, timeout=120
    )
    return set(json.loads(done.stderr.splitlines()[-1]))


def loaded(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(f"{r}.") for r in roots))


def test_the_root_help_imports_no_command() -> None:
    modules = imported("--help")
    assert loaded(modules, *HEAVY, "twisted", "simulators", "rich") == []
    assert loaded(modules, "daemon") == ["daemon", "daemon.cli"]


def test_status_imports_none_of_the_daemon() -> None:
    modules = imported("status", "--url", "http://127.0.0.1:1")
    assert loaded(modules, *HEAVY, "twisted", "simulators") == []


def test_sim_send_imports_neither_the_simulator_nor_its_config() -> None:
    modules = imported("sim", "send", "254711000001", "12345", "hi", "--api", "http://127.0.0.1:1")
    assert "simulators.targets" in modules  # it did run
    light = [root for root in HEAVY if root != "cryptography"]  # Twisted's HTTP client has TLS
    assert loaded(modules, *light, "simulators.config", "simulators.simulator") == []


@pytest.mark.parametrize("name", sorted(SHORT_HELP))
def test_each_short_help_is_the_commands_own(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    assert SHORT_HELP[name] == inspect.cleandoc(command.help or "").split("\n\n")[0]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_root_listing_is_what_click_makes_by_importing_every_command(width: int) -> None:
    def listing(format_commands) -> str:
        formatter = click.HelpFormatter(width=width)
        format_commands(main, click.Context(main), formatter)
        return formatter.getvalue()

    ours = listing(LazyGroup.format_commands)
    assert ours == listing(click.Group.format_commands)  # click's: each command imported for it
    assert "recon " in ours


def test_module_exists_imports_nothing() -> None:
    before = set(sys.modules)
    assert module_exists("simulators.cli") and module_exists("json")
    assert not module_exists("daemon.no_such_module") and not module_exists("no_such_package")
    assert not module_exists("daemon.cli.not_a_package")
    assert module_exists("daemon.recon.cli") and "daemon.recon" not in set(sys.modules) - before
