"""Many threads post overlapping transfers at once: no deadlock, exact balances, invariants hold."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from ledger import (
    Account,
    CreateTransferResult,
    Transfer,
    TransferFlags,
    check_ledger,
    create_accounts,
    create_transfers,
    get_accounts,
)

THREADS = 8
BATCHES_PER_THREAD = 15
ACCOUNTS = 6  # few accounts: every batch touches accounts other threads hold


def worker(engine: Engine, index: int, start: threading.Barrier) -> Counter:
    """Post batches of plain transfers and pending+post pairs; return the net effect per account."""
    rng = random.Random(index)
    net: Counter = Counter()
    start.wait()
    for batch_no in range(BATCHES_PER_THREAD):
        base = (index * BATCHES_PER_THREAD + batch_no) * 100
        batch = []
        for k in range(0, 20, 2):
            debit, credit = rng.sample(range(1, ACCOUNTS + 1), 2)
            amount = rng.randrange(1, 100)
            pending = TransferFlags.PENDING | TransferFlags.LINKED
            batch.append(Transfer(base + k + 1, debit, credit, amount, "KES", flags=pending))
            batch.append(
                Transfer(base + k + 2, pending_id=base + k + 1, flags=TransferFlags.POST_PENDING)
            )
            net[debit] -= amount
            net[credit] += amount
        with engine.begin() as conn:
            results = create_transfers(conn, batch, now_ns=batch_no)
        assert results == [CreateTransferResult.OK] * len(batch)
    return net


def test_concurrent_writers_keep_exact_balances(engine: Engine) -> None:
    with engine.begin() as conn:
        create_accounts(conn, [Account(i, "KES") for i in range(1, ACCOUNTS + 1)], 0)
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(worker, engine, i, start) for i in range(THREADS)]
        nets = [future.result(timeout=120) for future in futures]
    expected: Counter = Counter()
    for net in nets:
        expected.update(net)  # update() adds signed counts; `+` would drop negative ones
    with engine.connect() as conn:
        report = check_ledger(conn)
        stored = get_accounts(conn, range(1, ACCOUNTS + 1))
    assert report.ok, report.violations
    assert report.transfer_count == THREADS * BATCHES_PER_THREAD * 20
    for account_id, record in stored.items():
        assert record.credits_posted - record.debits_posted == expected[account_id]
        assert record.debits_pending == record.credits_pending == 0
