"""The standard report's simulations, serial against parallel, side by side in one run (not
collected by pytest).

    python benchmarks/bench_report.py [--n 3000] [--seeds 0,1] [--jobs 1,2,-1] [--repeats 3]
                                      [--json out.json]

Times :meth:`simkit.study.Study.report_results` (what ``simkit report`` computes: every tier
alone, three frontier shares, a chosen 3-tier threshold policy and the oracle, once per seed,
plus the self-hosted load curve) on the first ``--n`` requests of the bundled
``routellm_azure`` trace (its own classifier score ``p_hard``), for each ``--jobs`` value
(joblib workers for the policy simulations; the load curve stays serial). Each timing is the
median of ``--repeats`` runs after one warm-up; every run's frames are checked equal to the
serial run's (the parallel report is the serial one, bit for bit). Prints a table and JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd

from simkit import load_trace
from simkit.fleet import load_fleet
from simkit.study import Study

TRACE = Path(__file__).resolve().parent.parent / "traces" / "routellm_azure"
FRAMES = ("runs", "records_chosen", "tradeoff", "monthly_costs", "crossovers", "load_curve")


def _report(study: Study, seeds: list[int], n_jobs: int):
    return study.report_results(
        cutoffs={"frontier": 0.8, "hosted": 0.6},
        seeds=seeds,
        load_requests=1000,
        n_jobs=n_jobs,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="requests of the trace (default 3000)")
    ap.add_argument("--seeds", default="0,1", help="seeds per policy (default 0,1)")
    ap.add_argument("--jobs", default="1,2,-1", help="n_jobs values compared (default 1,2,-1)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per setting (default 3)")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [int(j) for j in args.jobs.split(",")]

    trace = load_trace(TRACE)
    trace = trace.subset(np.arange(trace.n_requests) < args.n)
    study = Study.prepare(trace, load_fleet())
    reference = _report(study, seeds, 1)  # also the warm-up of the serial path
    n_runs = len(reference.runs)

    rows = []
    for n_jobs in jobs:
        _report(study, seeds, n_jobs)  # warm-up (starts joblib's worker pool)
        times = []
        for _ in range(args.repeats):
            gc.collect()
            t0 = time.perf_counter()
            result = _report(study, seeds, n_jobs)
            times.append(time.perf_counter() - t0)
            for name in FRAMES:
                pd.testing.assert_frame_equal(getattr(result, name), getattr(reference, name))
        rows.append(
            {
                "n_jobs": n_jobs,
                "median_s": median(times),
                "min_s": min(times),
                "runs": n_runs,
                "identical_to_serial": True,
            }
        )
    serial = rows[0]["median_s"] if jobs[0] == 1 else float("nan")

    print(
        f"report_results on {args.n:,} requests of routellm_azure, {n_runs} simulations "
        f"(+ load curve), seeds {seeds}; median of {args.repeats} after a warm-up; "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})"
    )
    print(f"{'n_jobs':>7} {'median s':>9} {'min s':>8} {'vs serial':>10}  frames")
    for r in rows:
        ratio = serial / r["median_s"] if serial == serial else float("nan")
        print(
            f"{r['n_jobs']:>7} {r['median_s']:>9.2f} {r['min_s']:>8.2f} {ratio:>9.2f}x  "
            f"{'identical' if r['identical_to_serial'] else 'DIFFER'}"
        )
    out = {
        "benchmark": "report_results serial vs parallel",
        "n_requests": args.n,
        "seeds": seeds,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "rows": rows,
    }
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
