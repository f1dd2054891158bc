"""`smscore device …`: the reference app. `init` makes the keys, `enrol` enrols through the
simulator, `send` sends a command encrypted and prints the decrypted reply, with the check of a
confirmation's signed receipt (daemon.device.answers, daemon.device.receipts); `keys` fetches the
signing receipt key and the revoked serials; `receipts` checks the kept receipts again;
`offline-send` signs a transfer with no network and queues it, `flush` delivers the queue
(daemon.device.offline) and checks each answer as `send` does; `sync` and `inbox` keep the copy of
the subscriber's event channel (daemon.device.sync)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import click

from daemon.commands.money import MoneyError, format_money, parse_money_minor
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.device.answers import EXIT_HELP, Answer, Exit, as_repeat, read_answer
from daemon.device.client import LinkError, SimulatorLink
from daemon.device.menu import device_menu
from daemon.device.offline import (
    DEFAULT_VALID_FOR_S,
    PENDING,
    delivery_text,
    outcome_of,
    queue_transfer,
    queued,
    settle,
)
from daemon.device.options import API_OPTION, FILE_OPTION, TO_OPTION
from daemon.device.receipts import Status, check_receipt, kept, learn_keys
from daemon.device.state import DeviceFileError, DeviceState, NotEnrolled, load, save
from daemon.device.sync import device_inbox, device_sync, reply_filter
from daemon.security import channel
from daemon.security.app_receipt import SignedReceipt
from daemon.security.channel import ChannelError, Kind, Opened


def _fail(exc: Exception) -> click.ClickException:
    error = click.ClickException(str(exc))
    error.exit_code = 2
    return error


@click.group()
def device() -> None:
    """The reference phone app for the encrypted app channel (keys in --file)."""


device.add_command(device_menu)  # `menu`: the signed menu download (daemon.device.menu)
device.add_command(device_sync)  # `sync`: the event channel (daemon.device.sync)
device.add_command(device_inbox)  # `inbox`: a push over SMS telling this device to pull


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
    """Enrol the device (ENROL <keys> <PIN> [code]) and keep the server's key and device id.
    Exit 0 once enrolled; 5 if the server enrolled nothing (a wrong PIN, or a code sent by SMS
    for a further device: enrol again with --code); 2 for a bad file or link."""
    try:
        state = load(path)
        reply = SimulatorLink(api, short_code).exchange(state.msisdn, state.enrol_text(pin, code))
    except (DeviceFileError, LinkError) as exc:
        raise _fail(exc) from None
    if state.accept_enrolment(reply):
        save(state, path)
        click.echo(f"enrolled as device {state.device_id}")
        click.echo(_learn_key(state, SimulatorLink(api, short_code), path))
    else:  # a code was sent, the PIN was wrong, ...: nothing enrolled yet
        click.echo(reply)
        click.echo("not enrolled: this device is not enrolled (yet); see the reply above")
        raise SystemExit(Exit.NOT_ENROLLED)


@device.command("send", epilog=EXIT_HELP)
@FILE_OPTION
@API_OPTION
@TO_OPTION
@click.argument("command")
def device_send(path: Path, api: str, short_code: str, command: str) -> None:
    """Send COMMAND encrypted; print the reply, decrypted, and a confirmation's receipt check."""
    link = SimulatorLink(api, short_code)
    try:
        state = load(path)
        reply = _send(state, link, path, state.command_text(command))
        answer = read_answer(state, reply, _fetcher(state, link, path))
        save(state, path)  # the receipt kept, keys learnt
    except (DeviceFileError, LinkError, NotEnrolled) as exc:
        raise _fail(exc) from None
    except ChannelError as exc:
        raise _fail(Exception(f"the reply did not verify ({type(exc).__name__})")) from None
    click.echo("\n".join(answer.lines))
    if answer.code is not Exit.OK:
        raise SystemExit(answer.code)


@device.command("keys")
@FILE_OPTION
@API_OPTION
@TO_OPTION
def device_keys(path: Path, api: str, short_code: str) -> None:
    """Fetch the server's signing receipt key and the revoked ones (RKEY); `enrol` does it too."""
    try:
        state = load(path)
        click.echo(_learn_key(state, SimulatorLink(api, short_code), path))
    except (DeviceFileError, LinkError, NotEnrolled, ChannelError) as exc:
        raise _fail(exc) from None


