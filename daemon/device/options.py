"""The options every `smscore device` command shares: its file, the simulator, the short code."""

from pathlib import Path

import click

from daemon.device.client import DEFAULT_API

FILE_OPTION = click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("var/device.json"),
    show_default=True,
    help="The device's keys and counters (JSON, mode 0600).",
)
API_OPTION = click.option("--api", default=DEFAULT_API, show_default=True, help="The simulator.")
TO_OPTION = click.option("--to", "short_code", default="12345", show_default=True)
