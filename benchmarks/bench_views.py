"""Benchmark: how fast the explorer redraws, against the simulation its button runs.

Goal (issue 5): a control change redraws every chart "at once" from the vectorised path —
here <= 0.5 s (median) on the bundled 15,344-request trace — while the full simulation of the
same point takes seconds. Measured side by side in one process on the bundled routellm_azure
trace (and the same trace tiled 10x, 153,440 requests, to show how the paths scale):

* ``Study.explore`` — the vectorised frames for one setting (tiered curves over 41 cut-offs per
  family, the chosen point, monthly cost vs volume and its crossovers);
* ``control change`` — the whole redraw: a slider moves, ``Study.explore`` runs and the three
  charts are rebuilt and handed to their widgets;
* ``button: simulate`` — the full SimPy simulation of the chosen point, 3 seeds;
* ``simkit report`` sections + HTML (without PNGs) from precomputed results.

The score is a transparent length heuristic (rank of the prompt length), which changes no
timing. After one untimed warm-up call each case runs ``--repeats`` times (default 5);
median, min and max are printed as a table and as JSON, with the machine.

Usage::

    python benchmarks/bench_views.py [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

import simkit
from simkit.study import Study
from simkit.viz import Explorer, report_html, study_report_sections

REPO = Path(__file__).resolve().parent.parent
GOAL_S = 0.5


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def scored(trace: simkit.Trace) -> simkit.Trace:
    tokens = trace.requests["prompt_tokens"].to_numpy(dtype="float64")
    rank = np.argsort(np.argsort(tokens, kind="stable"), kind="stable")
    return trace.with_scores({"p_hard": rank / len(rank)})


def tiled(trace: simkit.Trace, times: int) -> simkit.Trace:
    """The trace repeated ``times`` times back to back (new ids, shifted arrivals)."""
    span = float(trace.requests["arrival_s"].max()) + 1.0
    reqs, outs = [], []
    for k in range(times):
        r = trace.requests.copy()
        r["request_id"] = r["request_id"] + f"#{k}"
        r["arrival_s"] = r["arrival_s"] + k * span
        o = trace.outcomes.copy()
        o["request_id"] = o["request_id"] + f"#{k}"
        reqs.append(r)
        outs.append(o)
    return simkit.Trace(pd.concat(reqs, ignore_index=True), pd.concat(outs, ignore_index=True))


def explorer_for(study: Study) -> Explorer:
    return Explorer(
        study.explore,
        partial(study.simulate_settings, seeds=(0, 1, 2)),
        tiers=study.tiers,
        prices={"hosted": (0.59, 0.79), "frontier": (2.5, 10.0)},
        cutoffs={"frontier": 0.8, "hosted": 0.5},
        requests_per_month=study.trace_requests_per_month,
        gpu_usd_per_hour=1.37,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args()
    fleet = simkit.load_fleet()
    base = simkit.load_trace(REPO / "traces" / "routellm_azure")
    rows = []
    for label, trace in (("bundled", base), ("tiled x10", tiled(base, 10))):
        study = Study.prepare(scored(trace), fleet)
        explorer = explorer_for(study)
        slider = explorer.controls["cutoff_frontier"]
        values = iter(np.tile(np.linspace(0.5, 0.95, 10), 100))
        settings = explorer.settings()

        def move(slider=slider, values=values) -> None:
            slider.value = float(next(values))

        cases = {
            "Study.explore": lambda study=study, s=settings: study.explore(s),
            "control change (redraw)": move,
            "button: simulate 3 seeds": explorer.run_simulation,
        }
        if label == "bundled":
            results = study.report_results(cutoffs={"frontier": 0.8}, load_requests=2000)
            cases["report sections + HTML"] = lambda r=results: report_html(
                study_report_sections(r), title="bench"
            )
        for case, fn in cases.items():
            repeats = args.repeats if "simulate" not in case or label == "bundled" else 2
            t = timed(fn, repeats)
            rows.append(
                {
                    "trace": label,
                    "requests": trace.n_requests,
                    "case": case,
                    "median_s": statistics.median(t),
                    "min_s": min(t),
                    "max_s": max(t),
                    "runs": len(t),
                }
            )
    table = pd.DataFrame(rows)
    redraw = table[(table["trace"] == "bundled") & (table["case"] == "control change (redraw)")]
    sim = table[(table["trace"] == "bundled") & (table["case"] == "button: simulate 3 seeds")]
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(f"explorer timings, {machine['cpus']} CPUs, Python {machine['python']}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    met = float(redraw["median_s"].iloc[0]) <= GOAL_S
    ratio = float(sim["median_s"].iloc[0]) / float(redraw["median_s"].iloc[0])
    print(
        f"goal: redraw <= {GOAL_S} s on the bundled trace: {'met' if met else 'NOT met'}; "
        f"the simulation takes {ratio:.1f}x a redraw"
    )
    report = {
        "rows": rows,
        "goal_redraw_s": GOAL_S,
        "goal_met": met,
        "simulation_over_redraw": ratio,
        "machine": machine,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
