"""The shared-queue load balancer as an M/M/c queue, checked against Erlang-C.

    PYTHONPATH=. python benchmarks/bench_erlang_c.py [--n 1000000] [--servers 4] [--seeds 1 2 3]
        [--rho 0.5 0.8 0.9] [--json out.json]

A GPU tier of ``c`` replicas with one slot each (``max_num_seqs=1``), ``load_balancer:
shared_queue``, no round trip, and a step time of exactly ``dt`` (``t_floor_s=dt``, no
overhead, no context cost, unlimited token rate) serves a request of ``n`` output tokens (and
an empty prompt) in ``n * dt`` seconds. With ``n`` geometric of mean ``1/p`` the service time
is geometric in steps of ``dt``, squared coefficient of variation ``1 - p`` (0.999 here):
exponential to within the resolution checked. Arrivals are Poisson at ``rho * c * mu``. Each
request's wait in queue is ``end_s - arrival_s - output_tokens * dt`` (exact: the replica
starts it when it leaves the queue). Mean wait and P(wait > 0) are compared with
:func:`simkit.metrics.queueing.erlang_c` at utilisation 0.5, 0.8 and 0.9, after dropping the
first 1 % of requests (warm-up from an empty system). The 95 % interval of the mean wait is
from 20 batch means per run. ``--seeds`` pools independent runs (one seed each; the
utilisations of one seed share their random draws, so their errors are correlated). Prints a
table, then JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from simkit import Trace, simulate
from simkit.fleet import Fleet, GpuServer, Tier
from simkit.fleet.spec import Jitter
from simkit.metrics.queueing import erlang_c
from simkit.policies import StaticPolicy

DT_S = 1e-3  # one decode step
P_END = 1e-3  # per-token stop probability: mean 1,000 tokens = 1.0 s of service


def mmc_fleet(servers: int, load_balancer: str = "shared_queue") -> Fleet:
    """``servers`` one-slot replicas whose service time is ``output_tokens * DT_S``."""
    server = GpuServer(
        model="mmc",
        usd_per_gpu_hour=0.0,
        replicas=servers,
        max_num_seqs=1,
        max_batched_tokens=4096,
        kv_capacity_tokens=10**9,
        t_floor_s=DT_S,
        x_sat_tokens_per_s=1e12,
        beta_s_per_ctx_token=0.0,
        t_ovh_s=0.0,
        rtt_s=Jitter(0.0, 0.0),
        load_balancer=load_balancer,
    )
    return Fleet((Tier("gpu", server, "mmc"),), name=f"M/M/{servers}")


def mmc_trace(n: int, arrival_rate: float, seed: int) -> Trace:
    """Poisson arrivals (starting at t = 10 s) and geometric output lengths."""
    rng = np.random.default_rng(seed)
    arrival = 10.0 + np.cumsum(rng.exponential(1.0 / arrival_rate, n))
    ids = pd.array([f"r{i}" for i in range(n)], dtype="string")
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": arrival,
            "prompt_tokens": np.zeros(n, dtype="int64"),
            "output_tokens": rng.geometric(P_END, n),
        }
    )
    outcomes = pd.DataFrame({"request_id": ids, "model": "mmc", "quality": 1.0})
    return Trace(requests, outcomes, where="M/M/c trace")


def mmc_waits(n: int, rho: float, servers: int, seed: int, load_balancer: str = "shared_queue"):
    """Simulate and return each request's wait in queue (s), in arrival order."""
    mu = P_END / DT_S
    trace = mmc_trace(n, rho * servers * mu, seed)
    rec = simulate(trace, mmc_fleet(servers, load_balancer), StaticPolicy("gpu"), seed=seed)
    r = rec.requests
    assert (r["status"] == "completed").all()
    wait = r["end_s"].to_numpy() - r["arrival_s"].to_numpy() - r["output_tokens"].to_numpy() * DT_S
    return np.maximum(wait, 0.0)  # float rounding of ~1e-12 s around zero


def check(n: int, rho: float, servers: int, seeds: list[int]) -> dict:
    """One utilisation: simulated (one independent run of ``n`` requests per seed, pooled)
    against Erlang-C."""
    mu = P_END / DT_S
    t0 = time.perf_counter()
    runs = [mmc_waits(n, rho, servers, seed)[n // 100 :] for seed in seeds]
    wall = time.perf_counter() - t0
    wait = np.concatenate(runs)
    p_theory, w_theory = erlang_c(rho * servers * mu, mu, servers)
    batches = [b for run in runs for b in np.array_split(run, 20)]
    means = np.array([b.mean() for b in batches])
    half = 1.96 * means.std(ddof=1) / np.sqrt(len(means))  # >= 20 batch means
    p_sim = float((wait > 1e-9).mean())
    w_sim = float(wait.mean())
    return {
        "rho": rho,
        "servers": servers,
        "n_requests": n * len(seeds),
        "seeds": list(seeds),
        "mean_wait_s": w_sim,
        "mean_wait_ci95_s": float(half),
        "erlang_c_mean_wait_s": w_theory,
        "mean_wait_rel_error": w_sim / w_theory - 1,
        "p_wait": p_sim,
        "erlang_c_p_wait": p_theory,
        "p_wait_rel_error": p_sim / p_theory - 1,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="requests per utilisation")
    p.add_argument("--servers", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[1], help="one run of --n per seed")
    p.add_argument("--rho", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    p.add_argument("--json", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    rows = [check(args.n, rho, args.servers, args.seeds) for rho in args.rho]
    print(
        f"{'rho':>5} {'E[Wq] sim':>11} {'+-95%':>9} {'Erlang-C':>10} {'err':>7} "
        f"{'P(W>0) sim':>11} {'Erlang-C':>9} {'err':>7} {'wall s':>7}"
    )
    for r in rows:
        print(
            f"{r['rho']:>5.2f} {r['mean_wait_s']:>11.5f} {r['mean_wait_ci95_s']:>9.5f} "
            f"{r['erlang_c_mean_wait_s']:>10.5f} {r['mean_wait_rel_error']:>+7.2%} "
            f"{r['p_wait']:>11.5f} {r['erlang_c_p_wait']:>9.5f} {r['p_wait_rel_error']:>+7.2%} "
            f"{r['wall_s']:>7.1f}"
        )
    out = json.dumps({"benchmark": "erlang_c", "rows": rows}, indent=2, allow_nan=False)
    print(out)
    if args.json:
        args.json.write_text(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
