"""benchmarks.profile's attribution of py-spy's samples to pipeline stages."""

from benchmarks import profile

LEDGER = "get_balance (ledger/queries.py:66)"
FASTPATH = "BulkStatement.executemany (ledger/fastpath.py:160)"
ALCHEMY = "Connection.execute (sqlalchemy/engine/base.py:1400)"
SQLITE = "sqlite3VdbeExec (libsqlite3.so.0.8.6)"
ROOT = "thread (15741): PoolThread-smscore-db-0;0x7f4e865278ec (libc.so.6);transaction (daemon/db.py:88)"


def line(frames: list[str], count: int) -> str:
    return ";".join([ROOT, *frames]) + f" {count}"


def test_driver_time_is_its_own_stage_and_names_the_caller() -> None:
    frames = ["process_batch_txn (daemon/tranproc.py:150)", LEDGER, FASTPATH, SQLITE]
    attribution = profile.attribute([line(frames, 30)])
    assert attribution.by_stage == {profile.DRIVER: 30}
    assert attribution.driver_by_caller == {"ledger": 30}


def test_sqlalchemy_counts_for_the_stage_that_called_it() -> None:
    frames = ["queue_sms_txn (daemon/outbox/__init__.py:74)", ALCHEMY]
    attribution = profile.attribute([line(frames, 5)])
    assert attribution.by_stage == {"outbox": 5}
    assert attribution.sqlalchemy_by_stage == {"outbox": 5}


def test_codec_inside_the_protocol_is_the_codec() -> None:
    frames = ["SMPPProtocol.dataReceived (smscore/protocol.py:152)",
              "decode_tlvs (smscore/tlv.py:123)"]  # fmt: skip
    assert profile.attribute([line(frames, 7)]).by_stage == {"codec": 7}


def test_a_thread_blocked_in_c_is_no_cpu() -> None:
    commit = ["pysqlite_connection_commit_impl (connection.c:571)", "fdatasync (libc.so.6)"]
    gil = ["decode_tlvs (smscore/tlv.py:123)", "pthread_cond_timedwait (libc.so.6)",
           "0x7f4e864a3f16 (libc.so.6)"]  # fmt: skip
    attribution = profile.attribute([line(commit, 40), line(gil, 2), line([LEDGER], 8)])
    assert (attribution.samples, attribution.waiting) == (50, 42)
    assert attribution.by_stage == {"ledger": 8}


def test_collections_are_their_own_stage() -> None:
    frames = [LEDGER, "gc_collect_main (libpython3.11.so.1.0)"]
    attribution = profile.attribute([line(frames, 3)])
    assert attribution.by_stage == {profile.GC: 3}


def test_scaled_to_the_measured_cpu_and_start_up_apart() -> None:
    lines = [
        line(["_find_and_load (<frozen importlib._bootstrap>:1176)"], 10),
        line(["parse (daemon/commands/registry.py:200)"], 30),
        line(["RepeatIndex.load (daemon/repeats.py:117)"], 10),
        line(["fdatasync (libc.so.6)"], 100),  # waiting: not in the scale
    ]
    out = profile.summary(profile.attribute(lines), daemon_cpu_s=5.0, messages=1000)
    # 50 CPU samples for 5 s: 0.1 s each, 0.1 ms per message each
    assert out["start_up_cpu_s"] == 1.0
    assert out["stages_ms_per_message"] == {"tranproc: command parse": 3.0,
                                            "tranproc: repeats": 1.0}  # fmt: skip
    assert out["slowest_stage"] == "tranproc: command parse"
    assert out["daemon_cpu_ms_per_message_running"] == 4.0


def test_the_bal_pipeline_answers_and_delivers_every_bal(tmp_path) -> None:
    from benchmarks import bal_pipeline

    out = bal_pipeline.measure(tmp_path, subscribers=10, batches=2, batch=5, calls=True)
    assert out["bal"] == 10
    assert out["outbox_by_status"] == {"delivered": 10}  # every receipt matched its reply's part
    assert all(out[f"{phase}_python_calls_per_bal"] > 0 for phase in bal_pipeline.PHASES)
