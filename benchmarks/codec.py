"""Codec throughput: PDUs per second to encode and decode a 160-character submit_sm and deliver_sm.

Ours (smscore.codec) against smpplib 2.2.4 and a bare hand-written `struct` encoder/decoder (no
validation, no TLVs: the practical ceiling for pure Python), all measured in the same run.
Prints one JSON object. Run: .venv/bin/python benchmarks/codec.py
"""

import json
import platform
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from smpplib import smpp

from smscore.codec import decode, encode
from smscore.pdu import DeliverSm, SubmitSm

TEXT = (b"Confirmed. Ksh1,000.50 sent to JOHN DOE 254712345678 on 23/11/26 at 12:00 PM. " * 3)[:160]
assert len(TEXT) == 160
FIELDS: dict[str, Any] = {
    "service_type": "",
    "source_addr_ton": 5,
    "source_addr_npi": 0,
    "source_addr": "MPESA",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "destination_addr": "254712345678",
    "esm_class": 0,
    "protocol_id": 0,
    "priority_flag": 0,
    "schedule_delivery_time": "",
    "validity_period": "",
    "registered_delivery": 1,
    "replace_if_present_flag": 0,
    "data_coding": 0,
    "sm_default_msg_id": 0,
    "short_message": TEXT,
}
OURS = {"submit_sm": SubmitSm, "deliver_sm": DeliverSm}
COMMAND_IDS = {"submit_sm": 4, "deliver_sm": 5}
REPEATS = 7
ROUND_S = 0.2


class _Client:
    sequence = 0

    def next_sequence(self) -> int:
        return 1


# --- the bare struct baseline: the same wire format, no checks --------------------------------

_HEADER = struct.Struct(">IIII")
_TON_NPI = struct.Struct(">BB")


def struct_encode(command_id: int, seq: int, f: dict[str, Any]) -> bytes:
    body = b"".join(
        (
            f["service_type"].encode() + b"\0",
            _TON_NPI.pack(f["source_addr_ton"], f["source_addr_npi"]),
            f["source_addr"].encode() + b"\0",
            _TON_NPI.pack(f["dest_addr_ton"], f["dest_addr_npi"]),
            f["destination_addr"].encode() + b"\0",
            bytes((f["esm_class"], f["protocol_id"], f["priority_flag"])),
            f["schedule_delivery_time"].encode() + b"\0",
            f["validity_period"].encode() + b"\0",
            bytes((f["registered_delivery"], f["replace_if_present_flag"], f["data_coding"])),
            bytes((f["sm_default_msg_id"], len(f["short_message"]))),
            f["short_message"],
        )
    )
    return _HEADER.pack(16 + len(body), command_id, 0, seq) + body


def _cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode("latin-1"), end + 1


def struct_decode(data: bytes) -> dict[str, Any]:
    _, command_id, status, seq = _HEADER.unpack_from(data)
    f: dict[str, Any] = {"command_id": command_id, "status": status, "seq": seq}
    f["service_type"], pos = _cstr(data, 16)
    f["source_addr_ton"], f["source_addr_npi"] = data[pos], data[pos + 1]
    f["source_addr"], pos = _cstr(data, pos + 2)
    f["dest_addr_ton"], f["dest_addr_npi"] = data[pos], data[pos + 1]
    f["destination_addr"], pos = _cstr(data, pos + 2)
    f["esm_class"], f["protocol_id"], f["priority_flag"] = data[pos], data[pos + 1], data[pos + 2]
    f["schedule_delivery_time"], pos = _cstr(data, pos + 3)
    f["validity_period"], pos = _cstr(data, pos)
    f["registered_delivery"], f["replace_if_present_flag"] = data[pos], data[pos + 1]
    f["data_coding"], f["sm_default_msg_id"] = data[pos + 2], data[pos + 3]
    length = data[pos + 4]
    f["short_message"] = data[pos + 5 : pos + 5 + length]
    return f


# --- measurement -------------------------------------------------------------------------------


def _batch_size(operation: Callable[[], object]) -> int:
    """How many calls take about ROUND_S seconds."""
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            operation()
        elapsed = time.perf_counter() - start
        if elapsed >= ROUND_S / 4:
            return max(1, int(batch * ROUND_S / elapsed))
        batch *= 4


def per_second(operations: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Calls per second of each operation: best of REPEATS rounds, the operations interleaved.

    Interleaving puts ours, smpplib's and the struct baseline under the same background load;
    the best round is the one least disturbed by other work on the machine.
    """
    batches = {label: _batch_size(operation) for label, operation in operations.items()}
    best = dict.fromkeys(operations, float("inf"))
    for _ in range(REPEATS):
        for label, operation in operations.items():
            batch = batches[label]
            start = time.perf_counter()
            for _ in range(batch):
                operation()
            best[label] = min(best[label], (time.perf_counter() - start) / batch)
    return {label: 1 / seconds for label, seconds in best.items()}


def bench_command(name: str) -> dict[str, float]:
    client = _Client()
    ours = OURS[name](sequence_number=7, **FIELDS)
    wire = encode(ours)
    theirs = smpp.make_pdu(name, client=client, **FIELDS)
    theirs.sequence = 7
    # All three write the same octets and read the same fields, or the race means nothing.
    assert theirs.generate() == wire == struct_encode(COMMAND_IDS[name], 7, FIELDS)
    assert decode(wire) == ours
    assert (
        smpp.parse_pdu(wire, client=client).short_message
        == TEXT
        == struct_decode(wire)["short_message"]
    )
    figures: dict[str, float] = {}
    for op, candidates in (
        (
            "encode",
            {
                "ours": lambda: encode(ours),
                "smpplib": theirs.generate,
                "struct": lambda: struct_encode(COMMAND_IDS[name], 7, FIELDS),
            },
        ),
        (
            "decode",
            {
                "ours": lambda: decode(wire),
                "smpplib": lambda: smpp.parse_pdu(wire, client=client),
                "struct": lambda: struct_decode(wire),
            },
        ),
    ):
        rates = per_second(candidates)
        for label, rate in rates.items():
            figures[f"{op}_{name}_{label}_per_s"] = rate
        figures[f"{op}_{name}_ratio"] = rates["ours"] / rates["smpplib"]
        figures[f"{op}_{name}_vs_struct_ratio"] = rates["ours"] / rates["struct"]
    return figures


def main() -> None:
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "codec",
        "message_octets": len(TEXT),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    for name in ("submit_sm", "deliver_sm"):
        figures = bench_command(name)
        result.update({k: round(v, 2) if "ratio" in k else round(v) for k, v in figures.items()})
    ratios = [v for k, v in result.items() if k.endswith("_ratio") and "struct" not in k]
    result["min_ratio_vs_smpplib"] = round(min(ratios), 2)
    result["target_ratio"] = 15
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
