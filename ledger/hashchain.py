"""The tamper-evidence chain: hash(n) = SHA-256(hash(n-1) || canonical bytes of transfer n).

The canonical encoding covers every immutable field of a transfer (not `kind`, which is derived
from the flags), so editing, deleting or reordering any row changes every later hash.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import Any

_FIXED = struct.Struct(">qqqqqiiqqq")
_sha256 = hashlib.sha256


def transfer_digest(previous: bytes, row: Mapping[str, Any]) -> bytes:
    user_data = row["user_data"]
    tail = b"\x00" if user_data is None else b"\x01" + user_data.encode()
    fixed = _FIXED.pack(
        row["seq"],
        row["id"],
        row["debit_account_id"],
        row["credit_account_id"],
        row["amount"],
        row["code"],
        row["flags"],
        row["pending_id"] or 0,
        row["timeout_s"],
        row["timestamp_ns"],
    )
    return _sha256(previous + fixed + row["currency"].encode() + tail).digest()