@device.command("receipts", epilog=EXIT_HELP)
@FILE_OPTION
@API_OPTION
@TO_OPTION
@click.option("--refresh", is_flag=True, help="Ask the server for revocations first (RKEY).")
def device_receipts(path: Path, api: str, short_code: str, refresh: bool) -> None:
    """The receipts this device kept, each checked again with the keys it knows now."""
    try:
        state = load(path)
        if refresh:
            click.echo(_learn_key(state, SimulatorLink(api, short_code), path))
        found = kept(state)
    except (DeviceFileError, LinkError, NotEnrolled, ChannelError) as exc:
        raise _fail(exc) from None
    worst = Exit.OK
    for receipt in found:
        check = check_receipt(state, receipt, lambda serial: None)  # offline: known keys only
        click.echo(f"{_receipt_line(receipt)}: {check.shown}")
        if check.status is Status.UNCHECKED:
            worst = max(worst, Exit.RECEIPT_UNCHECKED)
        elif not check.genuine:
            worst = max(worst, Exit.RECEIPT_NOT_GENUINE)
    if not found:
        click.echo("no receipts kept")
    if worst is not Exit.OK:
        raise SystemExit(worst)


def _receipt_line(receipt: SignedReceipt) -> str:
    fields = receipt.fields
    at = datetime.fromtimestamp(fields.minute * 60, UTC).strftime("%Y-%m-%d %H:%M UTC")
    amount = format_money(fields.amount_minor, fields.currency)
    return f"{fields.ref} {amount} {fields.payer or '-'} -> {fields.payee or '-'} at {at}"


def _send(state: DeviceState, link: SimulatorLink, path: Path, text: str) -> str:
    """Send an app message; the SMS that answers it, as received."""
    save(state, path)  # the counter is used once sent, whatever happens next
    return link.exchange(state.msisdn, text, reply_filter(state))


def _exchange(state: DeviceState, link: SimulatorLink, path: Path, command: str) -> Opened | None:
    """Send `command` encrypted; the reply, opened (None if it came in plain text; ChannelError
    if it does not verify)."""
    reply = _send(state, link, path, state.command_text(command))
    if not channel.is_text_frame(reply):
        return None
    opened = state.open_reply(reply)
    save(state, path)
    return opened


def _ask_key(state: DeviceState, link: SimulatorLink, path: Path, serial: str = "") -> str | None:
    """Ask for receipt key `serial` (the signing one if ""); keep the key and the revocations
    the answer gives. The serial of the key given, or None."""
    opened = _exchange(state, link, path, f"RKEY {serial}".strip())
    if opened is None or opened.kind is not Kind.TEXT:
        return None
    learnt = learn_keys(state, opened.text)
    save(state, path)
    return learnt


def _fetcher(state: DeviceState, link: SimulatorLink, path: Path):
    return lambda serial: _ask_key(state, link, path, serial)


def _learn_key(state: DeviceState, link: SimulatorLink, path: Path) -> str:
    _ask_key(state, link, path)
    known = ", ".join(sorted(state.receipt_keys, key=_serial_order)) or "none"
    lines = [f"receipt keys known: {known}"]
    if not state.receipt_keys:
        lines = ["no receipt key given: confirmations will be checked when one is"]
    if state.revoked_keys:
        revoked = ", ".join(sorted(state.revoked_keys, key=_serial_order))
        lines.append(f"revoked (their receipts are not genuine): {revoked}")
    return "\n".join(lines)


def _serial_order(serial: str) -> int:
    return int(serial[1:]) if serial[1:].isdigit() else 0


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


@device.command("flush", epilog=EXIT_HELP)
@FILE_OPTION
@API_OPTION
@TO_OPTION
@click.option("--again", is_flag=True, help="Deliver settled transfers again too (harmless).")
def device_flush(path: Path, api: str, short_code: str, again: bool) -> None:
    """Deliver the queued offline transfers; print the server's answer to each, and check a
    posted transfer's receipt as `send` does."""
    worst = Exit.OK
    try:
        state = load(path)
        link = SimulatorLink(api, short_code)
        settled = {entry["counter"] for entry in state.offline_queue if entry["outcome"] != PENDING}
        for signed in queued(state, again):
            answer = _deliver(state, link, path, delivery_text(state, signed))
            if signed.transfer.counter in settled:
                answer = as_repeat(answer)
            click.echo("\n".join(answer.lines))
            worst = max(worst, answer.code)
            if answer.code is Exit.NOT_ENROLLED:
                break  # the next ones would get the same answer
    except (DeviceFileError, LinkError, NotEnrolled) as exc:
        raise _fail(exc) from None
    if worst is not Exit.OK:
        raise SystemExit(worst)


def _deliver(state: DeviceState, link: SimulatorLink, path: Path, text: str) -> Answer:
    reply = _send(state, link, path, text)
    try:
        answer = read_answer(state, reply, _fetcher(state, link, path))
    except ChannelError as exc:
        answer = Answer([f"the reply did not verify ({type(exc).__name__})"], Exit.FAILED)
    if answer.text is None:
        answer = Answer([f"not delivered: {answer.lines[0]}", *answer.lines[1:]], answer.code)
    else:
        outcome = outcome_of(answer.text)
        if outcome is not None:
            settle(state, outcome)
    save(state, path)
    return answer
