"""What crossed one SMPP link, as plain integers: PDUs in and out by command and command_status, and
the throttling the peer asked for. The session counts every PDU it decodes or queues for sending
(requests, responses and its own automatic answers) exactly once; a persistent bind keeps one
`PduCounts` across its reconnects. Exporting them (Prometheus, a status page) is the caller's job:
here they cost one dict update per PDU on the hot path."""

from dataclasses import dataclass, field
from typing import Literal

from smscore.status import CommandStatus

Direction = Literal["in", "out"]


@dataclass(slots=True)
class PduCounts:
    # (direction, command name as in the spec: "submit_sm_resp", command_status) -> PDUs
    pdus: dict[tuple[Direction, str, int], int] = field(default_factory=dict)
    throttled: int = 0  # ESME_RTHROTTLED / ESME_RMSGQFUL answers whose request was queued again
    throttle_pauses: int = 0  # times sending paused for the peer (a window throttled at once: one)

    def note(self, direction: Direction, name: str, command_status: int) -> None:
        key = (direction, name, command_status)
        self.pdus[key] = self.pdus.get(key, 0) + 1

    def total(self, direction: Direction, name: str | None = None) -> int:
        """PDUs that went `direction` (of one command if `name` is given), whatever their status."""
        return sum(
            count
            for (way, command, _), count in self.pdus.items()
            if way == direction and name in (None, command)
        )


def status_name(command_status: int) -> str:
    """ESME_ROK, ESME_RTHROTTLED...; a status the spec does not name as its hex value."""
    try:
        return CommandStatus(command_status).name
    except ValueError:
        return f"0x{command_status:08X}"
