"""Simulator speed and memory, measured side by side in one run (not collected by pytest).

    python benchmarks/bench_sim.py [--n 200000] [--repeats 3] [--memory-n 1000000] [--json out.json]

(a) raw SimPy M/M/4 (lambda 3.2, mu 1): a source process spawns one process per customer doing
    request -> timeout -> release on ``simpy.Resource(4)`` (SERVING.md §6 bench b); customers/s.
(b) ``simulate()`` on an API-only 3-tier fleet (gpt-4o, hosted Llama-3-70B, Claude 3.5 Sonnet,
    with jitter and rate limits), random-mix policy; requests/s. The random mix reads no live
    value of the fleet, so the run is replayed tier by tier (:mod:`simkit.sim.by_tier`); (b2) is
    the same replay through the event run (the same policy with ``reads_live_state = True``),
    for the side-by-side ratio.
(c) the same trace on the shipped default fleet (self-hosted Llama-3-70B continuous batching +
    2 APIs), with the GPU tier given enough replicas for its share; requests/s (the API tiers
    replayed alone, the GPU tier on its own event loop; (c2) all of it through the event run).
(d) the vectorised path (:func:`simkit.sweep.threshold_curves`): 100 cut-off vectors over 1M
    requests without the simulator; goal <= 2 s.
(e) peak memory (VmHWM of a fresh subprocess, started before the parent grows) of building and replaying a
    ``--memory-n`` request trace on the API fleet and on the GPU fleet.

Each timing is the median of ``--repeats`` runs after one warm-up, ``gc.collect()`` before each;
(a), (b), (b2), (c) and (c2) take turns in every round (:func:`timed_together`);
trace construction is outside the timed region. Prints a table, the ratios against the goals
of issue 15 ((b) >= 1.0 x (a); (c) >= 100,000 requests/s) and the earlier ones ((d) <= 2 s;
the in-memory path's peak <= 2 GB per 1M requests; the streaming replay's memory goal, 10M
requests in <= 4 GB, is measured by ``simkit replay``'s streaming path, see the README), and
JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from statistics import median
from typing import ClassVar

import numpy as np
import pandas as pd
import simpy

from simkit import Trace
from simkit.fleet import load_fleet
from simkit.metrics import tiered_curve
from simkit.policies import RandomMixPolicy
from simkit.sim import simulate, tier_arrays
from simkit.sim.by_tier import replays_by_tier
from simkit.sweep import threshold_curves

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"

API_FLEET = {
    "name": "api-only-3-tier",
    "tiers": {
        "hosted": {
            "kind": "api",
            "model": "llama3-70b-8192",
            "provider": "groq",
            "ttft_s": {"median": 0.45, "sigma": 0.3},
            "output_tokens_per_s": {"median": 58.6, "sigma": 0.2},
            "rtt_s": 0.03,
            "rate_limit": {"rpm": 60000, "tpm": 60000000},
            "error_rate": 0.001,
            "quality_model": WEAK,
        },
        "sonnet": {
            "kind": "api",
            "model": "claude-3-5-sonnet",
            "ttft_s": {"median": 0.8, "sigma": 0.3},
            "output_tokens_per_s": {"median": 64, "sigma": 0.2},
            "rtt_s": 0.03,
            "rate_limit": {
                "style": "anthropic",
                "rpm": 60000,
                "input_tpm": 40000000,
                "output_tpm": 20000000,
            },
            "quality_model": STRONG,
        },
        "frontier": {
            "kind": "api",
            "model": "gpt-4o",
            "ttft_s": {"median": 0.45, "sigma": 0.3},
            "output_tokens_per_s": {"median": 131, "sigma": 0.2},
            "rtt_s": 0.03,
            "rate_limit": {"rpm": 60000, "tpm": 60000000},
            "error_rate": 0.001,
            "quality_model": STRONG,
        },
    },
}


def gpu_fleet(rate_per_s: float) -> dict:
    """The shipped default fleet, with GPU replicas for a third of ``rate_per_s``."""
    import yaml

    from simkit.fleet import default_fleet_path

    spec = yaml.safe_load(default_fleet_path().read_text())
    spec["tiers"]["selfhosted"]["preset"] = "llama3-70b-h100-tp4"
    spec["tiers"]["selfhosted"]["replicas"] = max(1, int(np.ceil(rate_per_s / 3 / 4.0)))
    for t in ("hosted", "frontier"):
        spec["tiers"][t]["rate_limit"] = {"rpm": 60000, "tpm": 60000000}
    return spec


def make_trace(n: int, rate_per_s: float, seed: int = 0) -> Trace:
    """Poisson arrivals; prompt/output lengths lognormal around the Azure-2023 conv medians
    (1,020 / 129 tokens, SERVING.md §5); random binary outcomes for two models."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("r", np.arange(n).astype(str)).astype(object)
    req = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": np.cumsum(rng.exponential(1 / rate_per_s, n)),
            "prompt_tokens": np.clip(rng.lognormal(np.log(1020), 0.6, n), 1, 8000).astype(np.int64),
            "output_tokens": np.clip(rng.lognormal(np.log(129), 0.8, n), 1, 1000).astype(np.int64),
            "max_tokens": 1024,
        }
    )
    out = pd.DataFrame(
        {
            "request_id": np.concatenate([ids, ids]),
            "model": np.repeat([STRONG, WEAK], n),
            "quality": np.concatenate([rng.random(n) < 0.8, rng.random(n) < 0.68]).astype(float),
        }
    )
    return Trace(req, out, where="bench")


