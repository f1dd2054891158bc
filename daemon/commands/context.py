"""What a command handler gets (CommandContext) and gives back (Reply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from daemon import replies
from daemon.commands.money import format_money
from daemon.outbox import OutgoingSms

if TYPE_CHECKING:
    from daemon.commands.registry import Registry, Role
    from daemon.config import Config
    from daemon.security.receipts import ReceiptFields
    from daemon.subscribers import PinHasher, Subscriber


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to the sender. The hooks let a confirmation undo its transfer if never delivered."""

    text: str
    on_failure: str | None = None
    on_failure_ref: int | None = None
    deliver_by_ns: int | None = None
    holds_code: bool = False  # the text carries a one-time code (masked in the outbox once sent)
    # Refused with nothing done (not enough money, over a limit): a repeat of the message within
    # the dedupe window runs again rather than getting this answer replayed (daemon.repeats).
    refused: bool = False
    receipt: ReceiptFields | None = None  # a money confirmation's signed fields (receipt_tags)


@dataclass
class CommandContext:
    """Everything a handler may use. Writes go through `conn`, inside the message's savepoint."""

    conn: Connection
    now_ns: int
    config: Config
    registry: Registry
    sender: str  # the sender's number, international digits when it could be normalised
    subscriber: Subscriber | None
    role: Role
    language: str
    inbox_id: int
    short_code: str  # our number the message was sent to; replies come from it
    bind_name: str
    notifications: list[OutgoingSms] = field(default_factory=list)
    hasher: PinHasher | None = None  # digests of one-time codes (YES codes, vouchers, first PIN)
    # "app" when the command came decrypted from an enrolled device (daemon.security.app_inbox),
    # else "plain": the fraud rules limit plain text from a subscriber who has a device.
    channel: str = "plain"

    def text(self, key: str, **fields: object) -> str:
        """A reply template in the sender's language."""
        return replies.render(self.language, key, service=self.config.service.name, **fields)

    def reply(self, key: str, **fields: object) -> Reply:
        return Reply(self.text(key, **fields))

    def refuse(self, key: str, **fields: object) -> Reply:
        """A reply saying nothing was done, which a repeat of the message does not replay."""
        return Reply(self.text(key, **fields), refused=True)

    def money(self, amount_minor: int) -> str:
        return format_money(amount_minor, self.config.service.currency)

    def notify(
        self,
        destination: str,
        text: str,
        on_failure: str | None = None,
        on_failure_ref: int | None = None,
        deliver_by_ns: int | None = None,
    ) -> None:
        """Queue an SMS to someone else (e.g. the recipient of a transfer), from our short code.

        It is written with the reply, in the same savepoint: if the handler fails, it is not sent."""
        self.notifications.append(
            OutgoingSms(
                destination_addr=destination,
                text=text,
                source_addr=self.short_code,
                inbox_id=self.inbox_id,
                on_failure=on_failure,
                on_failure_ref=on_failure_ref,
                deliver_by_ns=deliver_by_ns,
            )
        )
