"""CPU instructions per PDU (valgrind callgrind): ours vs smpplib, encode and decode, 160-char PDUs.

Unlike PDUs/s, instruction counts do not change with the machine's load, so this is the figure to
compare across commits on a shared machine. Each figure is (instructions of a run doing N operations
minus a run doing none) / N. Needs `valgrind` (Debian package). Prints one JSON object (~1 minute).

    .venv/bin/python benchmarks/codec_instructions.py [--operations 5000]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKLOAD = r"""
import sys
sys.path.insert(0, {root!r})
import smpplib.client, smpplib.smpp
from smscore.codec import decode, encode
from smscore.pdu import DeliverSm, SubmitSm

FIELDS = dict(source_addr="12345", source_addr_ton=5, destination_addr="254712345678",
              dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1, short_message=b"x" * 160)
which, command, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ours = (SubmitSm if command == "submit_sm" else DeliverSm)(sequence_number=7, **FIELDS)
wire = encode(ours)
client = smpplib.client.Client("127.0.0.1", 1)
theirs = smpplib.smpp.make_pdu(command, client=client, **FIELDS)
theirs.sequence = 7
work = {{
    "encode_ours": lambda: encode(ours),
    "decode_ours": lambda: decode(wire),
    "encode_smpplib": theirs.generate,
    "decode_smpplib": lambda: smpplib.smpp.parse_pdu(wire, client=client),
}}[which]
for _ in range(n):
    work()
"""


def instructions(script: Path, args: list[str]) -> int:
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(script),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # dict layouts, hence counts, repeat exactly
    )
    match = re.search(r"refs:\s+([\d,]+)", run.stderr)
    if match is None:
        raise SystemExit(f"no instruction count from valgrind: {run.stderr[-300:]}")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=5000)
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    result: dict[str, object] = {
        "benchmark": "codec_instructions",
        "operations": options.operations,
    }
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "workload.py"
        script.write_text(WORKLOAD.format(root=str(ROOT)))
        for command in ("submit_sm", "deliver_sm"):
            for op in ("encode", "decode"):
                per_op = {}
                for who in ("ours", "smpplib"):
                    which = f"{op}_{who}"
                    n = options.operations if who == "ours" else max(options.operations // 10, 200)
                    empty = instructions(script, [which, command, "0"])
                    full = instructions(script, [which, command, str(n)])
                    per_op[who] = (full - empty) / n
                    result[f"{op}_{command}_{who}_instructions"] = round(per_op[who])
                result[f"{op}_{command}_ratio"] = round(per_op["smpplib"] / per_op["ours"], 2)
    ratios = [value for key, value in result.items() if key.endswith("_ratio")]
    result["min_ratio_vs_smpplib"] = min(ratios)  # type: ignore[type-var]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
