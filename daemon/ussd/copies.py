"""Telling the network's copies of a USSD PDU from the subscriber's new ones (RELIABILITY.md, "What
the runs found" 3).

An SMSC that gets no deliver_sm_resp in time (lost, late, the daemon killed between storing the MO
and answering) sends the same deliver_sm again. For SMS the inbox's dedupe key finds it; a USSD
dialogue cannot work that way, since the same "1" on two screens is two answers. SMPP 3.4 has room
for a dialogue unit's sequence number (its_session_info, 5.3.2.43: octet 2, bits 7..1), which would
make a copy a repeated (session, sequence); but gateways key on the session number alone, some use
all 16 bits as their session id (6D's, as vumi's sixdee processor reads it), the other dialects
have no such field, and smscore.ussd_dialects neither reads nor writes one. So a copy is told from
what the session knows, each rule resting on what a person cannot do:

- an answer while the session's screen has never gone out (never tried, refused by the SMSC, or
  stopped unsent): nobody has read it, so this is an earlier PDU again. A screen tried and then
  given up is not known unread (a try in flight when the daemon was killed may have been shown);
- an answer whose bytes equal an earlier MO of the same session and arrives within copy_window_s
  of that MO or of the session's last step: a person needs longer to read a new screen and type
  (a real "1" on the menu and a "1" on the next screen a human time later are two answers);
- a dial (PSSR indication) of the same code on a key whose session is open and had its last step
  within answer_timeout_s (the network's retry), or ended less than copy_window_s ago.

A copy moves nothing. If the screen it answers never went out and cannot go any more, that screen
goes again as the session's (the subscriber is not left with silence). A shown screen answered with
an earlier answer's text goes once more, not as the session's screen: that "copy" may be a fast
person's real repeat, who must get a screen; if it was the network's copy, the phone still shows
the screen and the SMSC refuses the second one. Otherwise (a screen not sent yet) it will go.

To find an earlier MO with the same bytes, every answer's inbox row gets a keyed digest of
(session, operation, end flag, coding, text) as its dedupe_key (the LIS gave it a random one:
USSD rows are never SMS repeats), so the lookup uses the inbox's dedupe index. The digest is an
HMAC under the PIN pepper, as the PIN digests are: it gives no PIN away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from daemon.clock import NS_PER_S
from daemon.config_services import UssdConfig
from daemon.outbox import OutboxStatus
from daemon.schema import inbox, outbox
from daemon.subscribers import PinHasher
from daemon.ussd.sessions import Session, SessionStatus

DIGEST_PREFIX = "u"  # an SMS row's dedupe key is 64 hex digits: this one can never equal it
NEVER_SENT = frozenset({OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE})  # final, not delivered
COPY = "ussd_copy"  # inbox.error of an answer taken for the network's copy
REDIAL = "ussd_redial"  # inbox.error of a dial taken for the network's retry


@dataclass(frozen=True, slots=True)
class Screen:
    """The fate of the screen a session is on, as far as a copy needs it."""

    status: OutboxStatus
    attempts: int
    text: str

    @property
    def unseen(self) -> bool:
        """It cannot have been read: never tried, or refused by the SMSC or stopped unsent. One
        given up after a try is not: a try in flight at a crash may have reached the phone."""
        if self.status is OutboxStatus.FAILED:
            return True
        return self.attempts == 0 and self.status in (
            OutboxStatus.QUEUED,
            OutboxStatus.UNDELIVERABLE,
        )

    @property
    def gone(self) -> bool:
        """It was never shown and never will be: a copy must bring it again."""
        return self.unseen and self.status in NEVER_SENT


@dataclass(frozen=True, slots=True)
class Copy:
    reason: str  # inbox.error
    screen: Screen | None  # the session's screen (None: none to send again)


def current_screen_txn(conn: Connection, session: Session) -> Screen | None:
    if session.last_outbox_id is None:
        return None
    row = conn.execute(
        select(outbox.c.status, outbox.c.attempts, outbox.c.text).where(
            outbox.c.id == session.last_outbox_id
        )
    ).first()
    return None if row is None else Screen(OutboxStatus(row.status), row.attempts, row.text)


def answer_copy_txn(
    conn: Connection, session: Session, row: Any, hasher: PinHasher, config: UssdConfig
) -> Copy | None:
    """Whether an answer on an open session is a copy (see the module docstring); records its
    digest either way, so a later copy of it is found."""
    digest = mo_digest(hasher, session, row)
    conn.execute(update(inbox).where(inbox.c.id == row.id).values(dedupe_key=digest))
    screen = current_screen_txn(conn, session)
    if screen is not None and screen.unseen:
        return Copy(COPY, screen)
    earlier_ns = conn.execute(
        select(inbox.c.received_at_ns)
        .where(
            inbox.c.dedupe_key == digest,
            inbox.c.received_at_ns >= session.started_at_ns,
            inbox.c.id != row.id,
        )
        .order_by(inbox.c.received_at_ns.desc())
        .limit(1)
    ).scalar()
    if earlier_ns is None:
        return None
    window_ns = int(config.copy_window_s * NS_PER_S)
    since_ns = max(earlier_ns, session.last_at_ns)
    return Copy(COPY, screen) if row.received_at_ns - since_ns <= window_ns else None


def dial_copy_txn(
    conn: Connection, session: Session, row: Any, code: str, config: UssdConfig
) -> Copy | None:
    """Whether a dial on this key is the network's retry of the dial that began `session`."""
    if session.service_code != code[:32]:
        return None
    if session.status is SessionStatus.OPEN:
        timeout_ns = int(config.answer_timeout_s * NS_PER_S)
        if row.received_at_ns - session.last_at_ns <= timeout_ns:
            return Copy(REDIAL, current_screen_txn(conn, session))
        return None
    window_ns = int(config.copy_window_s * NS_PER_S)
    ended_ns = session.ended_at_ns
    if ended_ns is not None and row.received_at_ns - ended_ns <= window_ns:
        return Copy(REDIAL, None)
    return None


def mo_digest(hasher: PinHasher, session: Session, row: Any) -> str:
    """The keyed digest of an MO within its session: its text as the LIS decoded it (the same
    octets in the same coding give the same text) with its operation, end flag and coding."""
    what = f"ussd mo|{session.id}|{row.ussd_op}|{int(bool(row.ussd_end))}|{row.data_coding}|"
    digest = hasher.digest(session.where.msisdn, what + row.text.encode("utf-8").hex())
    return DIGEST_PREFIX + digest.hex()[:63]
