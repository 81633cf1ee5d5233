"""Benchmark: quality/cost curves over 100 thresholds x 1,000,000 requests without the simulator.

Goal (issue 3): ``simkit.metrics.two_tier_curve`` computes 100 thresholds over a million
requests in <= 2 s (median). Measured side by side in one process, on the same seeded
synthetic data:

* ``two_tier_curve`` — the vectorised path (one sort + cumulative sums, all inputs checked);
* ``tiered_curve`` — the N-tier path, 3 tiers, 100 cut-off vectors;
* ``naive loop`` — the brute-force reference: one ``np.where`` pass per threshold.

After one untimed warm-up call each, the cases are run in ``--repeats`` interleaved rounds
(default 7, at least 5); the table and the JSON give the median and the spread, the
agreement of the vectorised and naive results, and the machine.

Usage::

    python benchmarks/bench_curves.py [--requests 1000000] [--thresholds 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from simkit.metrics import tiered_curve, two_tier_curve


def synthetic(n: int, seed: int) -> dict[str, np.ndarray]:
    """Scores correlated with the strong model's advantage; costs per request from lengths."""
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n)
    scores = np.clip(difficulty + rng.normal(0.0, 0.15, n), 0.0, 1.0)
    weak = (rng.random(n) > difficulty).astype(np.float64)
    strong = (rng.random(n) > 0.6 * difficulty).astype(np.float64)
    mid = (rng.random(n) > 0.8 * difficulty).astype(np.float64)
    out_tokens = rng.integers(20, 800, n)
    return {
        "scores": scores,
        "weak": weak,
        "mid": mid,
        "strong": strong,
        "weak_cost": out_tokens * 0.24e-6,
        "mid_cost": out_tokens * 1.0e-6,
        "strong_cost": out_tokens * 30e-6,
    }


def naive(d: dict[str, np.ndarray], thresholds: np.ndarray) -> pd.DataFrame:
    """One full pass per threshold: the brute-force definition."""
    rows = []
    for t in thresholds:
        strong = d["scores"] >= t
        rows.append(
            {
                "strong_share": strong.mean(),
                "mean_quality": np.where(strong, d["strong"], d["weak"]).mean(),
                "mean_cost": np.where(strong, d["strong_cost"], d["weak_cost"]).mean(),
            }
        )
    return pd.DataFrame(rows)


def timed(
    cases: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, object]]:
    """One untimed warm-up call per case, then ``repeats`` rounds, the cases interleaved in
    each round so that load from elsewhere on the machine hits them alike."""
    outputs = {name: fn() for name, fn in cases.items()}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times, outputs


def machine() -> dict[str, object]:
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if "model name" in ln), model)
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "load_average_1m_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--thresholds", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5 (medians of repeated runs)")
    d = synthetic(args.requests, args.seed)
    thresholds = np.linspace(0.0, 1.0, args.thresholds)
    cutoffs = np.column_stack([thresholds, thresholds * 0.5])  # strong, mid; weak takes the rest
    quality3 = np.column_stack([d["strong"], d["mid"], d["weak"]])
    cost3 = np.column_stack([d["strong_cost"], d["mid_cost"], d["weak_cost"]])

    cases = {
        "two_tier_curve": lambda: two_tier_curve(
            d["scores"], d["weak"], d["strong"], d["weak_cost"], d["strong_cost"], thresholds
        ),
        "tiered_curve (3 tiers)": lambda: tiered_curve(d["scores"], quality3, cost3, cutoffs),
        "naive loop": lambda: naive(d, thresholds),
    }
    times, outputs = timed(cases, args.repeats)
    results = {
        name: {
            "median_s": statistics.median(runs),
            "min_s": min(runs),
            "max_s": max(runs),
            "runs_s": runs,
        }
        for name, runs in times.items()
    }
    fast, slow = outputs["two_tier_curve"], outputs["naive loop"]
    agreement = {
        col: float(np.max(np.abs(fast[col].to_numpy() - slow[col].to_numpy())))
        for col in ("strong_share", "mean_quality", "mean_cost")
    }
    base = results["naive loop"]["median_s"]
    goal_s = 2.0
    print(
        f"{args.thresholds} thresholds x {args.requests:,} requests, median of {args.repeats} "
        f"runs ({machine()['cpu']}, {machine()['cpus_available']} CPUs)"
    )
    print(f"{'path':<24}{'median s':>10}{'min s':>10}{'max s':>10}{'vs naive':>10}")
    for name, r in results.items():
        print(
            f"{name:<24}{r['median_s']:>10.3f}{r['min_s']:>10.3f}{r['max_s']:>10.3f}"
            f"{base / r['median_s']:>9.1f}x"
        )
    met = results["two_tier_curve"]["median_s"] <= goal_s
    print(f"goal two_tier_curve <= {goal_s} s: {'met' if met else 'NOT met'}")
    print(f"max |vectorised - naive|: {agreement}")
    report = {
        "benchmark": "bench_curves",
        "requests": args.requests,
        "thresholds": args.thresholds,
        "repeats": args.repeats,
        "seed": args.seed,
        "goal_s": goal_s,
        "goal_met": met,
        "results": results,
        "max_abs_difference_vs_naive": agreement,
        "machine": machine(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
