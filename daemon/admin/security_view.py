"""The security lines of `smscore admin subscriber show`: an active SIM-swap cooldown (since when,
until when, the cap the sim_swap fraud rule applies) and the number's app devices by state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from daemon.admin.views import local_time
from daemon.clock import NS_PER_S
from daemon.commands.money import format_money
from daemon.schema import devices
from daemon.security.fraud_config import FraudConfig
from daemon.security.sim_swaps import latest_swap_txn

_NS_PER_HOUR = 3600 * NS_PER_S
_STATE_ORDER = ("active", "pending", "revoked")


@dataclass(frozen=True, slots=True)
class SecurityView:
    rule_on: bool  # [fraud] and [fraud.sim_swap] both enabled
    cooldown_hours: float
    cap_minor: int
    swapped_at_ns: int | None  # the last SIM change within the cooldown
    devices_by_state: dict[str, int]

    @property
    def cooldown_until_ns(self) -> int | None:
        if self.swapped_at_ns is None:
            return None
        return self.swapped_at_ns + int(self.cooldown_hours * _NS_PER_HOUR)


def security_view_txn(
    conn: Connection, msisdn: str, fraud: FraudConfig, now_ns: int
) -> SecurityView:
    rule = fraud.sim_swap
    since_ns = now_ns - int(rule.cooldown_hours * _NS_PER_HOUR)
    query = (
        select(devices.c.state, func.count())
        .where(devices.c.msisdn == msisdn)
        .group_by(devices.c.state)
    )
    return SecurityView(
        rule_on=fraud.enabled and rule.enabled,
        cooldown_hours=rule.cooldown_hours,
        cap_minor=rule.max_minor,
        swapped_at_ns=latest_swap_txn(conn, msisdn, since_ns, now_ns),
        devices_by_state={state: int(count) for state, count in conn.execute(query)},
    )


def security_rows(view: SecurityView, currency: str, timezone: str) -> list[tuple[str, str]]:
    return [
        ("SIM swap", _swap_text(view, currency, timezone)),
        ("app devices", _devices_text(view)),
    ]


def _swap_text(view: SecurityView, currency: str, timezone: str) -> str:
    if not view.rule_on:
        return "rule off ([fraud.sim_swap] enabled = false): no cooldown applies"
    until_ns = view.cooldown_until_ns
    if view.swapped_at_ns is None or until_ns is None:
        return f"none in the last {view.cooldown_hours:g} h"
    return (
        f"cooldown: changed {local_time(view.swapped_at_ns, timezone)}, until "
        f"{local_time(until_ns, timezone)}; money out above "
        f"{format_money(view.cap_minor, currency)} waits for review"
    )


def _devices_text(view: SecurityView) -> str:
    counts = view.devices_by_state
    if not counts:
        return "none"
    states = sorted(counts, key=lambda s: (_STATE_ORDER.index(s) if s in _STATE_ORDER else 9, s))
    listed = ", ".join(f"{counts[state]} {state}" for state in states)
    return f"{listed} (smscore admin device list)"
