"""`smscore admin device …`: the app-channel devices of a number (`list`) and `revoke` (audited as
device.revoke; a revoked device's messages are refused with a plain SMS saying so). The subscriber
gets an SMS naming the device and the time, in case it was not them (through the outbox, like the
review queue's decisions)."""

from __future__ import annotations

import click
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection

from daemon.admin.env import AdminCliError, AdminEnv, admin_options, now_ns
from daemon.admin.views import console, local_time
from daemon.money.notices import Notifier
from daemon.outbox import queue_sms_txn
from daemon.security.devices import Device, DeviceError, list_devices_txn, revoke_device_txn


@click.group()
def device() -> None:
    """Devices enrolled for the encrypted app channel (ENROL from the phone's app)."""


@device.command("list")
@click.argument("msisdn")
@admin_options(audited=False)
def device_list(msisdn: str, env: AdminEnv) -> None:
    """The devices of MSISDN: id, state, when enrolled or revoked, counters."""
    number = env.msisdn(msisdn)
    found = env.run(lambda conn: list_devices_txn(conn, number), write=False)
    if not found:
        click.echo(f"no devices for {number}")
        return
    table = Table(box=box.SIMPLE, title=f"devices of {number}")
    for heading in ("device", "state", "enrolled", "revoked", "last in", "last out"):
        table.add_column(heading)
    for entry in found:
        cells = (
            entry.device_id,
            entry.state,
            local_time(entry.enrolled_at_ns, env.config.money.timezone)
            if entry.enrolled_at_ns
            else "-",
            local_time(entry.revoked_at_ns, env.config.money.timezone)
            if entry.revoked_at_ns
            else "-",
            str(entry.counter_in),
            str(entry.counter_out),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console().print(table)


@device.command("revoke")
@click.argument("device_id", metavar="DEVICE_ID")
@admin_options()
def device_revoke(device_id: str, env: AdminEnv) -> None:
    """Revoke DEVICE_ID (recorded in the audit log): its messages are refused from now on, and
    the subscriber is told by SMS."""
    wanted = device_id.strip().lower()
    at_ns = now_ns()

    def work(conn: Connection) -> Device:
        revoked = revoke_device_txn(conn, wanted, env.actor, at_ns)
        notifier = Notifier(conn, env.config, env.config.sender.source_addr, at_ns)
        notice = notifier.sms(
            revoked.msisdn, "device_revoked_notice", device=revoked.device_id, when=notifier.when()
        )
        queue_sms_txn(conn, [notice], at_ns)
        return revoked

    try:
        revoked = env.run(work)
    except DeviceError as exc:
        raise AdminCliError(str(exc)) from None
    click.echo(
        f"device {revoked.device_id} of {revoked.msisdn} revoked; the subscriber is told by SMS"
    )
