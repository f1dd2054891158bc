"""The device's offline transfers: signed with no network (`queue_transfer`), kept in the device
file's queue, delivered later as Kind.OFFLINE app messages (`delivery_text`); the server's answer
ends with `#O1:<counter>:<outcome>` (`outcome_of`), which settles the queued entry.

An entry is delivered until an answer settles it; delivering one again (`smscore device flush
--again`) is harmless: the server posts a counter once and answers a repeat with its first result.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from daemon.device.state import DeviceState, NotEnrolled
from daemon.security import channel
from daemon.security.channel import Kind
from daemon.security.offline import OfflineTransfer, SignedTransfer, decode, sign

DEFAULT_VALID_FOR_S = 86_400  # the server caps it at its own [app] offline_max_validity_s
_OUTCOME = re.compile(r"#O1:([0-9]+):([a-z_]+)")
PENDING = "pending"  # not answered yet


@dataclass(frozen=True, slots=True)
class Answer:
    counter: int
    outcome: str  # daemon.security.offline_inbox.Outcome values


def queue_transfer(
    state: DeviceState,
    payee_msisdn: str,
    amount_minor: int,
    currency: str,
    now_ns: int,
    valid_for_s: int = DEFAULT_VALID_FOR_S,
) -> SignedTransfer:
    """Sign a transfer with the next offline counter and queue it (save the state afterwards)."""
    if state.device_id is None:
        raise NotEnrolled("not enrolled: run `smscore device enrol` first")
    transfer = OfflineTransfer(
        state.device_id,
        state.offline_counter + 1,
        now_ns,
        valid_for_s,
        amount_minor,
        currency,
        payee_msisdn,
    )
    signed = sign(transfer, state.signing_key)
    state.offline_counter = transfer.counter
    state.offline_queue.append(
        {"counter": transfer.counter, "body": _b64(signed.encode()), "outcome": PENDING}
    )
    return signed


def queued(state: DeviceState, again: bool = False) -> list[SignedTransfer]:
    """The transfers still to deliver (with `again`: every one queued, settled or not)."""
    return [
        decode(base64.b64decode(str(entry["body"])))
        for entry in state.offline_queue
        if again or entry["outcome"] == PENDING
    ]


def delivery_text(state: DeviceState, signed: SignedTransfer) -> str:
    """A transfer as a text-framed app message (a new channel counter each time it is sent)."""
    return channel.to_text(state.seal(Kind.OFFLINE, signed.encode()))


def delivery_parts(state: DeviceState, signed: SignedTransfer, reference: int) -> list[bytes]:
    """The same as 8-bit SMS with the app port (short_message octets of each part)."""
    return channel.binary_parts(state.seal(Kind.OFFLINE, signed.encode()), reference)


def outcome_of(reply_text: str) -> Answer | None:
    found = _OUTCOME.search(reply_text)
    return Answer(int(found[1]), found[2]) if found else None


def settle(state: DeviceState, answer: Answer) -> None:
    """Record the server's answer on the queued entry it names."""
    for entry in state.offline_queue:
        if entry["counter"] == answer.counter:
            entry["outcome"] = answer.outcome


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
