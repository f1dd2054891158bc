"""`smscore device …`: the reference app. `init` makes the keys, `enrol` enrols through the
simulator, `send` sends a command encrypted and prints the decrypted reply, with the check of a
confirmation's signed receipt (daemon.device.receipts); `keys` fetches the signing receipt key;
`offline-send` signs a transfer with no network and queues it, `flush` delivers the queue
(daemon.device.offline)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from daemon.commands.money import MoneyError, parse_money_minor
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.device.client import DEFAULT_API, LinkError, SimulatorLink
from daemon.device.menu import device_menu
from daemon.device.offline import (
    DEFAULT_VALID_FOR_S,
    delivery_text,
    outcome_of,
    queue_transfer,
    queued,
    settle,
)
from daemon.device.receipts import check_receipt, key_from_reply
from daemon.device.state import DeviceFileError, DeviceState, NotEnrolled, load, save
from daemon.security.app_receipt import ReceiptFrameError, split_body
from daemon.security.channel import ChannelError, Kind, Opened

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


def _fail(exc: Exception) -> click.ClickException:
    error = click.ClickException(str(exc))
    error.exit_code = 2
    return error


@click.group()
def device() -> None:
    """The reference phone app for the encrypted app channel (keys in --file)."""


device.add_command(device_menu)  # `menu`: the signed menu download (daemon.device.menu)


@device.command("init")
@FILE_OPTION
@click.option("--phone", required=True, help="The number the device sends from (any usual form).")
@click.option("--region", default="KE", show_default=True, help="How --phone is read (ISO 3166).")
@click.option("--force", is_flag=True, help="Replace an existing device file (new keys).")
def device_init(path: Path, phone: str, region: str, force: bool) -> None:
    """Make new keys for a device on --phone."""
    if path.exists() and not force:
        raise _fail(Exception(f"{path}: exists (give --force to make new keys)"))
    try:  # as the SMSC gives it: international digits, so replies to it are found
        msisdn = normalize_msisdn(phone, Numbering(region))
    except (MsisdnError, ValueError) as exc:
        raise _fail(
            Exception(f"--phone {phone!r}: not a phone number of {region} ({exc})")
        ) from None
    save(DeviceState.new(msisdn), path)
    click.echo(f"device keys made in {path}")


@device.command("enrol")
@FILE_OPTION
@API_OPTION
@TO_OPTION
@click.option("--pin", required=True, help="The subscriber's PIN (sent once, to confirm).")
@click.option("--code", default=None, help="The code an SMS gave, for a further device.")
def device_enrol(path: Path, api: str, short_code: str, pin: str, code: str | None) -> None:
    """Enrol the device (ENROL <keys> <PIN> [code]) and keep the server's key and device id."""
    try:
        state = load(path)
        reply = SimulatorLink(api, short_code).exchange(state.msisdn, state.enrol_text(pin, code))
    except (DeviceFileError, LinkError) as exc:
        raise _fail(exc) from None
    if state.accept_enrolment(reply):
        save(state, path)
        click.echo(f"enrolled as device {state.device_id}")
        click.echo(_learn_key(state, SimulatorLink(api, short_code), path))
    else:
        click.echo(reply)  # a code was sent, the PIN was wrong, ...


@device.command("send")
@FILE_OPTION
@API_OPTION
@TO_OPTION
@click.argument("command")
def device_send(path: Path, api: str, short_code: str, command: str) -> None:
    """Send COMMAND encrypted; print the reply, decrypted and checked."""
    link = SimulatorLink(api, short_code)
    try:
        state = load(path)
        opened = _exchange(state, link, path, command)
        if opened.kind is Kind.ERROR:
            raise _fail(Exception(f"the server refused the message: {opened.body.decode()}"))
        click.echo(_checked(state, link, path, opened))
    except (DeviceFileError, LinkError, NotEnrolled) as exc:
        raise _fail(exc) from None
    except ChannelError as exc:
        raise _fail(Exception(f"the reply did not verify ({type(exc).__name__})")) from None


@device.command("keys")
@FILE_OPTION
@API_OPTION
@TO_OPTION
def device_keys(path: Path, api: str, short_code: str) -> None:
    """Fetch the server's signing receipt key (RKEY, encrypted); `enrol` does it too."""
    try:
        state = load(path)
        click.echo(_learn_key(state, SimulatorLink(api, short_code), path))
    except (DeviceFileError, LinkError, NotEnrolled, ChannelError) as exc:
        raise _fail(exc) from None


