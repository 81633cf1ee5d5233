"""The shared-queue load balancer as an M/M/c queue, checked against Erlang-C.

    PYTHONPATH=. python benchmarks/bench_erlang_c.py [--n 1000000] [--servers 4]
        [--seeds 1 2 3 4 5 6 7 8] [--rho 0.5 0.8 0.9] [--warmup 0.01] [--quick] [--json out.json]

A GPU tier of ``c`` replicas with one slot each (``max_num_seqs=1``), ``load_balancer:
shared_queue``, no round trip, and a step time of exactly ``dt`` (``t_floor_s=dt``, no
overhead, no context cost, unlimited token rate) serves a request of ``n`` output tokens (and
an empty prompt) in ``n * dt`` seconds. With ``n`` geometric of mean ``1/p`` the service time
is geometric in steps of ``dt``, squared coefficient of variation ``1 - p`` (``p = dt =
1e-5`` here: exponential to 1e-5; the decode fast-forward makes the step count free; the
tests use the module's ``DT_S = 1e-3``). Arrivals are
Poisson at ``rho * c * mu``.

What is checked, per utilisation and seed:

* **the queue discipline is exact**: each request's service start (its first-token time
  minus one step) and end equal those of the FCFS multi-server recursion (each arrival takes
  the server that frees first, Kiefer-Wolfowitz) on the same arrivals and service times, to
  1e-6 s (``max_abs_diff_s``);
* **the service is the exponential it should be**: sample mean, squared coefficient of
  variation and the Kolmogorov-Smirnov distance of the realised service times to
  ``Exp(mu)`` (``service_*``);
* **the warm-up is discarded**: the first ``--warmup`` share of each run's requests (1 %,
  about 2,800 s of simulated time at rho 0.9, versus a relaxation time of
  ``1 / (mu (1 - sqrt(rho))^2)`` = 380 s) is dropped; rerun with ``--warmup 0.05`` to see
  that the estimate does not move beyond its interval.

Mean wait and P(wait > 0) are compared with :func:`simkit.metrics.queueing.erlang_c`. Two
estimates are printed, each with a 95 % interval from batch means (20 batches per run, pooled
over ``--seeds``, one independent run of ``--n`` requests per seed): the plain mean, and the
same mean with the realised mean service time and mean inter-arrival time as control
variates (Lavenberg & Welch 1981: regress batch means of the wait on batch means of the two
controls, whose expectations are known, and read the fit at those expectations). At rho 0.9
the plain mean of one 1M-request run has an interval of about +-6 %: most of its error is the
sampled load being above or below ``rho``, which the controls remove. One seed's
utilisations share their random draws, so their errors are correlated. Prints a table, then
JSON.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from simkit import Trace, simulate
from simkit.fleet import Fleet, GpuServer, Tier
from simkit.fleet.spec import Jitter
from simkit.metrics.queueing import erlang_c
from simkit.policies import StaticPolicy

DT_S = 1e-3  # one decode step of the tests' fleets (tests/sim/test_load_balancers.py)
P_END = 1e-3  # per-token stop probability: mean 1,000 tokens = 1.0 s of service
BENCH_DT_S = 1e-5  # the benchmark's step and stop probability: mean 1.0 s, SCV 1 - 1e-5
BATCHES = 20  # batch means per run


def mmc_fleet(servers: int, load_balancer: str = "shared_queue", dt_s: float = DT_S) -> Fleet:
    """``servers`` one-slot replicas whose service time is ``output_tokens * dt_s``."""
    server = GpuServer(
        model="mmc",
        usd_per_gpu_hour=0.0,
        replicas=servers,
        max_num_seqs=1,
        max_batched_tokens=4096,
        kv_capacity_tokens=10**9,
        t_floor_s=dt_s,
        x_sat_tokens_per_s=1e12,
        beta_s_per_ctx_token=0.0,
        t_ovh_s=0.0,
        rtt_s=Jitter(0.0, 0.0),
        load_balancer=load_balancer,
    )
    return Fleet((Tier("gpu", server, "mmc"),), name=f"M/M/{servers}")


def mmc_trace(n: int, arrival_rate: float, seed: int, p_end: float = P_END) -> Trace:
    """Poisson arrivals (starting at t = 10 s) and geometric output lengths (mean 1/p_end)."""
    rng = np.random.default_rng(seed)
    arrival = 10.0 + np.cumsum(rng.exponential(1.0 / arrival_rate, n))
    ids = pd.array([f"r{i}" for i in range(n)], dtype="string")
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": arrival,
            "prompt_tokens": np.zeros(n, dtype="int64"),
            "output_tokens": rng.geometric(p_end, n),
        }
    )
    outcomes = pd.DataFrame({"request_id": ids, "model": "mmc", "quality": 1.0})
    return Trace(requests, outcomes, where="M/M/c trace")


def fcfs_recursion(arrival_s: np.ndarray, service_s: np.ndarray, servers: int) -> np.ndarray:
    """Service start of each request in a FCFS queue with ``servers`` servers: each arrival, in
    order, takes the server that frees first (Kiefer-Wolfowitz)."""
    free = [0.0] * servers
    start = np.empty(len(arrival_s))
    for i, (a, s) in enumerate(zip(arrival_s.tolist(), service_s.tolist(), strict=True)):
        f = heapq.heappop(free)
        t = a if a > f else f
        start[i] = t
        heapq.heappush(free, t + s)
    return start


def mmc_run(
    n: int,
    rho: float,
    servers: int,
    seed: int,
    load_balancer: str = "shared_queue",
    dt_s: float = DT_S,
):
    """Simulate one run (step ``dt_s``, stop probability ``dt_s``: mean service 1 s); return
    per-request arrival, service and wait, and the largest difference of the simulated start
    and end from the FCFS recursion."""
    mu = 1.0
    trace = mmc_trace(n, rho * servers * mu, seed, p_end=dt_s)
    fleet = mmc_fleet(servers, load_balancer, dt_s=dt_s)
    rec = simulate(trace, fleet, StaticPolicy("gpu"), seed=seed)
    r = rec.requests
    if not (r["status"] == "completed").all():
        raise RuntimeError("a request failed in the M/M/c run")
    arrival = r["arrival_s"].to_numpy()
    service = r["output_tokens"].to_numpy() * dt_s
    start = r["first_token_s"].to_numpy() - dt_s  # the prefill step is the service's first
    ref = fcfs_recursion(arrival, service, servers)
    diff = max(
        float(np.abs(start - ref).max()), float(np.abs(r["end_s"].to_numpy() - ref - service).max())
    )
    wait = np.maximum(start - arrival, 0.0)  # float rounding of ~1e-12 s around zero
    return arrival, service, wait, diff


def mmc_waits(n: int, rho: float, servers: int, seed: int, load_balancer: str = "shared_queue"):
    """Each request's wait in queue (s), in arrival order (what tests read)."""
    return mmc_run(n, rho, servers, seed, load_balancer)[2]


