"""`python -m benchmarks ARGS` = `smscore bench ARGS` (the sweep runs each rate this way)."""

from daemon.bench_cli import bench

if __name__ == "__main__":
    bench(prog_name="smscore bench")
