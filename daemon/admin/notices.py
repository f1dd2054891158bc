"""`smscore admin notice TEXT`: a global notice, one event on every subscriber's channel (the app
shows it). Written in bounded batches, each its own transaction, so a large base never holds the
channels' rows for long; the audit log records who sent what (in the first batch's transaction).
Only with the event key the daemon made: a notice sealed under another key no device could read."""

from __future__ import annotations

import click
from sqlalchemy import Connection, select

from daemon.admin.env import AdminCliError, AdminEnv, admin_options, now_ns
from daemon.audit import record_txn
from daemon.channels.events import activate_channels, write_event_txn
from daemon.channels.keys import ChannelKeyError, event_key_path
from daemon.channels.notices import NoticeTopic
from daemon.schema_api import channels

NOTICE_MAX_CHARS = 500
NOTICE_ACTION = "notice.global"


def notice_batch_txn(
    conn: Connection, text: str, after_id: int, limit: int, now_ns: int
) -> tuple[int, int]:
    """The notice on the channels with ids above `after_id`, at most `limit` of them, in id order;
    (the last id done, how many). (after_id, 0): none left."""
    found = conn.execute(
        select(channels.c.id, channels.c.msisdn)
        .where(channels.c.id > after_id)
        .order_by(channels.c.id)
        .limit(limit)
    ).all()
    event = {"type": "notice", "topic": NoticeTopic.GLOBAL.value, "text": text}
    for _, msisdn in found:
        write_event_txn(conn, msisdn, event, now_ns)
    return (found[-1][0] if found else after_id), len(found)


@click.command("notice")
@click.argument("text")
@click.option("--batch", "batch_size", type=click.IntRange(1, 10_000), default=500,
              show_default=True, help="Channels per transaction.")  # fmt: skip
@admin_options()
def notice(text: str, batch_size: int, env: AdminEnv) -> None:
    """Send TEXT to every subscriber's app as a notice (their channel's next event)."""
    text = " ".join(text.split())
    if not text or len(text) > NOTICE_MAX_CHARS:
        raise AdminCliError(f"TEXT: 1 to {NOTICE_MAX_CHARS} characters, not {len(text)}")
    try:
        if not activate_channels(env.config, create=False):
            raise AdminCliError(
                f"{event_key_path(env.config)}: no channel event key (the daemon makes it at its "
                "first start; give its --config or --state-dir), or [channels] is disabled"
            )
    except ChannelKeyError as exc:
        raise AdminCliError(str(exc)) from None
    at_ns = now_ns()

    def first(conn: Connection) -> tuple[int, int]:
        record_txn(conn, env.actor, NOTICE_ACTION, "all", text, at_ns)
        return notice_batch_txn(conn, text, 0, batch_size, at_ns)

    last_id, count = env.run(first)
    total = count
    while count == batch_size:
        last_id, count = env.run(
            lambda conn, after=last_id: notice_batch_txn(conn, text, after, batch_size, at_ns)
        )
        total += count
    click.echo(f"notice sent to {total} channel(s)")
