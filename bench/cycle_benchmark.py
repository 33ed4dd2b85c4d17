"""Time the nightly cycle on generated drops of a given size.

Usage: .venv/bin/python bench/cycle_benchmark.py --persons 100000 [--seed 7]

Generates a sample world in a temporary home, runs every nightly job in process through
Dagster, and prints the time of the generation, of each step and of the whole cycle, the rows
loaded per dataset and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000, help="Persons in the world.")
    parser.add_argument("--seed", type=int, default=7, help="Random seed of the sample.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mianshen-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ["MIANSHEN_HOME"] = str(home)
        os.environ["MIANSHEN_DROP_STABLE_SECONDS"] = "0"

        import dagster as dg
        import duckdb

        from mianshen_pipeline.clock import today_in_shanghai
        from mianshen_pipeline.definitions import build_definitions
        from mianshen_pipeline.resources import resources_from_env
        from mianshen_pipeline.runner import run_cycle
        from mianshen_pipeline.sample import generate_world, write_drops

        as_of = today_in_shanghai()
        started = time.perf_counter()
        world = generate_world(persons=args.persons, seed=args.seed, as_of=as_of)
        write_drops(world, home / "landing", seed=args.seed)
        generated = time.perf_counter() - started

        defs = build_definitions(resources_from_env(home))
        started = time.perf_counter()
        with dg.DagsterInstance.ephemeral() as instance:
            summary = run_cycle(as_of, instance, defs)
            steps = {}
            for run_id in {r.dagster_run.run_id for r in instance.get_run_records()}:
                for stats in instance.get_run_step_stats(run_id):
                    steps[stats.step_key] = stats.end_time - stats.start_time
        cycle = time.perf_counter() - started

        with duckdb.connect(str(home / "warehouse" / "mianshen.duckdb"), read_only=True) as con:
            loaded = con.execute(
                "SELECT department || '/' || dataset, rows_read, rows_accepted "
                "FROM landing.drops ORDER BY 1"
            ).fetchall()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {dt.date.today()}")
    print(f"persons: {args.persons}; cycle succeeded: {summary.success}")
    for problem in summary.problems:
        print(f"  problem {problem.step}: {problem.message[:160]}")
    print(f"generate and write drops: {generated:.1f} s")
    print(f"nightly cycle (all jobs): {cycle:.1f} s; peak memory {peak_mb:.0f} MB")
    for dataset, read, accepted in loaded:
        print(f"  {dataset:40} read {read:>10} accepted {accepted:>10}")
    for step, seconds in sorted(steps.items(), key=lambda item: -item[1])[:12]:
        print(f"  step {step:50} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