def _ks_exponential(x: np.ndarray, mu: float) -> float:
    """Kolmogorov-Smirnov distance of the sample ``x`` to Exp(mu)."""
    x = np.sort(x)
    n = len(x)
    cdf = 1.0 - np.exp(-mu * x)
    return float(max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max()))


def _estimate(y: list[np.ndarray], controls: list[list[np.ndarray]], expect: list[float]):
    """Plain and control-variate estimates of E[y] with 95 % half-widths, from batch means.

    ``y`` and each control are per-run arrays; each run is cut into ``BATCHES`` batches. The
    control-variate estimate is the intercept of the least-squares fit of the batch means of
    ``y`` on those of the controls centred at their known expectations; its standard error is
    the fit's at that point (Lavenberg & Welch 1981)."""
    yb = np.array([b.mean() for run in y for b in np.array_split(run, BATCHES)])
    xb = np.column_stack(
        [
            np.array([b.mean() for run in c for b in np.array_split(run, BATCHES)]) - e
            for c, e in zip(controls, expect, strict=True)
        ]
    )
    k, q = len(yb), xb.shape[1]
    plain = float(yb.mean())
    plain_half = float(_t95(k - 1) * yb.std(ddof=1) / np.sqrt(k))
    X = np.column_stack([np.ones(k), xb])
    coef, *_ = np.linalg.lstsq(X, yb, rcond=None)
    resid = yb - X @ coef
    s2 = float(resid @ resid) / (k - q - 1)
    cov = s2 * np.linalg.inv(X.T @ X)
    cv_half = float(_t95(k - q - 1) * np.sqrt(cov[0, 0]))
    return plain, plain_half, float(coef[0]), cv_half


