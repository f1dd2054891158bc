"""`smscore admin callbacks list|show|retry`: the business API's callbacks (durable rows in
api_callbacks, delivered by daemon.api.callbacks); and `smscore admin business secret CODE
[--rotate]`, each business's signing secret (defined here, attached to daemon.admin.businesses'
group). Changes (a retry, a rotation) and every showing of a secret are audited; a refusal is one
line and exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import click
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection

from daemon.admin.env import (
    AdminCliError,
    AdminEnv,
    admin_options,
    now_ns,
    one_line_refusals,
    run_txn,
)
from daemon.admin.views import console, local_time
from daemon.api.businesses import BusinessError, normal_code
from daemon.api.callback_keys import (
    CallbackKeyError,
    master_key,
    rotate_txn,
    secret_version_txn,
)
from daemon.api.callback_queue import CallbackState
from daemon.api.callback_rows import (
    Callback,
    CallbackError,
    counts_txn,
    get_txn,
    list_txn,
    retry_failed_txn,
    retry_txn,
)
from daemon.audit import record_txn

T = TypeVar("T")
_COLUMNS = ("id", "business", "state", "attempts", "next try", "last", "url", "created")
_URL_SHOWN_CHARS = 60


def _run(env: AdminEnv, work: Callable[[Connection], T], write: bool = True) -> T:
    refusals = (CallbackError, CallbackKeyError)
    return run_txn(env.config, one_line_refusals(work, refusals), write)


def _code(written: str | None) -> str | None:
    try:
        return normal_code(written) if written is not None else None
    except BusinessError as exc:
        raise AdminCliError(str(exc)) from None


@click.group()
def callbacks() -> None:
    """Callbacks to businesses (PUT to their X-Callback-URL, signed with the secret `smscore
    admin business secret CODE` shows): what was sent, what failed, retries."""


@callbacks.command("list")
@click.option("--state", type=click.Choice([s.value for s in CallbackState]), help="Only these.")
@click.option("--business", "code", metavar="CODE", help="Only this business's.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@admin_options(audited=False)
def list_callbacks(state: str | None, code: str | None, limit: int, env: AdminEnv) -> None:
    """The latest callbacks, newest first, and how many there are in each state."""
    wanted = CallbackState(state) if state else None
    code = _code(code)

    def work(conn: Connection) -> tuple[list[Callback], dict[str, int]]:
        return list_txn(conn, wanted, code, limit), counts_txn(conn)

    found, counts = _run(env, work, write=False)
    summary = ", ".join(f"{counts.get(s.value, 0)} {s.value}" for s in CallbackState)
    if not found:
        click.echo(f"no callbacks ({summary})")
        return
    console().print(_table(found, env, f"callbacks ({summary})"))


def _last(found: Callback) -> str:
    if found.last_status is not None:
        return f"HTTP {found.last_status}"
    return found.last_error or ""


def _short(url: str) -> str:
    return url if len(url) <= _URL_SHOWN_CHARS else url[: _URL_SHOWN_CHARS - 1] + "…"


def _table(found: list[Callback], env: AdminEnv, title: str) -> Table:
    table = Table(box=box.SIMPLE, title=title)
    for heading in _COLUMNS:
        table.add_column(heading, justify="right" if heading in ("id", "attempts") else "left")
    timezone = env.config.money.timezone
    for item in found:
        due = item.state in (CallbackState.PENDING, CallbackState.SENDING)
        values = (item.id, item.business_code, item.state.value, item.attempts,
                  local_time(item.next_at_ns, timezone) if due else "", _last(item),
                  _short(item.url), local_time(item.created_at_ns, timezone))  # fmt: skip
        table.add_row(*(Text(str(value)) for value in values))
    return table


@callbacks.command("show")
@click.argument("callback_id", type=int)
@admin_options(audited=False)
def show(callback_id: int, env: AdminEnv) -> None:
    """One callback: where it goes, its attempts, the last answer or error, and its body."""
    found = _run(env, lambda conn: get_txn(conn, callback_id), write=False)
    timezone = env.config.money.timezone
    table = Table(box=box.SIMPLE, show_header=False, title=f"callback {found.id}")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    rows = {
        "business": found.business_code,
        "state": found.state.value,
        "url": found.url,
        "X-CorrelationID": found.client_correlation_id or "",
        "attempts": found.attempts,
        "next try": local_time(found.next_at_ns, timezone)
        if found.state in (CallbackState.PENDING, CallbackState.SENDING)
        else "",
        "last status": found.last_status if found.last_status is not None else "",
        "last error": found.last_error or "",
        "created": local_time(found.created_at_ns, timezone),
        "delivered": local_time(found.delivered_at_ns, timezone) if found.delivered_at_ns else "",
    }
    for field, value in rows.items():
        table.add_row(field, Text(str(value)))
    console().print(table)
    click.echo(_pretty(found.body))


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


@callbacks.command("retry")
@click.argument("callback_id", type=int, required=False)
@click.option("--failed", "all_failed", is_flag=True, help="Every failed callback.")
@click.option("--business", "code", metavar="CODE", help="With --failed: only this business's.")
@admin_options()
def retry(callback_id: int | None, all_failed: bool, code: str | None, env: AdminEnv) -> None:
    """Send callback ID (or every --failed one) again now, with a fresh count of attempts
    (audited)."""
    if (callback_id is None) == (not all_failed):  # neither, or both
        raise AdminCliError("give a callback ID or --failed")
    if code is not None and not all_failed:
        raise AdminCliError("--business goes with --failed")
    code = _code(code)
    if callback_id is not None:
        again = _run(env, lambda conn: retry_txn(conn, callback_id, env.actor, now_ns()))
        click.echo(f"callback {again.id} ({again.business_code}): pending, due now")
        return
    retried = _run(env, lambda conn: retry_failed_txn(conn, env.actor, now_ns(), code))
    click.echo(f"{len(retried)} failed callback(s) pending again, due now")


@click.command("secret")
@click.argument("code")
@click.option("--rotate", is_flag=True, help="A new secret first: the old one stops at once.")
@admin_options()
def secret(code: str, rotate: bool, env: AdminEnv) -> None:
    """Print business CODE's callback signing secret (audited), to give to the business.

    \b
    Every callback carries X-Signature: sha256=<hex HMAC-SHA256(key, body)>,
    key = the 32 bytes of this hex secret. A receiver checks, in Python:
      hmac.compare_digest(header, "sha256=" + hmac.new(
          bytes.fromhex(SECRET), body, hashlib.sha256).hexdigest())
    --rotate makes a new one; callbacks sent from then on use it."""
    code = _code(code) or ""
    try:
        key = master_key(env.config, create=False)  # the daemon's own, never a new one here
    except CallbackKeyError as exc:
        raise AdminCliError(str(exc)) from None

    def work(conn: Connection):
        found = rotate_txn(conn, code, env.actor, now_ns()) if rotate else None
        found = found or secret_version_txn(conn, code)
        detail = f"callback secret version {found.version} shown"
        record_txn(conn, env.actor, "business.secret.show", found.code, detail, now_ns())
        return found

    found = _run(env, work)
    secret_hex = key.business_secret(found.code, found.version).hex()
    click.echo(f"business {found.code}: callback secret (version {found.version}):")
    click.echo(secret_hex)