def _exchange(state: DeviceState, link: SimulatorLink, path: Path, command: str) -> Opened:
    """Send `command` encrypted; the reply, opened (ChannelError if it does not verify)."""
    text = state.command_text(command)
    save(state, path)  # the counter is used once sent, whatever happens next
    opened = state.open_reply(link.exchange(state.msisdn, text))
    save(state, path)
    return opened


def _ask_key(state: DeviceState, link: SimulatorLink, path: Path, serial: str = "") -> bytes | None:
    """The public half of receipt key `serial` (the signing one if ""), asked over the channel
    and kept; None if the server gives none."""
    opened = _exchange(state, link, path, f"RKEY {serial}".strip())
    found = key_from_reply(opened.text) if opened.kind is Kind.TEXT else None
    if found is None or (serial and found[0] != serial):
        return None
    state.receipt_keys[found[0]] = found[1]
    save(state, path)
    return found[1]


def _learn_key(state: DeviceState, link: SimulatorLink, path: Path) -> str:
    if _ask_key(state, link, path) is None:
        return "no receipt key given: confirmations will be checked when one is"
    return f"receipt keys known: {', '.join(sorted(state.receipt_keys))}"


def _checked(state: DeviceState, link: SimulatorLink, path: Path, opened: Opened) -> str:
    """The reply's text, and for a confirmation "signature OK (K1)"; a confirmation whose
    signature does not check is refused (exit 2), not shown."""
    try:
        text, receipt = split_body(opened.body)
    except (ReceiptFrameError, UnicodeDecodeError):
        raise _fail(Exception("confirmation refused: signature INVALID (malformed)")) from None
    if receipt is None:
        return text
    check = check_receipt(
        state.receipt_keys, receipt, lambda serial: _ask_key(state, link, path, serial)
    )
    if not check.genuine:
        raise _fail(Exception(f"confirmation refused: {check.shown}"))
    return f"{text}\n{check.shown}"


@device.command("offline-send")
@FILE_OPTION
@click.argument("phone")
@click.argument("amount")
@click.option("--currency", default="KES", show_default=True, help="The service's currency.")
@click.option(
    "--valid-for-s", default=DEFAULT_VALID_FOR_S, show_default=True, type=click.IntRange(1),
    help="How long the transfer may still post (the server caps it).",
)  # fmt: skip
def device_offline_send(
    path: Path, phone: str, amount: str, currency: str, valid_for_s: int
) -> None:
    """Sign a transfer of AMOUNT to PHONE with no network; `flush` delivers it later."""
    try:
        payee = normalize_msisdn("+" + phone.lstrip("+"), Numbering("KE"))
        amount_minor = parse_money_minor(amount)
        state = load(path)
        signed = queue_transfer(state, payee, amount_minor, currency, time.time_ns(), valid_for_s)
    except (DeviceFileError, NotEnrolled, MsisdnError, MoneyError, ValueError) as exc:
        raise _fail(exc) from None
    save(state, path)
    click.echo(f"offline transfer {signed.transfer.counter} signed and queued")


@device.command("flush")
@FILE_OPTION
@API_OPTION
@TO_OPTION
@click.option("--again", is_flag=True, help="Deliver settled transfers again too (harmless).")
def device_flush(path: Path, api: str, short_code: str, again: bool) -> None:
    """Deliver the queued offline transfers; print the server's answer to each."""
    try:
        state = load(path)
        link = SimulatorLink(api, short_code)
        for signed in queued(state, again):
            text = delivery_text(state, signed)
            save(state, path)  # the channel counter is used once sent
            click.echo(_deliver(state, link, text))
            save(state, path)
    except (DeviceFileError, LinkError, NotEnrolled) as exc:
        raise _fail(exc) from None


def _deliver(state: DeviceState, link: SimulatorLink, text: str) -> str:
    reply = link.exchange(state.msisdn, text)
    try:
        opened = state.open_reply(reply)
    except ChannelError:
        return f"not delivered (plain answer): {reply}"
    if opened.kind is Kind.ERROR:
        return f"not delivered: the server refused the message: {opened.body.decode()}"
    answer = outcome_of(opened.text)
    if answer is not None:
        settle(state, answer)
    return opened.text
