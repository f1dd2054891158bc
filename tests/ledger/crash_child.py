"""Child process for the crash test: posts batches forever (bounded), reporting on stdout.

Before a batch: "B <first id> <last id>"; after its commit returned: "C <last id>". Ids continue
from the largest id in the ledger, so a restarted child resumes where the killed one stopped.
"""

from __future__ import annotations

import random
import sys

from sqlalchemy import func, select

from ledger import CreateTransferResult as R
from ledger import Transfer, TransferFlags, create_transfers, make_engine
from ledger.schema import transfers

MAX_BATCHES = 2_000  # bounded: the child stops by itself if nobody kills it
ACCOUNTS = 4


def main(url: str, seed: int) -> None:
    rng = random.Random(seed)
    engine = make_engine(url)
    with engine.connect() as conn:
        next_id = (conn.execute(select(func.max(transfers.c.id))).scalar() or 0) + 1
    for batch_no in range(MAX_BATCHES):
        batch = []
        for _ in range(rng.randrange(1, 150)):
            debit, credit = rng.sample(range(1, ACCOUNTS + 1), 2)
            # principal + fee as a linked chain
            batch.append(
                Transfer(
                    next_id,
                    debit,
                    credit,
                    rng.randrange(1, 1000),
                    "KES",
                    flags=TransferFlags.LINKED,
                )
            )
            batch.append(Transfer(next_id + 1, debit, 5, 3, "KES"))
            next_id += 2
        print(f"B {batch[0].id} {batch[-1].id}", flush=True)
        with engine.begin() as conn:
            results = create_transfers(conn, batch, now_ns=batch_no)
        assert results == [R.OK] * len(batch), results
        print(f"C {batch[-1].id}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
