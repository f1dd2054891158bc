"""The [logging] section: the level, the format, and per-component levels (daemon.logs)."""

from typing import Literal

from pydantic import field_validator

from daemon.config_base import Section

LogLevelName = Literal["debug", "info", "warn", "error"]
# The components a log line is attributed to (daemon.logs), each with its own level if wanted.
LOG_COMPONENTS = (
    "smpp", "lis", "inbox", "tranproc", "ledger", "sender", "receipts", "sweeper", "settler",
    "api", "channels", "ussd", "service",
)  # fmt: skip


class LoggingConfig(Section):
    level: LogLevelName = "info"
    # auto: readable text on a terminal, JSON lines otherwise (journald, a log shipper)
    format: Literal["auto", "text", "json"] = "auto"
    # per-component levels over `level`, e.g. {smpp = "debug"} (PDU hex is logged at debug only)
    levels: dict[str, LogLevelName] = {}

    @field_validator("levels")
    @classmethod
    def _known_components(cls, levels: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(levels) - set(LOG_COMPONENTS))
        if unknown:
            raise ValueError(
                f"unknown component {', '.join(unknown)}: one of {', '.join(LOG_COMPONENTS)}"
            )
        return levels
