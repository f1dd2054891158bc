"""What the reference device makes of the server's answer to one of its app messages, and the exit
code `smscore device send` and `flush` end with (`Exit`, shown in their --help).

- An encrypted answer is opened (a ChannelError if it does not verify: it is not from the server).
- A plain-text answer means the server did not accept the device's message: the device is no
  longer enrolled (revoked), or the server could not read it. The server's text is shown as it
  came; it is told apart by comparing it with the catalogues' `app_revoked` (the reference device
  ships the server's catalogues; an app would ship its own copy of that text).
- A confirmation's signed receipt is checked (daemon.device.receipts) and kept. The money moved
  whatever the check says (the channel authenticates the reply); the check says whether the
  receipt is proof of it. With no receipt key known, the device asks for one (RKEY) and says so
  when the server gives none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from daemon import replies
from daemon.device.receipts import Status, check_receipt, keep, looks_like_confirmation
from daemon.device.state import DeviceState
from daemon.security import channel
from daemon.security.app_receipt import ReceiptFrameError, split_body
from daemon.security.channel import Kind, Opened


class Exit(IntEnum):
    OK = 0
    FAILED = 2  # bad input, device file or link; or the server refused the message (nothing done)
    RECEIPT_UNCHECKED = 3  # the reply is shown, but its receipt could not be checked (no key)
    RECEIPT_NOT_GENUINE = 4  # the payment was made, but its receipt's signature is NOT genuine
    NOT_ENROLLED = 5  # the server answered in plain text: this device is no longer enrolled


EXIT_HELP = (
    "\b\nExit codes:\n  0  the reply is shown (a confirmation's receipt signature checked OK)\n"
    "  2  bad input, device file or link; or the server refused the message: nothing was done\n"
    "  3  the reply is shown, but its receipt could not be checked (no receipt key known)\n"
    "  4  the payment was made (the reply says so), but its receipt signature is NOT genuine\n"
    "  5  the server answered in plain text: this device is no longer enrolled, nothing was done"
)

Fetch = Callable[[str], object]  # asks RKEY [serial] over the channel and learns the answer


@dataclass(frozen=True, slots=True)
class Answer:
    lines: list[str]  # what to show, the server's text first
    code: Exit
    text: str | None = None  # the decrypted reply's text (None: refused or plain)


@functools.cache
def _revoked_texts() -> frozenset[str]:
    return frozenset(replies.render(lang, "app_revoked") for lang in replies.LANGUAGES)


def plain_answer(reply: str) -> Answer:
    """The server answered in plain text: it did not take the message as this device's."""
    if reply.strip() in _revoked_texts():
        why = "this device is no longer enrolled: the server revoked it"
    else:
        why = "the server could not read this device's message: it is no longer enrolled there"
    hint = f"{why}. Nothing was done; `smscore device enrol` enrols it again"
    return Answer([reply, hint], Exit.NOT_ENROLLED)


def read_answer(state: DeviceState, reply: str, fetch: Fetch) -> Answer:
    """The answer `reply` (as received) gives; ChannelError if it is a frame that does not verify."""
    if not channel.is_text_frame(reply):
        return plain_answer(reply)
    opened = state.open_reply(reply)
    if opened.kind is Kind.ERROR:
        refused = f"the server refused the message: {opened.body.decode(errors='replace')}"
        return Answer([refused], Exit.FAILED)
    return _body_answer(state, opened, fetch)


def _body_answer(state: DeviceState, opened: Opened, fetch: Fetch) -> Answer:
    try:
        text, receipt = split_body(opened.body)
    except (ReceiptFrameError, UnicodeDecodeError):
        text = opened.body.partition(b"\x00")[0].decode("utf-8", errors="replace")
        return Answer([text, _not_genuine("its signed receipt is malformed")],
                      Exit.RECEIPT_NOT_GENUINE, text)  # fmt: skip
    if receipt is None:
        return _unsigned(state, text, fetch)
    keep(state, receipt)
    check = check_receipt(state, receipt, fetch)
    if check.status is Status.GENUINE:
        return Answer([text, check.shown], Exit.OK, text)
    if check.status is Status.UNCHECKED:
        line = f"receipt not checked: the server gives no key {check.serial}; {_ASK_AGAIN}"
        return Answer([text, line], Exit.RECEIPT_UNCHECKED, text)
    return Answer([text, _not_genuine(check.shown)], Exit.RECEIPT_NOT_GENUINE, text)


_ASK_AGAIN = "`smscore device keys` asks again"
NO_SIGNED_RECEIPT = "receipt not checked: the reply carries no signed receipt"
_REPEAT = (
    "a repeated answer carries no signed receipt: it was checked when first delivered "
    "(`smscore device receipts`)"
)


def as_repeat(answer: Answer) -> Answer:
    """The answer to a transfer delivered again (`flush --again`): the server repeats its first
    text without the signed receipt, which the device checked and kept the first time."""
    if answer.code is Exit.RECEIPT_UNCHECKED and answer.lines[-1] == NO_SIGNED_RECEIPT:
        return Answer([*answer.lines[:-1], _REPEAT], Exit.OK, answer.text)
    return answer


def _not_genuine(why: str) -> str:
    return (
        "the payment was made (the reply above says so), but its receipt signature is NOT "
        f"genuine ({why}): do not show it as proof of payment"
    )


def _unsigned(state: DeviceState, text: str, fetch: Fetch) -> Answer:
    """A reply with no signed receipt: not a confirmation, unless its text carries a tag."""
    if not state.receipt_keys:
        fetch("")  # the device knows no receipt key: it asks for the signing one
    confirmation = looks_like_confirmation(text)
    code = Exit.RECEIPT_UNCHECKED if confirmation else Exit.OK
    if not state.receipt_keys:
        line = (
            f"no receipt key known (the server gave none): receipts cannot be checked; {_ASK_AGAIN}"
        )
        return Answer([text, line], code, text)
    if confirmation:
        return Answer(
            [text, "receipt not checked: the reply carries no signed receipt"], code, text
        )
    return Answer([text], Exit.OK, text)
