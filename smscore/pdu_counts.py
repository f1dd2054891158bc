"""What crossed one SMPP link, as plain integers: PDUs in and out by command and command_status, and
the throttling the peer asked for. The session counts every PDU it decodes or queues for sending
(requests, responses and its own automatic answers) exactly once; a persistent bind keeps one
`PduCounts` across its reconnects. Exporting them (Prometheus, a status page) is the caller's job:
here they cost one dict update per PDU on the hot path.

The keys are bounded whatever a peer sends: a command_status the spec does not name (any 32-bit
value can arrive in a response) is counted as OTHER_STATUS, a command name not in the spec as
"other", so neither this dict nor the metric series built from it can grow without end."""

from dataclasses import dataclass, field
from typing import Literal

from smscore.constants import CommandId
from smscore.status import CommandStatus

Direction = Literal["in", "out"]
OTHER = "other"
OTHER_STATUS = -1  # every command_status CommandStatus does not name (never a wire value)
_KNOWN_STATUSES = frozenset(int(status) for status in CommandStatus)
_KNOWN_COMMANDS = frozenset(command.name.lower() for command in CommandId)


@dataclass(slots=True)
class PduCounts:
    # (direction, command name as in the spec: "submit_sm_resp", command_status) -> PDUs
    pdus: dict[tuple[Direction, str, int], int] = field(default_factory=dict)
    throttled: int = 0  # ESME_RTHROTTLED / ESME_RMSGQFUL answers whose request was queued again
    throttle_pauses: int = 0  # times sending paused for the peer (a window throttled at once: one)

    def note(self, direction: Direction, name: str, command_status: int) -> None:
        status = command_status if command_status in _KNOWN_STATUSES else OTHER_STATUS
        key = (direction, name if name in _KNOWN_COMMANDS else OTHER, status)
        self.pdus[key] = self.pdus.get(key, 0) + 1

    def total(self, direction: Direction, name: str | None = None) -> int:
        """PDUs that went `direction` (of one command if `name` is given), whatever their status."""
        return sum(
            count
            for (way, command, _), count in self.pdus.items()
            if way == direction and name in (None, command)
        )


def status_name(command_status: int) -> str:
    """ESME_ROK, ESME_RTHROTTLED...; "other" for a status the spec does not name."""
    if command_status not in _KNOWN_STATUSES:
        return OTHER
    return CommandStatus(command_status).name
