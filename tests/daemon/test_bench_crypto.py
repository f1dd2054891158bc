"""`smscore bench crypto` prints its figures as JSON (benchmarks/crypto.py)."""

import json

from click.testing import CliRunner

from daemon.cli import main


def test_bench_crypto_prints_every_figure() -> None:
    result = CliRunner().invoke(main, ["bench", "crypto", "--seconds", "0.02"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    for name in (
        "device_keys_per_s",
        "frame_open_per_s",
        "offline_verify_per_s",
        "offline_sign_per_s",
    ):
        assert figures[name] > 0
    assert figures["offline_body_octets"] == 117
