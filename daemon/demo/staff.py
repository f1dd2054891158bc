"""Staff at the terminal during the story: `smscore admin` command lines run as typed, in this
process, against the demo's state directory while the daemon runs on (as an operator's would, from
another shell); what each printed, or its one-line refusal."""

from __future__ import annotations

import io
import shlex
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import click

from daemon.demo.state import STAFF


@dataclass(frozen=True, slots=True)
class Typed:
    ok: bool
    output: str  # what the command printed, or its refusal


def run_admin(command_line: str, state_dir: Path) -> Typed:
    """`smscore admin <command_line>` with this demo's --state-dir and --actor."""
    from daemon.admin.cli import admin

    args = [*shlex.split(command_line), "--state-dir", str(state_dir), "--actor", STAFF]
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            admin.main(args, prog_name="smscore admin", standalone_mode=False)
    except click.ClickException as exc:
        return Typed(False, exc.format_message())
    return Typed(True, printed.getvalue().rstrip("\n"))