def mmc_simpy(n: int, seed: int = 0) -> float:
    """SERVING.md §6 (b): M/M/4, one process per customer on simpy.Resource(4)."""
    rng = np.random.default_rng(seed)
    inter = rng.exponential(1 / 3.2, n).tolist()
    service = rng.exponential(1.0, n).tolist()
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=4)

    def customer(s):
        with servers.request() as req:
            yield req
            yield env.timeout(s)

    def source():
        for dt, s in zip(inter, service, strict=True):
            yield env.timeout(dt)
            env.process(customer(s))

    env.process(source())
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        gc.collect()
        times.append(fn())
    return median(times)


def timed_together(fns: dict, repeats: int) -> dict:
    """Median time of each of ``fns`` over ``repeats`` rounds, the benchmarks taking turns in
    every round (one warm-up each first): a machine whose speed drifts over minutes (a shared
    VM) then slows or speeds all of them alike, and their ratios hold."""
    for fn in fns.values():
        fn()
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            times[name].append(fn())
    return {name: median(t) for name, t in times.items()}


@dataclass(frozen=True)
class EventRandomMix(RandomMixPolicy):
    """The random mix, declared to read live values: replayed by the event run."""

    reads_live_state: ClassVar[bool] = True


def replay_seconds(trace: Trace, fleet, policy) -> float:
    t = time.perf_counter()
    simulate(trace, fleet, policy, seed=0)
    return time.perf_counter() - t


