"""[inbox]: the LIS's inbox writer (daemon.lis), and the bounds that keep a flood (a broken or hostile
SMSC, a TranProc fallen behind) from growing it: the back-pressure keys (daemon.backpressure) and the
size of one MO (daemon.binds)."""

from typing import Annotated

from pydantic import Field, model_validator

from daemon.config_base import PositiveSeconds, Section


class BacklogSettings(Section):
    """Inbox rows the TranProc has not handled yet at most; past it deliver_sm is answered
    ESME_RX_T_APPN unstored (the SMSC keeps it and delivers it again) until the backlog falls to
    backlog_low_water (None: 80% of the bound). 0: no bound. The backlog is counted every
    backlog_check_s, and between counts from what this process admits: never a query per
    deliver_sm."""

    max_backlog: Annotated[int, Field(ge=0, le=100_000_000)] = 20_000
    backlog_low_water: Annotated[int, Field(ge=0)] | None = None
    backlog_check_s: PositiveSeconds = 1.0
    # The body of one deliver_sm (short_message + message_payload) at most; a longer one is
    # answered ESME_RINVMSGLEN, unstored (no command is that long; 8 KiB holds a 20-part MO in
    # UCS-2). With max_waiting it bounds the memory of the MOs waiting for a commit.
    max_mo_bytes: Annotated[int, Field(ge=254, le=70_000)] = 8192

    @model_validator(mode="after")
    def _low_water_below_the_bound(self) -> "BacklogSettings":
        low = self.backlog_low_water
        if self.max_backlog and low is not None and low >= self.max_backlog:
            raise ValueError("backlog_low_water must be below max_backlog")
        return self

    @property
    def backlog_resume_at(self) -> int:
        """The backlog at which refused deliver_sm are taken again."""
        if self.backlog_low_water is not None:
            return self.backlog_low_water
        return self.max_backlog * 4 // 5


class InboxConfig(BacklogSettings):
    group_commit_max_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    group_commit_max_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 5.0
    # The same MO again (SMSC re-delivery or a person's repeat) within this window: a command with side
    # effects is not run again but answered with its first reply (daemon.repeats).
    dedupe_window_s: PositiveSeconds = 120.0
    concat_timeout_s: PositiveSeconds = 300.0
    # MOs waiting for their group commit at most; past it deliver_sm is answered ESME_RTHROTTLED
    # unstored, so the SMSC retries later. Ten full group commits at the default batch: room for the
    # database to stall briefly without refusing, a bound on memory when it stays down.
    max_waiting: Annotated[int, Field(ge=1, le=1_000_000)] = 5000
