"""The fraud rules over history (declared with @rule; run by daemon.security.fraud.screen_txn).

Each reads committed rows only: moves (money out that moved or is moving: posted, pending,
confirming; a held or declined move moved nothing), PIN and one-time-code
lockouts in the audit log, sim_swaps and devices. An amount in a detail is written with `_money`
(`{money:<minor>}`): daemon.security.fraud_holds shows it as an SMS does, in the service currency.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, func, or_, select

from daemon.audit import SecurityEvent
from daemon.clock import NS_PER_S
from daemon.money.moves import MoveKind, MoveState
from daemon.schema import audit_log, devices, moves, sim_swaps
from daemon.security.fraud import MONEY_OUT, Hit, Txn, rule
from daemon.security.fraud_config import FraudConfig
from ledger.fastpath import PreparedSelect

# Moves whose money moved or is reserved: what counts as the payer's activity.
MOVING = (MoveState.POSTED.value, MoveState.PENDING.value, MoveState.CONFIRMING.value)
_OUT_KINDS = tuple(kind.value for kind in MONEY_OUT)
ACTIVE_DEVICE = "active"


def _money(amount_minor: int) -> str:
    return f"{{money:{amount_minor}}}"


def _since(txn: Txn, period_s: float) -> int:
    return txn.now_ns - int(period_s * NS_PER_S)


@rule("sim_swap", lambda config: config.sim_swap.enabled)
def sim_swap(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    """The sender's (or payer's) SIM changed within cooldown_hours: at most max_minor moves."""
    settings = config.sim_swap
    if txn.amount_minor <= settings.max_minor:
        return None
    since_ns = txn.now_ns - int(settings.cooldown_hours * 3600 * NS_PER_S)
    swapped_ns = conn.execute(
        select(func.max(sim_swaps.c.swapped_at_ns)).where(
            sim_swaps.c.msisdn.in_({txn.sender, txn.payer_msisdn}),
            sim_swaps.c.swapped_at_ns > since_ns,
            sim_swaps.c.swapped_at_ns <= txn.now_ns,
        )
    ).scalar()
    if swapped_ns is None:
        return None
    hours = (txn.now_ns - swapped_ns) / (3600 * NS_PER_S)
    return Hit(
        "sim_swap", f"SIM changed {hours:.1f}h ago; amount over {_money(settings.max_minor)}"
    )


@rule("plain_text", lambda config: config.plain_text.enabled)
def plain_text(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    """Plain text from a subscriber with an active app device, above plain_text_max_minor: the
    subscriber uses the app; a plain SMS in their name may be spoofed."""
    if txn.channel != "plain" or txn.amount_minor <= config.plain_text_max_minor:
        return None
    query = select(devices.c.id).where(
        devices.c.msisdn == txn.sender, devices.c.state == ACTIVE_DEVICE
    )
    if conn.execute(query.limit(1)).first() is None:
        return None
    over = _money(config.plain_text_max_minor)
    return Hit("plain_text", f"plain text over {over} with an app device")


_LOCKOUTS = (SecurityEvent.PIN_LOCKOUT.value, SecurityEvent.OTP_LOCKOUT.value)


# Run for every money command: compiled once, on the driver cursor (ledger.fastpath).
_lockouts = PreparedSelect(
    lambda dialect_name: select(func.count()).where(
        audit_log.c.target == bindparam("msisdn"),
        or_(audit_log.c.action == bindparam("pin"), audit_log.c.action == bindparam("otp")),
        audit_log.c.at_ns >= bindparam("since_ns"),
    )
)


def lockouts_since(conn: Connection, msisdn: str, since_ns: int) -> int:
    """PIN and one-time-code lockouts of `msisdn` since `since_ns` (the audit log, indexed by
    target and time): each stands for security.pin_max_failures wrong guesses in a row."""
    pin, otp = _LOCKOUTS
    row = _lockouts.first(conn, {"msisdn": msisdn, "pin": pin, "otp": otp, "since_ns": since_ns})
    return int(row[0] or 0) if row is not None else 0


@rule("pin_failures", lambda config: config.pin_failures.enabled)
def pin_failures(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    """Wrong PINs (or one-time codes) guessed to a lockout within period_s against the payer's
    account, or by the sender when acting for another (an assistant for its store): the PIN may
    just have been guessed. Counted as lockouts, which the audit log keeps with their time; the
    wrong guesses that did not reach one are forgotten at the next right PIN. While a one-time code
    lock lasts, a SEND that needs a code never gets here: the lock answers it (otp_lock)."""
    settings = config.pin_failures
    since_ns = _since(txn, settings.period_s)
    if settings.account_lockouts:
        count = lockouts_since(conn, txn.payer_msisdn, since_ns)
        if count >= settings.account_lockouts:
            return Hit("pin_failures", f"{count} PIN lockout(s) of the account")
    if settings.source_lockouts and txn.sender != txn.payer_msisdn:
        count = lockouts_since(conn, txn.sender, since_ns)
        if count >= settings.source_lockouts:
            return Hit("pin_failures", f"{count} PIN lockout(s) of the sender {txn.sender}")
    return None


def money_out_since(conn: Connection, payer: str, since_ns: int) -> tuple[int, int]:
    """(count, value) of the payer's money out created since `since_ns`."""
    query = select(func.count(), func.coalesce(func.sum(moves.c.amount_minor), 0)).where(
        moves.c.payer_msisdn == payer,
        moves.c.kind.in_(_OUT_KINDS),
        moves.c.state.in_(MOVING),
        moves.c.created_at_ns >= since_ns,
    )
    count, value = conn.execute(query).one()
    return int(count), int(value)


