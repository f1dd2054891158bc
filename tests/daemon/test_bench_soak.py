"""`smscore bench soak`, tiny: 4 s at 25 MO/s of BAL and SEND through the SMSC simulator and a real
daemon process on 127.0.0.1, sampled every second; the JSON has its samples and summary, every MO is
acknowledged and answered, every SEND's payee is told, and the plot is written. Speed is not tested.
Then the summary's arithmetic on made-up samples: the slopes, the verdict and its bounds."""

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.soak import SoakPlan, parse_mix
from benchmarks.soak_plot import main as replot
from benchmarks.soak_stats import Totals, fit, queue_depths, slope_per_s, summary
from benchmarks.soak_tracemalloc import Snapshots, backrefs, report
from daemon.cli import main

REPO = Path(__file__).resolve().parent.parent.parent
RATE, DURATION_S = 25, 4
RUN_TIMEOUT_S = 240
SAMPLE_KEYS = {
    "t_s", "phase", "daemon_rss_kib", "daemon_cpu_s", "daemon_cpu_pct", "bench_rss_kib",
    "loadavg_1m", "sent", "acknowledged", "answered", "notices", "answered_per_s",
    "latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "latency_ms_max",
}  # fmt: skip


@pytest.fixture(scope="module")
def soak_run(tmp_path_factory) -> tuple[int, dict, Path]:
    work = tmp_path_factory.mktemp("bench-soak")
    plot = work / "soak.png"
    command = [sys.executable, "-m", "benchmarks.soak", "--rate", str(RATE), "--duration-s",
               str(DURATION_S), "--sample-s", "1", "--warmup-s", "1", "--subscribers", "300",
               "--drain-s", "60", "--plot", str(plot), "--keep-dir", str(work / "run"),
               "--samples-file", str(work / "samples.jsonl")]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.stdout, done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout), work


def test_every_mo_is_acknowledged_and_answered_and_every_payee_told(soak_run):
    returncode, result, _ = soak_run
    summary = result["summary"]
    assert returncode == 0 and summary["all_answered"] is True, summary
    total = RATE * DURATION_S
    assert summary["sent"] == summary["acknowledged"] == summary["answered"] == total
    assert summary["ack_failed"] == summary["unexpected_replies"] == 0
    kinds = summary["replies_by_kind"]
    assert set(kinds) == {"balance", "confirmation"}, summary["other_reply_samples"]
    assert kinds["balance"] + kinds["confirmation"] == total
    assert summary["notices"] == kinds["confirmation"]  # each posted SEND told its payee once
    assert summary["sent_by_kind"]["SEND"] == kinds["confirmation"]
    assert summary["sent_by_kind"]["BAL"] == kinds["balance"]
    assert result["sends_posted_once"] is True
    assert result["simulator"]["mo_acknowledged"] == total
    database = result["database"]
    assert database["inbox_by_status"] == {"done": total}
    assert database["moves_by_state"] == {"posted": kinds["confirmation"]}
    assert result["daemon_exit"] == 0


def test_the_json_has_a_sample_per_interval_and_a_summary(soak_run):
    _, result, _ = soak_run
    samples = result["samples"]
    assert len(samples) >= DURATION_S
    for sample in samples:
        assert set(sample) >= SAMPLE_KEYS, SAMPLE_KEYS - set(sample)
        assert sample["daemon_rss_kib"] > 0 and sample["phase"] in {"warmup", "steady", "drain"}
    assert [s["t_s"] for s in samples] == sorted(s["t_s"] for s in samples)
    assert sum(s["sent"] for s in samples) == RATE * DURATION_S  # each MO in one interval
    assert sum(s["answered"] for s in samples) == RATE * DURATION_S
    assert any("inbox_new" in s.get("queues", {}) for s in samples)  # from /metrics
    summary = result["summary"]
    assert summary["verdict"] in {"flat", "not flat"}
    assert summary["bounds"] == {"rss_slope_mib_per_h": 10.0, "p99_slope_ms_per_min": 2.0}
    assert isinstance(summary["rss_slope_mib_per_h"], float)
    assert isinstance(summary["p99_slope_ms_per_min"], float)
    assert {"cores", "cpu_model", "ram_mib", "date"} <= set(result["machine"])
    assert result["plan"]["mix"] == [["BAL", 0.5], ["SEND", 0.5]]


