"""`smscore device sync`: the reference app brings its copy of the subscriber's channel up to date
(a token asked with the device's signature, or refreshed; every event after its position pulled,
opened and applied once, in order) and shows the balance the events give beside the ledger's
(GET /channels/me/balance): MATCH or MISMATCH. `smscore device inbox` reads the SMS the number got
and, on a push sealed to this device ("pull <seq>", daemon.channels.push), syncs.

The position is saved after every page, so an interrupted sync goes on where it stopped. No token,
key or PIN is ever printed.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import click

from daemon.channels.crypto import EventCryptoError, unwrap_event_key
from daemon.channels.push import parse_pull
from daemon.commands.money import format_money
from daemon.device.channel_api import DEFAULT_CHANNEL_API, ChannelApi, ChannelApiError
from daemon.device.channel_copy import ChannelCopy, EventGap, EventRefused, apply_page, describe
from daemon.device.client import LinkError, SimulatorLink
from daemon.device.options import FILE_OPTION
from daemon.device.state import DeviceFileError, DeviceState, NotEnrolled, load, save
from daemon.security import channel
from daemon.security.channel import ChannelError, Kind

NS = 1_000_000_000
REFRESH_BEFORE_S = 86_400  # a token with less than this left is refreshed first
MAX_PAGES = 10_000  # bounds one sync (100 events a page: a million events)
MAX_GAP_PULLS = 3  # a gap makes the device pull again, this many times at most
MAX_CATCH_UP = 3  # pulls again when the ledger's balance counts events written since


class SyncExit(IntEnum):
    OK = 0  # in step: the events' balance matches the ledger's (or there is none to compare)
    FAILED = 2  # bad device file, link or answer; a gap that pulling again did not close
    MISMATCH = 6  # the events' balance is not the ledger's
    REFUSED = 7  # an event did not verify: refused, nothing after it applied


SYNC_EXIT_HELP = (
    "\b\nExit codes:\n  0  in step (MATCH), or no posting yet to compare\n"
    "  2  bad device file, link or answer; a gap in the events that pulling again did not close\n"
    "  6  MISMATCH: the balance from the events is not the ledger's\n"
    "  7  an event did not verify: refused, nothing after it applied"
)


class SyncFailed(Exception):
    def __init__(self, message: str, code: SyncExit = SyncExit.FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Pulled:
    applied: list[int] = field(default_factory=list)
    repeated: int = 0


def _expires_ns(copy: ChannelCopy) -> int:
    try:
        return int(datetime.fromisoformat(str(copy.token_expires_at)).timestamp() * NS)
    except ValueError:
        return 0


def new_token(state: DeviceState, api: ChannelApi, now_ns: int) -> str:
    """A token asked with the device's signature; a new channel reference starts a new copy."""
    if state.device_id is None:
        raise NotEnrolled("not enrolled: run `smscore device enrol` first")
    answer = api.new_token(state.signing_key, state.device_id, now_ns // 1_000_000)
    if state.channel.reference not in (None, answer.get("channel")):
        state.channel = ChannelCopy()
    state.channel.learn_token(answer)
    return str(state.channel.token)


def ensure_token(state: DeviceState, api: ChannelApi, now_ns: int) -> str:
    copy = state.channel
    expires_ns = _expires_ns(copy) if copy.token else 0
    if copy.token and expires_ns - now_ns > REFRESH_BEFORE_S * NS:
        return copy.token
    if copy.token and expires_ns > now_ns:
        try:
            copy.learn_token(api.refresh_token(copy.token))
            return str(copy.token)
        except ChannelApiError as exc:
            if exc.status != 401:
                raise
    return new_token(state, api, now_ns)


def event_keys(state: DeviceState) -> Callable[[int], bytes | None]:
    copy = state.channel

    def key_for(epoch: int) -> bytes | None:
        wrapped = copy.wrapped_keys.get(epoch)
        if wrapped is None or state.device_id is None or state.server_public is None:
            return None
        try:
            return unwrap_event_key(
                state.channel_key, state.server_public, state.device_id, str(copy.reference),
                epoch, base64.b64decode(wrapped),
            )  # fmt: skip
        except (EventCryptoError, ValueError):
            return None

    return key_for


def pull(state: DeviceState, api: ChannelApi, keep: Callable[[], None], now_ns: int) -> Pulled:
    """Every event after the position, applied; `keep` saves the device file after each page."""
    token, pulled, gaps, renewed = ensure_token(state, api, now_ns), Pulled(), 0, False
    keep()
    for _ in range(MAX_PAGES):
        try:
            page = api.events(token, state.channel.applied_seq)
        except ChannelApiError as exc:
            if exc.status != 401 or renewed:
                raise
            token, renewed = new_token(state, api, now_ns), True  # revoked epoch, lost token
            continue
        events = list(page.get("events") or [])
        if not renewed and _new_epoch(state.channel, events):
            token, renewed = new_token(state, api, now_ns), True  # its key comes with a token
        try:
            done = apply_page(state.channel, events, event_keys(state))
        except EventGap as gap:
            gaps += 1
            if gaps > MAX_GAP_PULLS:
                raise SyncFailed(f"a gap pulling again did not close: {gap}") from None
            continue
        except EventRefused as refused:
            raise SyncFailed(f"refused: {refused}", SyncExit.REFUSED) from None
        finally:
            keep()
        pulled.applied += done.applied
        pulled.repeated += done.repeated
        if not events or state.channel.applied_seq >= int(page.get("head") or 0):
            break
    return pulled


def _new_epoch(copy: ChannelCopy, events: list[dict[str, Any]]) -> bool:
    known = max(copy.wrapped_keys, default=0)
    return any(int(event["keyEpoch"]) > known for event in events)


def ledger_balance(answer: dict[str, Any]) -> Ledger:
    return Ledger(
        int(answer["balanceMinor"]), int(answer["availableMinor"]), str(answer["currency"]),
        int(answer["headSeq"]),
    )  # fmt: skip


@dataclass(frozen=True)
class Ledger:
    """GET /channels/me/balance: the wallet's balances and the last event they include."""

    balance_minor: int
    available_minor: int
    currency: str
    head_seq: int

    def shown(self) -> str:
        return _shown(self.balance_minor, self.available_minor, self.currency)


def _shown(balance_minor: int, available_minor: int, currency: str) -> str:
    available = format_money(available_minor, currency)
    return f"{format_money(balance_minor, currency)} (available {available})"


def report(state: DeviceState, pulled: Pulled, ledger: Ledger) -> tuple[list[str], SyncExit]:
    """What sync shows: the events applied, both balances, MATCH or MISMATCH."""
    copy = state.channel
    applied = set(pulled.applied)
    lines = [_applied_line(pulled)]
    lines += [describe(event) for event in copy.recent if event.get("seq") in applied]
    if copy.balance_minor is None:
        return [*lines, "no posting in the events yet", f"ledger: {ledger.shown()}"], SyncExit.OK
    mine = _shown(copy.balance_minor, copy.available_minor or 0, copy.currency or ledger.currency)
    lines += [
        f"events (#{copy.applied_seq}): {mine}",
        f"ledger (#{ledger.head_seq}): {ledger.shown()}",
    ]
    same = (copy.balance_minor, copy.available_minor) == (
        ledger.balance_minor,
        ledger.available_minor,
    )
    if ledger.head_seq != copy.applied_seq:
        same = False  # the ledger includes events this device has not applied
    return [*lines, "MATCH" if same else "MISMATCH"], SyncExit.OK if same else SyncExit.MISMATCH


def _applied_line(pulled: Pulled) -> str:
    if not pulled.applied:
        line = "no new events"
    else:
        line = f"{len(pulled.applied)} new events applied (#{pulled.applied[0]}..#{pulled.applied[-1]})"
    return line + (f", {pulled.repeated} already applied skipped" if pulled.repeated else "")


def sync(
    state: DeviceState, api: ChannelApi, keep: Callable[[], None]
) -> tuple[list[str], SyncExit]:
    """Pull, then compare with the ledger; events written meanwhile (the balance says up to which
    seq it counts) are pulled first, a few times at most."""
    now_ns = time.time_ns()
    pulled = pull(state, api, keep, now_ns)
    for _ in range(MAX_CATCH_UP):
        ledger = ledger_balance(api.balance(str(state.channel.token)))
        if ledger.head_seq <= state.channel.applied_seq:
            break
        more = pull(state, api, keep, now_ns)
        pulled.applied += more.applied
        pulled.repeated += more.repeated
    return report(state, pulled, ledger)


CHANNEL_API_OPTION = click.option(
    "--api", default=DEFAULT_CHANNEL_API, show_default=True, help="The channel API (HTTP)."
)


def _run_sync(path: Path, api: str) -> None:
    try:
        state = load(path)
        lines, code = sync(state, ChannelApi(api), lambda: save(state, path))
    except (DeviceFileError, NotEnrolled, ChannelApiError, SyncFailed, KeyError, ValueError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(getattr(exc, "code", SyncExit.FAILED)) from None
    click.echo("\n".join(lines))
    if code is not SyncExit.OK:
        raise SystemExit(code)


@click.command("sync", epilog=SYNC_EXIT_HELP)
@FILE_OPTION
@CHANNEL_API_OPTION
def device_sync(path: Path, api: str) -> None:
    """Pull the channel's new events, apply them once and in order, check the balance."""
    _run_sync(path, api)


@click.command("inbox", epilog=SYNC_EXIT_HELP)
@FILE_OPTION
@CHANNEL_API_OPTION
@click.option("--sim", default="http://127.0.0.1:8775", show_default=True, help="The simulator.")
def device_inbox(path: Path, api: str, sim: str) -> None:
    """Read the number's SMS; on a push to this device telling it to pull, sync."""
    try:
        state = load(path)
        heads = pushes(state, SimulatorLink(sim).received(state.msisdn))
        save(state, path)
    except (DeviceFileError, LinkError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(SyncExit.FAILED) from None
    if not heads:
        click.echo("no push to this device")
        return
    click.echo(f"pushed: the channel has events up to #{max(heads)}")
    _run_sync(path, api)


def pushes(state: DeviceState, texts: list[str]) -> list[int]:
    """The head seqs of the pushes sealed to this device among `texts` not read before (another
    device's frames, and frames already opened, do not open)."""
    heads = []
    for text in texts:
        if not channel.is_text_frame(text):
            continue
        try:
            opened = state.open_reply(text)
        except (ChannelError, NotEnrolled):
            continue
        head = parse_pull(opened.text) if opened.kind is Kind.TEXT else None
        if head is not None:
            heads.append(head)
    return heads


def reply_filter(state: DeviceState) -> Callable[[str], bool]:
    """Whether an SMS to the number can be the answer this device waits for: plain text, or a
    frame sealed to it that is not a push (checked without taking its counter, so `inbox` still
    reads a push later). Another device's frames, on a number several share, are not."""

    def is_reply(text: str) -> bool:
        if not channel.is_text_frame(text):
            return True
        try:
            opened = state.keys().open(channel.Direction.DOWN, channel.from_text(text))
        except (ChannelError, NotEnrolled):
            return False
        return opened.kind is not Kind.TEXT or parse_pull(opened.text) is None

    return is_reply
