"""`smscore admin notice TEXT`: a global notice, one event on every subscriber's channel (the app
shows it). Written in small batches, each its own transaction, so a large base never holds the
channels' rows for long; a batch that loses a deadlock to a posting is retried, and a run that
stops says which channel id to resume after (`--after`), so nothing is sent twice. The audit log
records who sent what (before the first batch).
Only with the event key the daemon made: a notice sealed under another key no device could read."""

from __future__ import annotations

import click
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from daemon.admin.env import AdminCliError, AdminEnv, admin_options, now_ns
from daemon.audit import record_txn
from daemon.channels.events import activate_channels, write_event_txn
from daemon.channels.keys import ChannelKeyError, event_key_path
from daemon.channels.notices import NoticeTopic
from daemon.db import is_transient
from daemon.schema_api import channels

NOTICE_MAX_CHARS = 500
NOTICE_ACTION = "notice.global"
BATCH_TRIES = 5


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
@click.option("--batch", "batch_size", type=click.IntRange(1, 10_000), default=50,
              show_default=True, help="Channels per transaction.")  # fmt: skip
@click.option("--after", "after_id", type=click.IntRange(0), default=0,
              help="Resume: only the channels with ids above this (a stopped run prints it).")  # fmt: skip
@admin_options()
def notice(text: str, batch_size: int, after_id: int, env: AdminEnv) -> None:
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
    env.run(lambda conn: record_txn(conn, env.actor, NOTICE_ACTION, "all", text, at_ns))
    last_id, total, count = after_id, 0, batch_size
    while count == batch_size:
        try:
            last_id, count = _batch(env, text, last_id, batch_size, at_ns)
        except AdminCliError as exc:
            raise AdminCliError(
                f"{exc}; stopped after {total} channel(s): run again with --after {last_id}"
            ) from None
        total += count
    click.echo(f"notice sent to {total} channel(s)")


class _Lost(Exception):
    """A batch that lost a deadlock or a lock wait (rolled back: nothing of it was sent)."""


def _batch(env: AdminEnv, text: str, after_id: int, limit: int, at_ns: int) -> tuple[int, int]:
    """One batch in its own transaction; retried when it lost to a posting's locks (a move locks
    the payer's then the payee's channel row; a batch locks them in id order: they can deadlock)."""

    def work(conn: Connection) -> tuple[int, int]:
        try:
            return notice_batch_txn(conn, text, after_id, limit, at_ns)
        except DBAPIError as exc:
            if is_transient(exc):
                raise _Lost() from exc
            raise

    for _ in range(BATCH_TRIES - 1):
        try:
            return env.run(work)
        except _Lost:
            continue
    try:
        return env.run(work)
    except _Lost:
        raise AdminCliError(f"a batch lost to postings {BATCH_TRIES} times") from None
