"""Typed errors of the SMPP library. Each says whose fault it was and what status to answer with."""

from smscore.status import CommandStatus


class SMPPError(Exception):
    """Base of every error this library raises on purpose."""


class PDUError(SMPPError):
    """A PDU that cannot be encoded or decoded.

    `status` is the command_status to answer with; `command_id` and `sequence_number` are those of the
    offending PDU when they could be read (None otherwise), so a session can build the right response.
    `fatal` means the byte stream has lost its framing and the connection must be closed.
    """

    def __init__(
        self,
        message: str,
        status: CommandStatus,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.fatal = fatal


class PDUDecodeError(PDUError):
    """Bytes from the remote peer are not a valid SMPP 3.4 PDU (the peer's fault)."""


class PDUEncodeError(PDUError):
    """A PDU built locally breaks a field limit of the spec (our caller's fault)."""


class TimeFormatError(ValueError, SMPPError):
    """A schedule_delivery_time / validity_period string is not in the spec's format."""
