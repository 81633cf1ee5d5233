"""Prefix affinity across tiers: prefix hit rate and TTFT of a base policy with and without
``affinity`` in front of it.

    PYTHONPATH=. python benchmarks/bench_prefix_affinity.py [--n 4000] [--seeds 0 1 2]
        [--repeat-share 0.5] [--n-prefixes 32] [--cache-prefixes 16] [--load 0.5]
        [--quick] [--json out.json]

The trace is :func:`simkit.trace.prefix_heavy_trace`: every prompt is 8 blocks of 512 tokens,
its first ``repeat_share`` of them one of ``--n-prefixes`` shared prefixes, the rest unique;
32 output tokens. The fleet is two self-hosted tiers (``gpu-a``, ``gpu-b``: one replica each
of the ``llama3-8b-h100-tp1`` preset with a prefix cache of ``--cache-prefixes`` prompts'
worth of blocks, 8 x 512 tokens each) and arrivals at ``--load`` of the pair's hand capacity
without a cache (as in ``bench_prefix_cache.py``). Policies, side by side on the same
requests and seeds:

* ``random``: the base, 50/50 between the two tiers: every prefix ends up computed (and
  cached, and evicted) on both;
* ``affinity>random``: a request goes to the tier that holds most of its leading blocks,
  else the base decides: each prefix stays on the tier that computed it first, so the two
  caches split the prefixes instead of both holding all of them (with the default 32
  prefixes and caches of 16 prompts, each cache then has room for its half).

Reported per policy, the median over ``--seeds``: the prefix hit rate (hit over looked-up
blocks, both tiers; with full blocks it is also the share of prompt tokens whose prefill was
skipped), p50 and p95 TTFT,
and the share of requests on ``gpu-a`` (affinity may unbalance the tiers). Prints a table,
then JSON. Timings are simulated seconds, so the numbers do not depend on the machine's load;
the wall time of the run is printed for reference only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from bench_prefix_cache import (  # the same model, prompt shape and capacity rule (this folder)
    BLOCK,
    BLOCKS,
    OUTPUT,
    PRESET,
    hand_capacity_rps,
)
from tqdm.auto import tqdm

from simkit import simulate
from simkit.fleet import Fleet, GpuServer, Tier
from simkit.fleet.presets import GPU_PRESETS
from simkit.policies import build_policy
from simkit.trace import prefix_heavy_trace


def server(cache_prefixes: int, usd_per_gpu_hour: float) -> GpuServer:
    return GpuServer(
        **{**GPU_PRESETS[PRESET], "usd_per_gpu_hour": usd_per_gpu_hour},
        preset=PRESET,
        replicas=1,
        prefix_cache=True,
        prefix_cache_tokens=cache_prefixes * BLOCKS * BLOCK,
    )


def run_one(trace, fleet: Fleet, policy: str) -> dict[str, float]:
    rec = simulate(trace, fleet, build_policy(policy, fleet=fleet), seed=0)
    r, ep = rec.requests, rec.endpoints
    ttft = (r["first_token_s"] - r["arrival_s"]).to_numpy()
    prompt_tokens = float(trace.requests["prompt_tokens"].sum())
    return {
        "hit_rate": float(ep["prefix_hit_blocks"].sum() / ep["prefix_lookup_blocks"].sum()),
        "saved_prefill_tokens": float(ep["prefix_saved_tokens"].sum()),
        "prompt_tokens": prompt_tokens,
        "p50_ttft_s": float(np.percentile(ttft, 50)),
        "p95_ttft_s": float(np.percentile(ttft, 95)),
        "share_gpu_a": float((r["tier"] == "gpu-a").mean()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000, help="requests per replay")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--repeat-share", type=float, default=0.5)
    p.add_argument("--n-prefixes", type=int, default=32)
    p.add_argument("--cache-prefixes", type=int, default=16, help="prompts each cache holds")
    p.add_argument("--load", type=float, default=0.5, help="share of the uncached capacity")
    p.add_argument("--quick", action="store_true", help="1,000 requests, one seed")
    p.add_argument("--json", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.seeds = 1000, args.seeds[:1]
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    fleet = Fleet(
        (
            Tier("gpu-a", server(args.cache_prefixes, 2.0), "m"),
            Tier("gpu-b", server(args.cache_prefixes, 2.5), "m"),
        )
    )
    prompt = BLOCK * BLOCKS  # one replica uncached: the whole prompt is prefilled
    rate = args.load * 2 * hand_capacity_rps(fleet.tiers[0].endpoint, prompt, prompt, OUTPUT)
    base = "random:weights.gpu-a=1,weights.gpu-b=1"
    policies = {"random": base, "affinity>random": f"affinity>{base}"}
    t0 = time.perf_counter()
    per_seed: dict[str, list[dict[str, float]]] = {k: [] for k in policies}
    jobs = [(seed, label) for seed in args.seeds for label in policies]
    traces = {}
    for seed, label in tqdm(jobs, desc="replays", unit="run", file=sys.stderr):
        if seed not in traces:
            traces[seed] = prefix_heavy_trace(
                args.n,
                repeat_share=args.repeat_share,
                block_size=BLOCK,
                blocks_per_prompt=BLOCKS,
                output_tokens=OUTPUT,
                rate_per_s=rate,
                n_prefixes=args.n_prefixes,
                model="m",
                seed=seed,
            )
        per_seed[label].append(run_one(traces[seed], fleet, policies[label]))
    wall_s = time.perf_counter() - t0
    rows = {
        label: {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
        for label, runs in per_seed.items()
    }
    base_row = rows["random"]
    cols = ("hit_rate", "p50_ttft_s", "p95_ttft_s", "share_gpu_a")
    print(
        f"\n{args.n} requests x {len(args.seeds)} seeds, repeat share {args.repeat_share}, "
        f"{args.n_prefixes} prefixes, caches of {args.cache_prefixes} prompts, "
        f"{rate:.2f} req/s (load {args.load}); medians over seeds\n"
    )
    print(f"{'policy':<18}" + "".join(f"{c:>13}" for c in cols) + f"{'p50 vs base':>13}")
    for label, row in rows.items():
        ratio = row["p50_ttft_s"] / base_row["p50_ttft_s"]
        print(
            f"{label:<18}"
            + f"{row['hit_rate']:>13.3f}"
            + f"{row['p50_ttft_s']:>13.4f}{row['p95_ttft_s']:>13.4f}{row['share_gpu_a']:>13.3f}"
            + f"{ratio:>12.3f}x"
        )
    print(f"\nwall time {wall_s:.1f} s (shared machine; the table is simulated time)\n")
    out = {
        "n": args.n,
        "seeds": args.seeds,
        "repeat_share": args.repeat_share,
        "n_prefixes": args.n_prefixes,
        "cache_prefixes": args.cache_prefixes,
        "rate_per_s": rate,
        "policies": policies,
        "median": rows,
        "per_seed": per_seed,
        "wall_s": wall_s,
    }
    text = json.dumps(out, indent=2, allow_nan=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
