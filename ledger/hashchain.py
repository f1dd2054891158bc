"""The tamper-evidence chain: hash(n) = SHA-256(hash(n-1) || canonical bytes of transfer n).

The canonical encoding covers every immutable field of a transfer (not `kind`, which is derived
from the flags), so editing, deleting or reordering any row changes every later hash.
"""

from __future__ import annotations

import hashlib
import struct

_FIXED = struct.Struct(">qqqqqiiqqq")
_sha256 = hashlib.sha256
HASH_BYTES = _sha256().digest_size  # 32


def transfer_digest(previous: bytes, seq: int, fields: tuple, timestamp_ns: int) -> bytes:
    """`fields`: id, debit, credit, amount, currency, code, flags, pending_id, timeout_s, user_data."""
    (id_, debit, credit, amount, currency, code, flags, pending_id, timeout_s, user_data) = fields
    tail = b"\x00" if user_data is None else b"\x01" + user_data.encode()
    fixed = _FIXED.pack(
        seq, id_, debit, credit, amount, code, flags, pending_id or 0, timeout_s, timestamp_ns
    )
    return _sha256(previous + fixed + currency.encode() + tail).digest()


def chain_genesis(chain: int) -> bytes:
    """Where chain `chain` starts. Chain 1 starts from zeros, as the single chain did before the
    ledger had several (an existing ledger is chain 1 unchanged); each other chain from its own
    value, so two whole chains cannot trade places unnoticed."""
    if chain == 1:
        return bytes(HASH_BYTES)
    return _sha256(b"smscore ledger chain " + str(chain).encode()).digest()
