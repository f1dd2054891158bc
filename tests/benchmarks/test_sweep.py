"""The sweep on synthetic points: the knee finder, the rates it runs (given, or doubling until the
workload saturates), the JSON and the PNG; and its command-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.sweep import SweepSettings, knee, parse_rates, plot, point_of, sweep
from daemon.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def point(offered: float, sustained: float, p99: float, p50: float | None = None) -> dict:
    return point_of({
        "offered_rate_per_s": offered, "sustained_rate_per_s": sustained,
        "latency_ms": {"p50": p50 or p99 / 4, "p95": p99 / 2, "p99": p99, "max": p99 * 1.2},
        "daemon": {"cpu_ms_per_mo": 0.5, "peak_rss_mib": 120.0}, "exactly_once": {"ok": True},
        "loadavg_start": [1.0, 1.0, 1.0], "loadavg_end": [1.2, 1.0, 1.0],
    })  # fmt: skip


def test_the_knee_is_the_highest_rate_that_keeps_up_under_the_p99_bound():
    points = [point(500, 500, 20), point(1000, 999, 60), point(2000, 1960, 460),
              point(4000, 1835, 14_000)]  # fmt: skip
    assert knee(points, 100.0)["offered_rate_per_s"] == 1000
    assert knee(points, 500.0)["offered_rate_per_s"] == 2000  # 1960 >= 95 % of 2000
    assert knee(points, 10.0) is None
    # Fast enough but falling behind: 94 % of the offered rate is not keeping up.
    assert knee([point(500, 470, 20)], 100.0) is None


def fake_run(figures: dict[float, tuple[float, float]]):
    ran: list[float] = []

    def run(settings: SweepSettings, rate: float) -> dict:
        ran.append(rate)
        sustained, p99 = figures[rate]
        return {"offered_rate_per_s": rate, "sustained_rate_per_s": sustained,
                "latency_ms": {"p50": p99 / 3, "p95": p99 / 2, "p99": p99, "max": p99},
                "exactly_once": {"ok": True}}  # fmt: skip

    return run, ran


def test_doubling_stops_at_the_first_rate_that_saturates():
    run, ran = fake_run({250: (250, 10), 500: (500, 20), 1000: (990, 80), 2000: (1500, 900)})
    result = sweep(SweepSettings(start_rate=250, max_rate=16_000), run)
    assert ran == [250, 500, 1000, 2000]
    assert result["knee"]["offered_rate_per_s"] == 1000
    assert [p["offered_rate_per_s"] for p in result["points"]] == ran


def test_doubling_stops_at_the_maximum_rate_and_given_rates_all_run():
    run, ran = fake_run({100: (100, 5), 200: (200, 5), 400: (400, 5), 300: (300, 5)})
    sweep(SweepSettings(start_rate=100, max_rate=400), run)
    assert ran == [100, 200, 400]
    run, ran = fake_run({100: (50, 5), 300: (150, 5)})
    sweep(SweepSettings(rates=(100, 300)), run)  # saturated at once, both still run
    assert ran == [100, 300]


def test_the_plot_is_a_png_of_the_points(tmp_path):
    result = {"workload": "bal", "p99_bound_ms": 100.0,
              "points": [point(500, 500, 20), point(1000, 990, 80), point(2000, 1500, 900)]}  # fmt: skip
    result["knee"] = knee(result["points"], 100.0)
    path = plot(result, tmp_path / "sweep.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and 5_000 < len(data) < 200_000


@pytest.mark.parametrize(
    ("text", "rates"), [("500,1000", (500.0, 1000.0)), ("2000, 500", (500.0, 2000.0)), ("", None)]
)
def test_rates_are_read_sorted(text, rates):
    assert parse_rates(text) == rates


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--rates", "500,lots"], "is not a comma-separated list"),
        (["--rates", "0,100"], "every rate must be positive"),
        (
            ["--start", "500", "--max-rate", "100"],
            "--start must be positive and at most --max-rate",
        ),
    ],
)
def test_a_bad_sweep_option_is_one_line_and_exit_2(options, says):
    result = CliRunner().invoke(main, ["bench", "sweep", *options])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith("smscore bench sweep: ") and says in line


def test_the_sweep_prints_json_and_draws(tmp_path, monkeypatch):
    run, _ = fake_run({500: (500, 20), 1000: (700, 2000)})
    monkeypatch.setattr("benchmarks.sweep.run_point", run)
    png, out = tmp_path / "knee.png", tmp_path / "sweep.json"
    result = CliRunner().invoke(
        main, ["bench", "sweep", "--rates", "500,1000", "--plot", str(png), "--json-out", str(out)]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == json.loads(out.read_text())
    assert printed["knee"]["offered_rate_per_s"] == 500 and printed["plot"] == str(png)
    assert len(printed["loadavg_start"]) == 3 and png.read_bytes().startswith(PNG_MAGIC)