def test_the_plot_is_written_and_each_sample_was_written_as_it_was_taken(soak_run):
    _, result, work = soak_run
    assert (work / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (work / "samples.jsonl").read_text().splitlines()
    assert sorted((json.loads(line) for line in lines), key=lambda s: s["t_s"]) == result["samples"]


def test_a_saved_run_is_redrawn_with_its_trend_recomputed(soak_run, tmp_path, capsys):
    result = json.loads(json.dumps(soak_run[1]))  # a copy: the fixture is shared
    saved = tmp_path / "result.json"
    del result["summary"]["rss_flat"]  # as if written by older code
    saved.write_text(json.dumps(result))
    assert replot([str(saved), str(tmp_path / "again.png")]) == 0
    assert json.loads(capsys.readouterr().out)["rss_flat"] in {True, False}
    assert (tmp_path / "again.png").read_bytes()[:4] == b"\x89PNG"


def test_the_cli_runs_the_soak_benchmark():
    result = CliRunner().invoke(main, ["bench", "--help"])
    assert result.exit_code == 0 and "soak" in result.output


# --- the summary, on made-up samples


def samples_of(rss_kib, p99_ms, step_s=10.0, warmup=1):
    return [
        {"t_s": (i + 1) * step_s, "phase": "warmup" if i < warmup else "steady",
         "daemon_rss_kib": rss, "latency_ms_p99": p99, "loadavg_1m": 1.0}
        for i, (rss, p99) in enumerate(zip(rss_kib, p99_ms, strict=True))
    ]  # fmt: skip


def test_the_slope_is_least_squares_per_second():
    assert slope_per_s([(0, 1.0), (10, 21.0), (20, 41.0)]) == pytest.approx(2.0)
    assert slope_per_s([(0, 5.0), (10, 1.0), (20, 5.0)]) == pytest.approx(0.0)
    assert slope_per_s([(0, 1.0), (10, 2.0)]) is None  # too few to say
    assert fit([(0, 1.0), (10, 21.0), (20, 41.0)]) == pytest.approx((2.0, 0.0))
    # Residuals +1, -2, +1 about the line: s = sqrt(6 / 1), spread of t = 200.
    assert fit([(0, 1.0), (10, -2.0), (20, 1.0)]) == pytest.approx((0.0, (6 / 200) ** 0.5))


def test_steady_memory_and_latency_are_flat_and_the_warmup_is_left_out():
    # The warm-up sample (a low RSS before the caches filled) would make a steep slope.
    flat = summary(samples_of([1_000, *[100_000] * 10], [900, *[50, 60] * 5]), Totals())
    assert flat["verdict"] == "flat" and flat["steady_samples"] == 10
    assert flat["rss_slope_mib_per_h"] == pytest.approx(0.0)
    assert flat["rss_flat"] is True and flat["p99_flat"] is True


def test_memory_that_grows_is_not_flat():
    # +100 KiB every 10 s is ~35 MiB per hour: over the 10 MiB/h bound.
    growing = summary(samples_of([100_000 + 100 * i for i in range(11)], [50] * 11), Totals())
    assert growing["verdict"] == "not flat"
    assert growing["rss_flat"] is False and growing["p99_flat"] is True
    assert growing["rss_slope_mib_per_h"] == pytest.approx(100 / 10 * 3600 / 1024, rel=1e-3)
    assert summary(samples_of([100_000 + 100 * i for i in range(11)], [50] * 11), Totals(),
                   rss_bound_mib_per_h=40)["verdict"] == "flat"  # fmt: skip


def test_latency_that_grows_is_not_flat():
    rising = summary(samples_of([100_000] * 11, [50 + 5 * i for i in range(11)]), Totals())
    assert rising["verdict"] == "not flat"
    assert rising["p99_slope_ms_per_min"] == pytest.approx(30.0)  # 5 ms per 10 s


def test_a_run_with_too_few_steady_samples_has_no_verdict():
    assert summary(samples_of([1, 2, 3], [1, 2, 3], warmup=2), Totals())["verdict"] == "too short"


def test_an_unanswered_mo_is_not_all_answered_and_a_reply_more_is_counted():
    totals = Totals(sent=3, acked=3, answered=2)
    assert summary([], totals)["all_answered"] is False
    totals.answered = 3
    assert summary([], totals)["all_answered"] is True
    totals.unexpected_reply("Your balance is KES 5,000.00.")  # an SMSC re-delivery's answer
    found = summary([], totals)
    assert found["all_answered"] is True and found["unexpected_replies"] == 1
    assert found["unexpected_reply_samples"] == ["Your balance is KES 5,000.00."]


def test_the_mix_is_read_and_normalised():
    assert parse_mix("BAL=60,SEND=40") == (("BAL", 0.6), ("SEND", 0.4))
    assert parse_mix("send=1") == (("SEND", 1.0),)
    assert SoakPlan(mix=parse_mix("BAL=1")).send_share == 0.0
    for bad, problem in (("PAY=1", "'PAY' is not one of"), ("BAL=x", "needs a number"),
                         ("BAL=0", "add up to nothing"), ("BAL=-1", "negative")):  # fmt: skip
        with pytest.raises(ValueError, match=problem):
            parse_mix(bad)


def test_queue_depths_come_from_the_metrics_text():
    text = (
        "# HELP smscore_queue_depth Rows waiting\n# TYPE smscore_queue_depth gauge\n"
        'smscore_queue_depth{queue="inbox",state="new"} 7.0\n'
        'smscore_queue_depth{queue="outbox",state="queued"} 3.0\n'
        "# HELP other_metric x\n# TYPE other_metric gauge\nother_metric 1.0\n"
    )
    assert queue_depths(text) == {"inbox_new": 7, "outbox_queued": 3}


# --- where memory goes: tracemalloc snapshots, their report, and what keeps the objects

KEPT: list = []  # what the "leak" below grows: a module keeps it


def leak(blocks: int) -> None:
    KEPT.extend([f"block {n}", bytearray(1000)] for n in range(blocks))


@pytest.fixture
def tracing():
    tracemalloc.start(10)
    yield
    tracemalloc.stop()
    KEPT.clear()


def test_the_report_names_the_line_that_keeps_growing(tracing, tmp_path):
    snapshots = Snapshots(tmp_path, start_after_s=0, interval_s=60, frames=10)
    for _ in range(3):
        snapshots.take()
        leak(200)
    snapshots.take()
    found = report(tmp_path, first=0, top=3)
    assert found["snapshots"] == [f"snapshot-{n:04d}.pickle" for n in range(4)]
    [biggest] = [site for site in found["top"] if "test_bench_soak.py" in site["frames"][-1]][:1]
    assert biggest["size_diff_kib"] > 400  # 600 blocks of 1 kB
    sizes = biggest["kib_by_snapshot"]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # growing in every snapshot


def test_backrefs_find_the_module_that_keeps_what_grew(tracing, tmp_path):
    before = tracemalloc.take_snapshot()
    leak(300)
    sites = backrefs(before)
    ours = [site for site in sites if any("test_bench_soak.py" in f for f in site["allocated_at"])]
    assert ours and ours[0]["kept_by"], sites
    chain = ours[0]["kept_by"][0]
    assert chain[0].startswith("builtins.module:") and "test_bench_soak" in chain[0]
    assert chain[-1].startswith("builtins.list:") or chain[-1].startswith("builtins.bytearray:")