@rule("velocity", lambda config: config.velocity.enabled)
def velocity(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    """More than max_count moves, or more than max_value_minor, out of the payer's wallet within
    period_s, this one included."""
    if txn.kind not in MONEY_OUT:
        return None
    settings = config.velocity
    count, value = money_out_since(conn, txn.payer_msisdn, _since(txn, settings.period_s))
    if count + 1 > settings.max_count:
        return Hit("velocity", f"{count + 1} moves in {settings.period_s:g}s")
    if value + txn.amount_minor > settings.max_value_minor:
        return Hit("velocity", f"{_money(value + txn.amount_minor)} in {settings.period_s:g}s")
    return None


@rule("new_recipient", lambda config: config.new_recipient.enabled)
def new_recipient(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    """A payee the payer never paid before, with an amount above min_amount_minor."""
    settings = config.new_recipient
    if txn.kind not in MONEY_OUT or txn.amount_minor <= settings.min_amount_minor:
        return None
    query = select(moves.c.id).where(
        moves.c.payer_msisdn == txn.payer_msisdn,
        moves.c.state.in_((MoveState.POSTED.value, MoveState.PENDING.value)),
        or_(moves.c.payee_msisdn == txn.payee, moves.c.detail == txn.payee),
    )
    if conn.execute(query.limit(1)).first() is not None:
        return None
    over = _money(settings.min_amount_minor)
    return Hit("new_recipient", f"first payment to {txn.payee}, over {over}")


@rule("deposit_splitting", lambda config: config.deposit_splitting.enabled)
def deposit_splitting(conn: Connection, txn: Txn, config: FraudConfig) -> Hit | None:
    """Many small DEPOSITs from one store to one customer within period_s: cash split into small
    deposits to earn a commission on each."""
    settings = config.deposit_splitting
    if txn.kind is not MoveKind.DEPOSIT or txn.amount_minor > settings.small_max_minor:
        return None
    query = select(func.count()).where(
        moves.c.kind == MoveKind.DEPOSIT.value,
        moves.c.payer_msisdn == txn.payer_msisdn,
        moves.c.payee_msisdn == txn.payee,
        moves.c.amount_minor <= settings.small_max_minor,
        moves.c.state.in_(MOVING),
        moves.c.created_at_ns >= _since(txn, settings.period_s),
    )
    earlier = conn.execute(query).scalar() or 0
    if earlier + 1 < settings.max_count:
        return None
    return Hit("deposit_splitting", f"{earlier + 1} small deposits to {txn.payee}")
