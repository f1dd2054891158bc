"""The `[fraud]` section: each fraud rule (daemon.security.fraud) on or off, with its thresholds.

One sub-table per rule (`[fraud.velocity]`, `[fraud.sim_swap]`, ...). Rules that need tuning to a
deployment's traffic (velocity, new recipient, deposit splitting, anomaly) are off until configured;
the ones with no false positive in ordinary use (SIM swap, wrong PINs, plain text under an enrolled
device) are on. etc/smscore.toml documents every key. Kept out of daemon/config.py (which re-exports
FraudConfig) so that module stays one screen per section.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Minor = Annotated[int, Field(ge=0)]
Count = Annotated[int, Field(ge=1, le=100_000)]
PeriodSeconds = Annotated[float, Field(gt=0, le=90 * 86_400)]


class _Rule(BaseModel):
    # As daemon.config.Section: unknown keys and loose types are errors, not guesses.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    enabled: bool = False


class VelocityRule(_Rule):
    """Money out per payer per period: more than max_count moves, or more than max_value_minor."""

    period_s: PeriodSeconds = 3_600.0
    max_count: Count = 10
    max_value_minor: Minor = 10_000_000  # 100,000.00 KES


class NewRecipientRule(_Rule):
    """A payee this payer never paid before, with an amount above min_amount_minor."""

    min_amount_minor: Minor = 2_000_000  # 20,000.00 KES


class PinFailuresRule(_Rule):
    """Wrong PINs guessed to a lockout within period_s: account_lockouts against the payer's
    account, source_lockouts by the sender acting for another (an assistant). 0 turns either off."""

    enabled: bool = True
    period_s: PeriodSeconds = 86_400.0
    account_lockouts: Annotated[int, Field(ge=0, le=1000)] = 1
    source_lockouts: Annotated[int, Field(ge=0, le=1000)] = 1


class DepositSplittingRule(_Rule):
    """An agent's DEPOSIT at or below small_max_minor to a customer who already had max_count - 1
    such deposits from that store within period_s: cash split to farm commission."""

    period_s: PeriodSeconds = 3_600.0
    max_count: Count = 3
    small_max_minor: Minor = 100_000  # 1,000.00 KES


class SimSwapRule(_Rule):
    """After a SIM change of the number, money out above max_minor waits for review cooldown_hours."""

    enabled: bool = True
    cooldown_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 48.0
    max_minor: Minor = 100_000  # 1,000.00 KES


class AnomalyRule(_Rule):
    """The per-payer anomaly score (daemon.security.anomaly) above threshold."""

    threshold: Annotated[float, Field(gt=0, le=1000)] = 4.0
    history_moves: Annotated[int, Field(ge=2, le=1000)] = 30  # the last N moves are the history
    min_history: Annotated[int, Field(ge=2, le=1000)] = 5  # fewer: no score (too little to judge)
    frequency_window_s: PeriodSeconds = 3_600.0
    frequency_weight: Annotated[float, Field(ge=0, le=100)] = 1.0


class PlainTextRule(_Rule):
    """A plain-text money command from a subscriber with an active app device, above
    [fraud] plain_text_max_minor."""

    enabled: bool = True


class FraudConfig(_Rule):
    enabled: bool = True  # off: no rule runs
    # A plain-text (not app-channel) money command from a subscriber with an enrolled device may
    # move at most this much: a spoofed sender cannot empty the wallet.
    plain_text_max_minor: Minor = 100_000  # 1,000.00 KES
    # A hold nobody released or rejected within this many hours ends by itself (expired, nothing
    # moved, the payer told): a held payment must not wait for ever.
    hold_expiry_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 72.0
    velocity: VelocityRule = VelocityRule()
    new_recipient: NewRecipientRule = NewRecipientRule()
    pin_failures: PinFailuresRule = PinFailuresRule()
    deposit_splitting: DepositSplittingRule = DepositSplittingRule()
    sim_swap: SimSwapRule = SimSwapRule()
    anomaly: AnomalyRule = AnomalyRule()
    plain_text: PlainTextRule = PlainTextRule()
