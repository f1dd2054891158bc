"""The same SMS again within the dedupe window: never silence, never a second execution.

The LIS stores every MO (an SMSC's re-delivery and a person's repeat look the same); the TranProc answers a
repeat of a command without side effects afresh and a repeat of one with side effects with its first reply.
"""

import pytest
from sqlalchemy import select

from daemon.chart import deposit_txn, new_transfer_id
from daemon.commands import EVERYONE, REGISTERED, Reply
from daemon.commands.builtin import default_registry
from daemon.config import build_config
from daemon.lis import IncomingMo, write_batch_txn
from daemon.repeats import Earlier, RepeatIndex, Verdict
from daemon.schema import outbox
from daemon.subscribers import get_subscriber_txn
from daemon.tranproc import TranProcEnv, process_batch_txn
from ledger import get_balance
from tests.daemon.test_tranproc import ALICE, HASHER, NOW, SHORT_CODE, register

NS = 1_000_000_000
SECRET = b"k" * 32
WINDOW_S = 120
CONFIG = build_config({"inbox": {"dedupe_window_s": WINDOW_S}})
GIFT_MINOR = 500


def registry_with_gift():
    """The built-ins plus GIFT PIN: credits the sender's wallet (a command with side effects)."""
    registry = default_registry()

    @registry.command(
        "GIFT", args=[], roles=REGISTERED, side_effects=True, help={"en": "t", "sw": "t"}
    )
    def gift(ctx, args):
        assert ctx.subscriber is not None
        deposit_txn(
            ctx.conn, ctx.subscriber.account_id, GIFT_MINOR, "KES", ctx.now_ns,
            transfer_id=new_transfer_id(), user_data=f"inbox:{ctx.inbox_id}",
        )  # fmt: skip
        balance = get_balance(ctx.conn, ctx.subscriber.account_id)
        return Reply(f"Gift received. Balance {balance.available}.")

    @registry.command("OOPS", roles=EVERYONE, side_effects=True, help={"en": "t", "sw": "t"})
    def oops(ctx, args):
        raise RuntimeError("handler failed")

    return registry


@pytest.fixture
def env():
    return TranProcEnv.build(registry_with_gift(), CONFIG, HASHER)


def receive(engine, text: str, at_ns: int, source: str = ALICE) -> None:
    mo = IncomingMo("smsc1", source, SHORT_CODE, 0, text.encode(), None)
    with engine.begin() as conn:
        write_batch_txn(conn, [mo], [], None, at_ns, SECRET)


def process(engine, env, at_ns: int):
    with engine.begin() as conn:
        return process_batch_txn(conn, env, at_ns, 200)


def replies(engine) -> list[str]:
    with engine.begin() as conn:
        return list(conn.execute(select(outbox.c.text).order_by(outbox.c.id)).scalars())


def balance(engine) -> int:
    with engine.begin() as conn:
        return get_balance(conn, get_subscriber_txn(conn, ALICE).account_id).available


def test_a_repeated_balance_request_is_answered_both_times(engine, env):
    register(engine, deposit=10_000)
    receive(engine, "BAL 1234", NOW)
    process(engine, env, NOW)
    receive(engine, "BAL 1234", NOW + 3 * NS)
    result = process(engine, env, NOW + 3 * NS)
    assert result.repeats == 1 and result.done == 1 and result.replayed == 0
    assert replies(engine) == ["Your smscore balance is KES 100.00."] * 2


def test_a_repeated_wrong_pin_is_answered_every_time_and_counted_once(engine, env):
    register(engine)
    for second in range(3):  # one typo, delivered three times (an SMSC re-delivering it)
        receive(engine, "BAL 9999", NOW + second * NS)
        process(engine, env, NOW + second * NS)
    first, *again = replies(engine)
    assert first == "Wrong PIN. 2 attempt(s) left before your PIN is locked."
    assert (
        again
        == [f"You sent this message already, so nothing was done again. Our answer was: {first}"]
        * 2
    )
    with engine.begin() as conn:
        assert get_subscriber_txn(conn, ALICE).pin_failures == 1  # not locked by one typo
    receive(engine, "BAL 8888", NOW + 4 * NS)  # another wrong PIN is another failure
    process(engine, env, NOW + 4 * NS)
    assert replies(engine)[-1] == "Wrong PIN. 1 attempt(s) left before your PIN is locked."


def test_a_repeat_of_a_command_with_side_effects_runs_once_and_gets_its_reply_again(engine, env):
    register(engine, deposit=0)
    receive(engine, "GIFT", NOW)
    process(engine, env, NOW)
    receive(engine, "gift", NOW + NS)  # another text: a new request, it runs
    receive(engine, "GIFT", NOW + 2 * NS)  # the first text again: a repeat
    result = process(engine, env, NOW + 2 * NS)
    assert (result.done, result.replayed, result.repeats) == (1, 1, 1)
    assert balance(engine) == 2 * GIFT_MINOR
    first, second, repeat = replies(engine)
    assert first == "Gift received. Balance 500." and second == "Gift received. Balance 1000."
    assert repeat == (
        "You sent this message already, so nothing was done again. Our answer was: " + first
    )


def test_repeats_inside_one_batch_run_once(engine, env):
    register(engine, deposit=0)
    for offset in range(3):
        receive(engine, "GIFT", NOW + offset)
    result = process(engine, env, NOW + 3)
    assert (result.done, result.replayed, result.repeats) == (1, 2, 2)
    assert balance(engine) == GIFT_MINOR
    first, *repeats = replies(engine)
    assert all(text.endswith(first) and text.startswith("You sent this") for text in repeats)


def test_after_the_window_the_same_text_is_a_new_request(engine, env):
    register(engine, deposit=0)
    receive(engine, "GIFT", NOW)
    process(engine, env, NOW)
    later_ns = NOW + (WINDOW_S + 1) * NS
    receive(engine, "GIFT", later_ns)
    result = process(engine, env, later_ns)
    assert result.repeats == 0 and result.done == 1 and balance(engine) == 2 * GIFT_MINOR


def test_a_repeat_of_a_request_that_did_not_run_runs(engine, env):
    receive(engine, "OOPS", NOW)
    assert process(engine, env, NOW).failed == 1
    receive(engine, "OOPS", NOW + NS)
    result = process(engine, env, NOW + NS)
    assert result.failed == 1 and result.replayed == 0  # it ran again (and failed again)


def _earlier(row_id: int, status: str, error: str | None = None) -> Earlier:
    return Earlier(row_id, "key", NOW, status, "GIFT" if status != "new" else None, error)


class _Row:
    def __init__(self, row_id: int, at_ns: int = NOW + NS):
        self.id, self.dedupe_key, self.received_at_ns = row_id, "key", at_ns


@pytest.mark.parametrize(
    ("earlier", "expected"),
    [
        ([], Verdict.RUN),
        ([_earlier(1, "done")], Verdict.REPLAY),
        ([_earlier(1, "done", "pin_wrong")], Verdict.RUN),
        ([_earlier(1, "failed", "RuntimeError: x")], Verdict.RUN),
        ([_earlier(1, "new")], Verdict.WAIT),  # held by another TranProc (PostgreSQL)
        ([_earlier(1, "new"), _earlier(2, "done")], Verdict.REPLAY),
    ],
)
def test_verdicts(earlier, expected):
    index = RepeatIndex(WINDOW_S * NS)
    index.by_key["key"] = earlier
    assert index.verdict(_Row(5), "GIFT")[0] is expected
    too_late = _Row(5, NOW + (WINDOW_S + 1) * NS)
    assert index.verdict(too_late, "GIFT")[0] is Verdict.RUN
