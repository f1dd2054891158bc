"""`smscore device menu`: the reference app downloads the menu of services (MENU, encrypted;
daemon.ussd.download), checks its Ed25519 signature with the receipt key it names (asked for with
RKEY when the device does not know it yet) and prints the services, or the whole menu as a tree.
A menu whose signature does not verify is refused (exit 2) and nothing of it is shown."""

from __future__ import annotations

from pathlib import Path

import click

from daemon.admin.views import console
from daemon.device.client import LinkError, SimulatorLink
from daemon.device.options import API_OPTION, FILE_OPTION, TO_OPTION
from daemon.device.receipts import key_from_reply
from daemon.device.state import DeviceFileError, DeviceState, NotEnrolled, load, save
from daemon.security.channel import ChannelError, Kind, Opened
from daemon.ussd.download import TOKEN, MenuTokenError, read_menu_token
from daemon.ussd.menu import Menu
from daemon.ussd.menu_tree import menu_tree, services


def _fail(message: str) -> click.ClickException:
    error = click.ClickException(message)
    error.exit_code = 2
    return error


def _exchange(state: DeviceState, link: SimulatorLink, path: Path, command: str) -> Opened:
    text = state.command_text(command)
    save(state, path)  # the counter is used once sent, whatever happens next
    opened = state.open_reply(link.exchange(state.msisdn, text))
    save(state, path)
    return opened


def download_menu(
    state: DeviceState, link: SimulatorLink, path: Path, have: str | None = None
) -> tuple[Menu, str] | str:
    """(the verified menu, its signing serial), or the server's answer when it sends none (up to
    date, unavailable). MenuTokenError if the menu sent does not verify."""
    opened = _exchange(state, link, path, f"MENU {have}" if have else "MENU")
    if opened.kind is Kind.ERROR:
        return f"the server refused the message: {opened.body.decode()}"
    if TOKEN not in opened.text:
        return opened.text

    def public_key(serial: str) -> bytes | None:
        if serial not in state.receipt_keys:
            reply = _exchange(state, link, path, f"RKEY {serial}")
            found = key_from_reply(reply.text) if reply.kind is Kind.TEXT else None
            if found is not None and found[0] == serial:
                state.receipt_keys[serial] = found[1]
                save(state, path)
        return state.receipt_keys.get(serial)

    return read_menu_token(opened.text, public_key)


@click.command("menu")
@FILE_OPTION
@API_OPTION
@TO_OPTION
@click.option("--have", default=None, help="The version the app has: sent only if newer.")
@click.option("--language", default=None, help="The labels' language (default: the menu's).")
@click.option("--tree", "as_tree", is_flag=True, help="Print every screen, not just the services.")
def device_menu(
    path: Path, api: str, short_code: str, have: str | None, language: str | None, as_tree: bool
) -> None:
    """Download the menu (MENU, encrypted), verify its signature, print its services."""
    try:
        state = load(path)
        found = download_menu(state, SimulatorLink(api, short_code), path, have)
    except (DeviceFileError, LinkError, NotEnrolled) as exc:
        raise _fail(str(exc)) from None
    except ChannelError as exc:
        raise _fail(f"the reply did not verify ({type(exc).__name__})") from None
    except MenuTokenError as exc:
        raise _fail(f"menu refused: {exc}") from None
    if isinstance(found, str):
        click.echo(found)
        return
    menu, serial = found
    click.echo(f"menu {menu.version} ({', '.join(menu.codes)}): signature OK ({serial})")
    if as_tree:
        console().print(menu_tree(menu, language))
        return
    for number, service in enumerate(services(menu, language), start=1):
        click.echo(f"{number}. {service}")
