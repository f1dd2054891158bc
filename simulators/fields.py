"""Field types shared by the simulator's config and its faults (a module of its own so that
simulators.config can import simulators.faults without a cycle)."""

from typing import Annotated, Any

from pydantic import BeforeValidator

from smscore.status import CommandStatus

MAX_COMMAND_STATUS = 0xFFFFFFFF  # command_status is a 4-octet unsigned integer (spec 3.2)


def status_value(value: Any) -> int:
    """A command_status given as a name ("ESME_RBINDFAIL") or a number."""
    if isinstance(value, str):
        try:
            return int(CommandStatus[value])
        except KeyError:
            raise ValueError(f"unknown command_status name {value!r}") from None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COMMAND_STATUS:
        return value
    raise ValueError(
        f"command_status must be a name like ESME_RTHROTTLED or a number, not {value!r}"
    )


Status = Annotated[int, BeforeValidator(status_value)]
