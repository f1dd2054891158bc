"""The interop corpus: real SMPP PDUs written by node-smpp, smpplib and Kannel.

A copy of the team's shared corpus lives in `tests/data/interop/` (its README says what each scenario is), so the
tests read only files inside the repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INTEROP_PATH = Path(__file__).resolve().parent / "data" / "interop" / "pdus.jsonl"


def interop_records() -> list[dict[str, Any]]:
    """Every PDU of the corpus, one dict per line of pdus.jsonl, in file order."""
    return [json.loads(line) for line in INTEROP_PATH.read_text().splitlines() if line.strip()]
