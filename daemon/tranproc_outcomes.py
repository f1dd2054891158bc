"""How a TranProc batch's rows ended, counted: per result (done, failed, rejected, replayed) and per
command keyword and result (the `smscore_commands_total` metric, daemon.metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daemon.lis import InboxStatus
from daemon.repeats import REPEAT_ERROR  # the inbox error of a repeat (defined there)

if TYPE_CHECKING:
    from daemon.tranproc import BatchResult, _Outcome

NO_COMMAND = "-"  # the command label of a row that named none (unparseable text, an app refusal)


def result_of(status: str, error: str | None) -> str:
    """done, failed (the handler raised), replayed (a repeat answered with its first reply) or
    rejected (answered without running a handler: parse error, role, PIN)."""
    if status == InboxStatus.FAILED:
        return "failed"
    if error == REPEAT_ERROR:
        return "replayed"
    return "done" if error is None else "rejected"


def count_outcomes(result: BatchResult, outcomes: list[_Outcome]) -> None:
    for outcome in outcomes:
        kind = result_of(outcome.status, outcome.error)
        setattr(result, kind, getattr(result, kind) + 1)
        key = (outcome.command or NO_COMMAND, kind)
        result.by_command[key] = result.by_command.get(key, 0) + 1
