"""benchmarks.profile's attribution of sampled CPU to pipeline stages, and its sampler."""

import threading
from pathlib import Path

from benchmarks import profile, profile_sampler

LEDGER = "get_balance (ledger/queries.py:66)"
FASTPATH = "BulkStatement.executemany (ledger/fastpath.py:160)"
ALCHEMY = "Connection.execute (sqlalchemy/engine/base.py:1400)"
ROOT = "thread: PoolThread-smscore-db-0;run (threading.py:975);transaction (daemon/db.py:88)"


def line(frames: list[str], cpu_ns: int) -> str:
    return ";".join([ROOT, *frames]) + f" {cpu_ns}"


def test_driver_time_is_its_own_stage_and_names_the_caller() -> None:
    lines = [line(["process_batch_txn (daemon/tranproc.py:150)", LEDGER, FASTPATH,
                   profile_sampler.DRIVER_FRAME], 3_000_000)]  # fmt: skip
    attribution = profile.attribute(lines)
    assert attribution.by_stage == {profile.DRIVER: 3_000_000}
    assert attribution.driver_by_caller == {"ledger": 3_000_000}


def test_sqlalchemy_counts_for_the_stage_that_called_it() -> None:
    frames = ["queue_sms_txn (daemon/outbox/__init__.py:74)", ALCHEMY]
    attribution = profile.attribute([line(frames, 5)])
    assert attribution.by_stage == {"outbox": 5}
    assert attribution.sqlalchemy_by_stage == {"outbox": 5}


def test_codec_inside_the_protocol_is_the_codec() -> None:
    frames = ["SMPPProtocol.dataReceived (smscore/protocol.py:152)",
              "decode_tlvs (smscore/tlv.py:123)"]  # fmt: skip
    assert profile.attribute([line(frames, 7)]).by_stage == {"codec": 7}


def test_start_up_is_not_counted_per_message() -> None:
    lines = [
        line(["_find_and_load (<frozen importlib._bootstrap>:1176)"], 9_000_000),
        line(["parse (daemon/commands/registry.py:200)"], 2_000_000),
    ]
    out = profile.summary(profile.attribute(lines), {"gc_cpu_ns": 1_000_000}, messages=1000)
    assert out["start_up_cpu_s"] == 0.01
    assert out["stages_ms_per_message"] == {"tranproc: command parse": 0.002}
    assert out["slowest_stage"] == "tranproc: command parse"
    assert out["of_which_gc_ms_per_message"] == 0.001


def test_short_paths_name_the_package() -> None:
    root = str(Path(profile_sampler.__file__).resolve().parent.parent) + "/"
    assert profile_sampler.short_path(root + "daemon/lis.py", root) == "daemon/lis.py"
    venv = root + ".venv/lib/python3.11/site-packages/twisted/internet/defer.py"
    assert profile_sampler.short_path(venv, root) == "twisted/internet/defer.py"
    stdlib = str(Path(threading.__file__))
    assert profile_sampler.short_path(stdlib, root) == "threading.py"


def test_the_sampler_adds_a_thread_s_cpu_to_its_stack(tmp_path: Path) -> None:
    go, worked, finish = threading.Event(), threading.Event(), threading.Event()

    def busy() -> None:
        go.wait(30)  # the baseline sample is taken while it waits
        sum(index * index for index in range(300_000))
        worked.set()
        finish.wait(30)  # still alive (and using no CPU) for the second sample

    sampler = profile_sampler.Sampler(tmp_path / "stacks.raw", interval_s=1.0)
    worker = threading.Thread(target=busy, name="busy-worker")
    worker.start()
    sampler.sample()  # first look: the baseline of every thread's CPU clock
    go.set()
    assert worked.wait(30)
    sampler.sample()
    finish.set()
    worker.join(30)
    used = {name: ns for (name, _key), ns in sampler.stacks.items()}
    assert used.get("busy-worker", 0) > 1_000_000  # > 1 ms of CPU for 300,000 squares
    sampler.dump()
    text = (tmp_path / "stacks.raw").read_text()
    assert "thread: busy-worker;" in text and "busy (tests/daemon/test_bench_profile.py:" in text
