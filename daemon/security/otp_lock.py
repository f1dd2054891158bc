"""While wrong codes keep a payer's amount OTP locked, a money command that needs a code is told
"locked, try in N min" BEFORE the fraud rules screen it.

The lockout is also a fraud signal (daemon.security.fraud_rules.pin_failures): with the rules
screening first, the subscriber who just locked the code and asks again would hear "held for a
security check" for a payment that could not have gone through anyway, and staff would get a
review for it. The lock is the answer while it lasts, as a PIN lock is (the TranProc refuses a PIN
command during a PIN lockout before any handler). A payment small enough to need no code is still
screened, and held: whoever guessed the codes knew the PIN. Once the lock is over, the lockout
keeps counting for the rule's period_s, and a large payment is held for review.
"""

from __future__ import annotations

from daemon.commands.context import CommandContext, Reply
from daemon.money.one_time import get_code_txn
from daemon.security.amount_otp import minutes_until
from daemon.security.otp_codes import OtpOutcome, OtpPolicy, OtpPurpose, decide, stored_purpose


def locked_reply(ctx: CommandContext, msisdn: str) -> Reply | None:
    """The "too many wrong codes, try in N min" reply while `msisdn`'s amount OTP is locked."""
    row = get_code_txn(ctx.conn, msisdn, stored_purpose(OtpPurpose.AMOUNT))
    check = decide(row, OtpPolicy.from_config(ctx.config.security), ctx.now_ns)
    if check is None or check.outcome is not OtpOutcome.LOCKED:
        return None
    return ctx.reply("otp_locked", minutes=minutes_until(check.locked_until_ns, ctx.now_ns))
