"""What an SMSC's answer to a submit_sm does to its outbox row (see daemon.sender for the rules)."""

from enum import IntEnum

from twisted.logger import Logger

from smscore.client import NoBindAvailable
from smscore.protocol import ConnectionLostError, NotSent, QueueFull, ResponseTimeout
from smscore.status import CommandStatus

log = Logger()


class Disposition(IntEnum):
    """What happens to a row; when its parts disagree, the highest value wins."""

    SUBMITTED = 0
    RETRY_FREE = 1  # nothing reached the SMSC: queued again, no attempt counted
    RETRY_COUNTED = 2  # temporary refusal or unknown outcome: queued again, attempt counted
    UNDELIVERABLE = 3  # refused for good (or cannot be encoded)


def status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


def classify_status(status: int) -> Disposition:
    """A submit_sm_resp's command_status."""
    if status == CommandStatus.ESME_ROK:
        return Disposition.SUBMITTED
    try:
        temporary = CommandStatus(status).is_temporary
    except ValueError:
        temporary = False  # vendor-specific: retrying blindly could repeat a refusal forever
    return Disposition.RETRY_COUNTED if temporary else Disposition.UNDELIVERABLE


def classify_error(error: BaseException) -> Disposition:
    """A submit that got no answer: nothing sent (free retry) or an unknown outcome (counted)."""
    if isinstance(error, NoBindAvailable | NotSent | QueueFull):
        return Disposition.RETRY_FREE
    if not isinstance(error, ResponseTimeout | ConnectionLostError):
        log.error("unexpected submit failure {error!r}; retrying as unknown outcome", error=error)
    return Disposition.RETRY_COUNTED
