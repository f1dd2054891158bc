"""Random sequences of ledger operations against the pure-Python model, on SQLite and PostgreSQL.

After every step the result codes, every balance and the set of expired transfers agree with the
model, and check_ledger finds no violation.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine

from ledger import (
    Account,
    AccountFlags,
    Transfer,
    TransferFlags,
    check_ledger,
    create_accounts,
    create_transfers,
    expire_pending_transfers,
    get_accounts,
)
from ledger.model import INT64_MAX
from tests.ledger.helpers import reset
from tests.ledger.model import ModelLedger

S = 1_000_000_000
# Mostly valid input (so money moves and states are reached), some of every kind of bad input.
ACCOUNT_IDS = st.sampled_from([1, 2, 3, 4] * 8 + [5, 0, 7])  # 5 is USD; 0 and 7 never exist
TRANSFER_IDS = st.integers(1, 150)  # small enough that ids sometimes repeat
CURRENCIES = st.sampled_from(["KES"] * 12 + ["USD", "", "xx"])
AMOUNTS = st.one_of(
    st.integers(1, 300),
    st.integers(1, 300),
    st.integers(1, 300),
    st.sampled_from([0, -1, INT64_MAX - 100, INT64_MAX, 2**63]),
)
ACCOUNT_FLAGS = st.sampled_from(
    [
        AccountFlags.NONE,
        AccountFlags.NONE,
        AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
        AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    ]
)
F = TransferFlags
KIND_FLAGS = st.sampled_from(
    [F.NONE] * 8
    + [F.PENDING] * 6
    + [F.POST_PENDING] * 4
    + [F.VOID_PENDING] * 2
    + [F.PENDING | F.CLOSING_DEBIT, F.PENDING | F.CLOSING_CREDIT, F.POST_PENDING | F.PENDING]
)
LINK = st.sampled_from([F.NONE] * 5 + [F.LINKED])


@st.composite
def transfers(draw: st.DrawFn, pending_ids: list[int]) -> Transfer:
    flags = draw(KIND_FLAGS) | draw(LINK)
    resolving = flags & (F.POST_PENDING | F.VOID_PENDING)
    pending_id = 0
    if resolving:
        known = st.sampled_from(pending_ids) if pending_ids else TRANSFER_IDS
        pending_id = draw(st.one_of(known, known, known, TRANSFER_IDS))
    if resolving and draw(st.booleans()):  # posts/voids mostly inherit their fields
        return Transfer(
            id=draw(TRANSFER_IDS),
            amount=draw(st.sampled_from([0, 0, 0, 1, 50, 600])),
            flags=flags,
            pending_id=pending_id,
            user_data=draw(st.sampled_from([None, "u1"])),
        )
    debit = draw(ACCOUNT_IDS)
    credit = draw(st.one_of(ACCOUNT_IDS.filter(lambda a: a != debit), ACCOUNT_IDS))
    return Transfer(
        id=draw(TRANSFER_IDS),
        debit_account_id=debit,
        credit_account_id=credit,
        amount=draw(AMOUNTS),
        currency=draw(CURRENCIES),
        code=draw(st.sampled_from([0, 0, 7])),
        flags=flags,
        pending_id=pending_id,
        timeout_s=draw(st.sampled_from([0, 1, 3])) if flags & F.PENDING else 0,
        user_data=draw(st.sampled_from([None, "u1", "u2"])),
    )


class LedgerMachine(RuleBasedStateMachine):
    engine: Engine  # set on a subclass per database

    def __init__(self) -> None:
        super().__init__()
        with self.engine.begin() as conn:
            reset(conn)
        self.model = ModelLedger()
        self.now_ns = 100 * S
        self.submitted: list[list[Transfer]] = []

    @rule(
        batch=st.lists(
            st.builds(
                Account,
                id=st.integers(0, 7),
                currency=st.sampled_from(["KES", "KES", "USD", "usd"]),
                code=st.just(300),
                flags=ACCOUNT_FLAGS,
            ),
            min_size=1,
            max_size=3,
        )
    )
    def create_accounts(self, batch: list[Account]) -> None:
        with self.engine.begin() as conn:
            got = create_accounts(conn, batch, now_ns=self.now_ns)
        assert got == [self.model.create_account(a) for a in batch]

    @initialize(flags=st.lists(ACCOUNT_FLAGS, min_size=5, max_size=5))
    def open_accounts(self, flags: list[AccountFlags]) -> None:
        """Accounts 1-4 in KES, 5 in USD; 1 is an open account that funds the others."""
        batch = [Account(1, "KES", code=100)]
        batch += [Account(i, "KES", code=300, flags=flags[i]) for i in (2, 3, 4)]
        batch.append(Account(5, "USD", code=300, flags=flags[0]))
        self.create_accounts(batch)

    @rule(data=st.data())
    def create_transfers(self, data: st.DataObject) -> None:
        pending_ids = sorted(self.model.status)
        batch = data.draw(st.lists(transfers(pending_ids), min_size=1, max_size=8))
        self.submitted.append(batch)
        self._submit(batch)

    @precondition(lambda self: self.submitted)
    @rule(data=st.data())
    def resubmit(self, data: st.DataObject) -> None:
        """A client retries an earlier batch unchanged: what succeeded then now says EXISTS."""
        self._submit(data.draw(st.sampled_from(self.submitted)))

    def _submit(self, batch: list[Transfer]) -> None:
        with self.engine.begin() as conn:
            got = create_transfers(conn, batch, now_ns=self.now_ns)
        assert got == self.model.create_transfers(batch, self.now_ns)

    @rule(seconds=st.integers(0, 4), sweep=st.booleans())
    def time_passes(self, seconds: int, sweep: bool) -> None:
        """The clock moves on; sometimes the sweeper expires what is due."""
        self.now_ns += seconds * S
        if not sweep:
            return
        with self.engine.begin() as conn:
            got = expire_pending_transfers(conn, now_ns=self.now_ns)
        assert got == self.model.expire(self.now_ns)

    @invariant()
    def balances_and_invariants_agree(self) -> None:
        with self.engine.connect() as conn:
            stored = get_accounts(conn, range(1, 8))
            report = check_ledger(conn)
        assert report.ok, report.violations
        assert set(stored) == set(self.model.accounts)
        for account_id, model in self.model.accounts.items():
            record = stored[account_id]
            assert (
                record.debits_posted,
                record.credits_posted,
                record.debits_pending,
                record.credits_pending,
                int(record.flags),
            ) == (model.dp, model.cp, model.dpend, model.cpend, model.flags)


def test_ledger_matches_model(engine: Engine) -> None:
    machine = type("BoundLedgerMachine", (LedgerMachine,), {"engine": engine})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