def _peak_rss_kib() -> int:
    """This process's own peak resident set (VmHWM). Not ``ru_maxrss``: Linux carries that
    across fork + exec, so a child would report its parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: best effort


def _memory_child(n: int, kind: str) -> None:
    rate = 200.0
    trace = make_trace(n, rate)
    fleet = load_fleet(API_FLEET if kind == "api" else gpu_fleet(rate))
    policy = RandomMixPolicy(dict.fromkeys(fleet.tier_names, 1.0))
    t = time.perf_counter()
    rec = simulate(trace, fleet, policy, seed=0)
    wall = time.perf_counter() - t
    peak_kib = _peak_rss_kib()
    print(
        json.dumps(
            {
                "n": n,
                "kind": kind,
                "peak_mb": peak_kib / 1024,
                "replay_s": wall,
                "completed": int((rec.requests["status"] == "completed").sum()),
            }
        )
    )


def _seconds(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def curves_seconds(n: int, curves: int, fleet, rate: float, repeats: int) -> tuple[float, float]:
    """(d) the vectorised path: ``curves`` cut-off vectors over ``n`` requests, no simulator.

    Returns the median time of :func:`simkit.sweep.threshold_curves` end to end (per-tier
    arrays and prices from the trace, then the curves) and of the metrics core alone
    (:func:`simkit.metrics.tiered_curve` on ready arrays)."""
    big = make_trace(n, rate, seed=1)
    big = big.with_scores({"p_hard": np.random.default_rng(2).random(big.n_requests)})
    hi = np.linspace(0.01, 0.99, curves)
    cutoffs = np.column_stack([hi, hi * 0.5])  # frontier cut-off, then hosted (strictly lower)
    end_to_end = timed(lambda: _seconds(threshold_curves, big, fleet, cutoffs), repeats)
    quality = tier_arrays(big, fleet).quality[:, ::-1]
    cost = np.ones_like(quality)
    scores = big.scores["p_hard"].to_numpy()
    core = timed(lambda: _seconds(tiered_curve, scores, quality, cost, cutoffs), repeats)
    return end_to_end, core


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="requests per timed replay")
    ap.add_argument("--mmc-n", type=int, default=100_000, help="customers in (a)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-n", type=int, default=1_000_000)
    ap.add_argument("--curve-n", type=int, default=1_000_000, help="requests in (d)")
    ap.add_argument("--curves", type=int, default=100, help="cut-off vectors in (d)")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    ap.add_argument("--_memory-child", dest="child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _memory_child(args.memory_n, args.child)
        return 0

    # memory first, in fresh subprocesses, while this process is still small
    mem = []
    for kind in ("api", "gpu"):
        out = subprocess.run(
            [sys.executable, __file__, "--_memory-child", kind, "--memory-n", str(args.memory_n)],
            capture_output=True,
            text=True,
            check=True,
        )
        mem.append(json.loads(out.stdout.strip().splitlines()[-1]))

    rate = 20.0
    trace = make_trace(args.n, rate)
    api = load_fleet(API_FLEET)
    gpu = load_fleet(gpu_fleet(rate))
    mix_api = RandomMixPolicy(dict.fromkeys(api.tier_names, 1.0))
    mix_gpu = RandomMixPolicy(dict.fromkeys(gpu.tier_names, 1.0))

    assert replays_by_tier(api, mix_api) and not replays_by_tier(
        api, EventRandomMix(mix_api.weights)
    )
    event_api, event_gpu = EventRandomMix(mix_api.weights), EventRandomMix(mix_gpu.weights)
    t = timed_together(
        {
            "a": lambda: mmc_simpy(args.mmc_n),
            "b": lambda: replay_seconds(trace, api, mix_api),
            "b2": lambda: replay_seconds(trace, api, event_api),
            "c": lambda: replay_seconds(trace, gpu, mix_gpu),
            "c2": lambda: replay_seconds(trace, gpu, event_gpu),
        },
        args.repeats,
    )
    a_s, b_s, b2_s, c_s, c2_s = (t[k] for k in ("a", "b", "b2", "c", "c2"))
    rec_c = simulate(trace, gpu, mix_gpu, seed=0)
    gpu_share = float((rec_c.requests["tier"] == "selfhosted").mean())
    ttft = (rec_c.requests["first_token_s"] - rec_c.requests["arrival_s"])[
        rec_c.requests["tier"] == "selfhosted"
    ]

    d_s, d_core_s = curves_seconds(args.curve_n, args.curves, api, rate, args.repeats)

    a_rate = args.mmc_n / a_s
    b_rate = args.n / b_s
    b2_rate = args.n / b2_s
    c_rate = args.n / c_s
    c2_rate = args.n / c2_s
    result = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "simpy": simpy.__version__,
        },
        "a_simpy_mm4_customers_per_s": a_rate,
        "b_api_3tier_requests_per_s": b_rate,
        "b2_api_3tier_event_run_requests_per_s": b2_rate,
        "ratio_b_over_b2": b_rate / b2_rate,
        "c_gpu_fleet_requests_per_s": c_rate,
        "c2_gpu_fleet_event_run_requests_per_s": c2_rate,
        "ratio_c_over_c2": c_rate / c2_rate,
        "c_gpu_share": gpu_share,
        "c_gpu_replicas": gpu.tiers[0].endpoint.replicas,
        "c_gpu_ttft_p50_s": float(ttft.median()),
        "c_events": rec_c.meta["n_events"],
        "c_gpu_steps": rec_c.meta["gpu_steps"],
        "d_curves_s": d_s,
        "d_core_tiered_curve_s": d_core_s,
        "d_requests": args.curve_n,
        "d_cutoff_vectors": args.curves,
        "goal_d_s": 2.0,
        "ratio_b_over_a": b_rate / a_rate,
        "goal_b_over_a": 1.0,
        "goal_c_requests_per_s": 100_000,
        "memory": mem,
        "goal_peak_mb": 2048,
        "n": args.n,
        "mmc_n": args.mmc_n,
        "repeats": args.repeats,
    }
    rows = [
        ("(a) raw SimPy M/M/4", f"{a_rate:,.0f} customers/s", ""),
        (
            "(b) simulate, API-only 3 tiers",
            f"{b_rate:,.0f} requests/s",
            f"{b_rate / a_rate:.2f} x (a)  (goal >= 1.0)",
        ),
        (
            "(b2) the same through the event run",
            f"{b2_rate:,.0f} requests/s",
            f"{b2_rate / a_rate:.2f} x (a); (b) = {b_rate / b2_rate:.2f} x (b2)",
        ),
        (
            "(c) simulate, self-hosted GPU + 2 APIs",
            f"{c_rate:,.0f} requests/s",
            f"{c_rate / 100_000:.2f} x goal 100,000 (GPU share {gpu_share:.0%})",
        ),
        (
            "(c2) the same through the event run",
            f"{c2_rate:,.0f} requests/s",
            f"(c) = {c_rate / c2_rate:.2f} x (c2)",
        ),
    ]
    rows.append(
        (
            f"(d) threshold_curves, {args.curves} cut-offs x {args.curve_n:,} requests",
            f"{d_s:.3f} s",
            f"{d_s / 2.0:.2f} x goal 2 s (metrics core alone {d_core_s:.3f} s)",
        )
    )
    for m in mem:
        rows.append(
            (
                f"(e) peak memory in memory, {m['n']:,} requests, {m['kind']} fleet",
                f"{m['peak_mb']:,.0f} MB",
                f"{m['peak_mb'] / 2048:.2f} x goal 2 GB (replay {m['replay_s']:.1f} s)",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'median of ' + str(args.repeats):>22}  ratio")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>22}  {ratio}")
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