def _t95(dof: int) -> float:
    """Two-sided 95 % Student-t quantile (normal beyond 120 degrees of freedom)."""
    table = {17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 37: 2.026, 38: 2.024, 39: 2.023}
    if dof in table:
        return table[dof]
    if dof > 120:
        return 1.96
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def check(n: int, rho: float, servers: int, seeds: list[int], warmup: float) -> dict:
    """One utilisation: simulated (one independent run of ``n`` requests per seed, pooled)
    against Erlang-C."""
    mu = 1.0
    lam = rho * servers * mu
    t0 = time.perf_counter()
    waits, services, gaps, waited, diffs = [], [], [], [], []
    for seed in tqdm(seeds, desc=f"rho {rho:g}", unit="run", leave=False):
        arrival, service, wait, diff = mmc_run(n, rho, servers, seed, dt_s=BENCH_DT_S)
        skip = int(round(warmup * n))
        waits.append(wait[skip:])
        waited.append((wait[skip:] > 1e-9).astype("float64"))
        services.append(service[skip:])
        gaps.append(np.diff(arrival)[skip - 1 :] if skip else np.diff(arrival, prepend=10.0))
        diffs.append(diff)
    wall = time.perf_counter() - t0
    p_theory, w_theory = erlang_c(lam, mu, servers)
    controls, expect = [services, gaps], [1.0 / mu, 1.0 / lam]
    w_plain, w_plain_half, w_cv, w_cv_half = _estimate(waits, controls, expect)
    p_plain, p_plain_half, p_cv, p_cv_half = _estimate(waited, controls, expect)
    s = np.concatenate(services)
    return {
        "rho": rho,
        "servers": servers,
        "n_per_run": n,
        "n_requests": n * len(seeds),
        "seeds": list(seeds),
        "warmup_share": warmup,
        "max_abs_diff_s": max(diffs),
        "service_mean_s": float(s.mean()),
        "service_scv": float(s.var() / s.mean() ** 2),
        "service_ks": _ks_exponential(s, mu),
        "realised_rho": float(s.mean() / np.concatenate(gaps).mean() / servers),
        "erlang_c_mean_wait_s": w_theory,
        "mean_wait_s": w_plain,
        "mean_wait_ci95_s": w_plain_half,
        "mean_wait_rel_error": w_plain / w_theory - 1,
        "mean_wait_cv_s": w_cv,
        "mean_wait_cv_ci95_s": w_cv_half,
        "mean_wait_cv_rel_error": w_cv / w_theory - 1,
        "erlang_c_p_wait": p_theory,
        "p_wait": p_plain,
        "p_wait_ci95": p_plain_half,
        "p_wait_rel_error": p_plain / p_theory - 1,
        "p_wait_cv": p_cv,
        "p_wait_cv_ci95": p_cv_half,
        "p_wait_cv_rel_error": p_cv / p_theory - 1,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="requests per run (one run per seed)")
    p.add_argument("--servers", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    p.add_argument("--rho", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    p.add_argument("--warmup", type=float, default=0.01, help="share of each run dropped")
    p.add_argument("--quick", action="store_true", help="100k requests, 2 seeds (a smoke run)")
    p.add_argument("--json", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.seeds = 100_000, args.seeds[:2]
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    for rho in args.rho:  # each utilisation's row as soon as it is done (runs are long)
        rows.append(check(args.n, rho, args.servers, args.seeds, args.warmup))
        print(json.dumps({"row": rows[-1]}, allow_nan=False), flush=True)
    print(
        f"{'rho':>4} {'runs':>4} {'E[Wq] Erlang-C':>14} {'plain (95%)':>20} {'ctrl var (95%)':>20} "
        f"{'P(W>0) Erlang-C':>15} {'plain (95%)':>18} {'ctrl var (95%)':>18} "
        f"{'SCV':>6} {'KS':>7} {'|diff| s':>8}"
    )

    def pct(err: float, half: float, ref: float) -> str:
        return f"{err:+.2%} +-{half / ref:.2%}"

    for r in rows:
        w, pw = r["erlang_c_mean_wait_s"], r["erlang_c_p_wait"]
        print(
            f"{r['rho']:>4.2f} {len(r['seeds']):>4} {w:>14.5f} "
            f"{pct(r['mean_wait_rel_error'], r['mean_wait_ci95_s'], w):>20} "
            f"{pct(r['mean_wait_cv_rel_error'], r['mean_wait_cv_ci95_s'], w):>20} "
            f"{pw:>15.5f} {pct(r['p_wait_rel_error'], r['p_wait_ci95'], pw):>18} "
            f"{pct(r['p_wait_cv_rel_error'], r['p_wait_cv_ci95'], pw):>18} "
            f"{r['service_scv']:>6.3f} {r['service_ks']:>7.4f} {r['max_abs_diff_s']:>8.1e}"
        )
    out = json.dumps({"benchmark": "erlang_c", "rows": rows}, indent=2, allow_nan=False)
    print(out)
    if args.json:
        args.json.write_text(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
