"""`smscore status`: a running daemon's status endpoint as a table (or its JSON). An HTTP GET and
rich: it imports none of the daemon, so it answers at once."""

import json
import sys
import urllib.error
import urllib.request

import click

from daemon import exit_codes


@click.command()
@click.option(
    "--url",
    default="http://127.0.0.1:8780",
    show_default=True,
    help="The daemon's status endpoint.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
def status(url: str, as_json: bool) -> None:
    """Show binds, queue depths, rates and the last errors of a running daemon."""
    from rich.console import Console

    from daemon.status_table import print_status

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=5) as response:
            data = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        click.echo(
            f"smscore: cannot read status from {url}: {getattr(exc, 'reason', exc)} "
            "(is the daemon running?)",
            err=True,
        )
        sys.exit(exit_codes.FAILURE)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        print_status(data, Console())
