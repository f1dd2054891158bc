"""`smscore menu check FILE` and `smscore menu show`: a USSD menu file checked as the daemon checks
it (exit 0 and a summary; exit 2 and the one-line error), and a menu's screens as a tree: the
configured file's (or the shipped one), another FILE, or a version the daemon stored."""

from __future__ import annotations

from pathlib import Path

import click

from daemon.admin.env import AdminCliError, AdminEnv, admin_options
from daemon.admin.views import console
from daemon.commands.types import ParseEnv
from daemon.money.notices import numbering
from daemon.run_cli import config_from_options, config_option
from daemon.ussd.menu import Menu, MenuError
from daemon.ussd.menu_file import load_menu_file, menu_path
from daemon.ussd.menu_store import menu_of_version_txn, stored_versions_txn
from daemon.ussd.menu_tree import menu_paths, menu_tree
from daemon.ussd.render import NETWORK_MAX_SEPTETS


class MenuCliError(click.ClickException):
    exit_code = 2


@click.group("menu")
def menu() -> None:
    """USSD menus (daemon/ussd): check a menu file, show a menu's screens."""


def _load(path: Path, screen_max_chars: int, region: str) -> Menu:
    from daemon.money.commands import service_registry

    try:
        return load_menu_file(
            path, service_registry(), screen_max_chars, ParseEnv(numbering(region))
        )
    except MenuError as exc:
        raise MenuCliError(str(exc)) from None


@menu.command("check")
@click.argument("path", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False))
@config_option
def check(path: Path, config_path: Path | None) -> None:
    """Check FILE as the daemon would load it (screen size and region from --config)."""
    screen_max_chars, region = NETWORK_MAX_SEPTETS, "KE"
    if config_path is not None:
        try:
            config = config_from_options(config_path)
        except Exception as exc:  # ConfigError: one line
            raise MenuCliError(str(exc)) from None
        screen_max_chars, region = config.ussd.screen_max_chars, config.service.region
    loaded = _load(path, screen_max_chars, region)
    paths = menu_paths(loaded)
    click.echo(
        f"menu OK: {path}: version {loaded.version}, codes {', '.join(loaded.codes)}, "
        f"{len(loaded.doc.screens)} screens, languages {', '.join(loaded.languages)}, "
        f"{len(paths)} paths"
    )
    for found in paths:
        click.echo(f"  {found.shown()}")


@menu.command("show")
@click.argument(
    "path", metavar="[FILE]", required=False, type=click.Path(path_type=Path, dir_okay=False)
)
@click.option("--version", "version", default=None, help="A version the daemon stored.")
@click.option("--language", default=None, help="The labels' language (default: the menu's).")
@admin_options(audited=False)
def show(env: AdminEnv, path: Path | None, version: str | None, language: str | None) -> None:
    """Print a menu's screens as a tree: FILE, a stored --version, or the configured menu."""
    if version is not None:
        if path is not None:
            raise AdminCliError("give FILE or --version, not both")
        found = env.run(lambda conn: menu_of_version_txn(conn, version), write=False)
        if found is None:
            known = env.run(stored_versions_txn, write=False)
            names = ", ".join(v for v, _ in known) or "none"
            raise AdminCliError(f"--version {version}: not stored (stored: {names})")
        shown = found
    else:
        config = env.config
        chosen = path or menu_path(config.ussd.menu_file)
        shown = _load(chosen, config.ussd.screen_max_chars, config.service.region)
    if language is not None and language not in shown.languages:
        raise AdminCliError(f"--language {language}: the menu has {', '.join(shown.languages)}")
    console().print(menu_tree(shown, language))
