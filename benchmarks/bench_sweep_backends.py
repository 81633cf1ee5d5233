"""A sweep of many small runs: serial vs a local 2-worker Dask cluster vs a 2-CPU Ray instance,
side by side in one run (not collected by pytest).

    python benchmarks/bench_sweep_backends.py [--runs 200] [--requests 150] [--repeats 1]
                                              [--json out.json]

The grid is 4 policies x (runs / 4) seeds on the first ``--requests`` requests of the shipped
test slice (``tests/fixtures/sim/routellm_azure_slice``) and the default 3-tier fleet. Each
backend's cluster is started before the clock and stopped after it (an existing cluster, as
``--address`` uses); the backends are timed in turn within each repeat (the load of the shared
machine falls on all alike) and every timing is the median of ``--repeats`` sweeps, after one
warm-up sweep of 8 runs each. The rows of every backend are checked equal to the serial ones.

Shipping: the trace and fleet are sent to each worker once (Dask ``scatter(broadcast=True)``,
Ray ``ray.put``). Reported: their pickled size, the time to ship them once, and what pickling
them into every task would cost per run (a ``cloudpickle`` dumps + loads round trip, as
joblib, Dask and Ray serialise arguments).

Goal (issue 15): >= 1.6 x the serial rate with 2 workers, on Dask and on Ray.
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

import cloudpickle
import numpy as np
import pandas as pd

from simkit import load_trace
from simkit.fleet import load_fleet
from simkit.sweep import sweep

SLICE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sim" / "routellm_azure_slice"
POLICIES = [
    "static:tier=frontier",
    "cascade:judge_error=0.1",
    "share:score=null,target_share=0.3",
    "static:tier=selfhosted",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="runs in the sweep (multiple of 4)")
    ap.add_argument("--requests", type=int, default=150, help="requests per run")
    ap.add_argument("--repeats", type=int, default=1, help="timed sweeps per backend (median)")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args()

    full = load_trace(SLICE)
    trace = full.subset(np.arange(full.n_requests) < args.requests)
    fleet = load_fleet()
    seeds = list(range(args.runs // len(POLICIES)))
    n_runs = len(seeds) * len(POLICIES)

    def run(**kw):
        return sweep(trace, fleet, POLICIES, seeds=seeds, **kw)

    def warm(**kw):
        return sweep(trace, fleet, POLICIES, seeds=[0, 1], **kw)

    result: dict = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "note": "load average (1/5/15 min) at start: "
        + "/".join(f"{x:.2f}" for x in os.getloadavg())
        + " (a busy machine makes the rates noisy)",
        "runs": n_runs,
        "requests_per_run": args.requests,
        "repeats": args.repeats,
    }

    # shipping cost: one trace + fleet, pickled
    blob = cloudpickle.dumps((fleet, (trace,)))
    t0 = time.perf_counter()
    for _ in range(20):
        cloudpickle.loads(cloudpickle.dumps((fleet, (trace,))))
    result["shipped_bytes"] = len(blob)
    result["pickle_roundtrip_ms_per_run"] = (time.perf_counter() - t0) / 20 * 1e3

    import ray
    from distributed import Client, LocalCluster

    # both clusters up for the whole run, and the backends timed in turn within each repeat, so
    # that the load of the shared machine falls on all of them alike
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        address = cluster.scheduler_address
        with Client(address) as client:
            t0 = time.perf_counter()
            client.scatter([fleet, (trace,)], broadcast=True, hash=False)
            result["dask_scatter_once_ms"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        ray.put((fleet, (trace,)))
        result["ray_put_once_ms"] = (time.perf_counter() - t0) * 1e3
        backends = {
            "serial (loky, n_jobs=1)": {"n_jobs": 1},
            "dask, local 2 workers": {"backend": "dask", "address": address},
            "ray, local 2 CPUs": {"backend": "ray"},
        }
        times: dict[str, list[float]] = {name: [] for name in backends}
        tables: dict[str, pd.DataFrame] = {}
        for kw in backends.values():
            warm(**kw)
        for _ in range(args.repeats):
            for name, kw in backends.items():
                gc.collect()
                t0 = time.perf_counter()
                tables[name] = run(**kw)
                times[name].append(time.perf_counter() - t0)
    finally:
        ray.shutdown()
        cluster.close()
    serial_name = "serial (loky, n_jobs=1)"
    for name in backends:
        pd.testing.assert_frame_equal(tables[name], tables[serial_name])
    serial_s = median(times[serial_name])
    rows = [
        (name, median(t), None if name == serial_name else serial_s / median(t))
        for name, t in times.items()
    ]

    print(f"{n_runs} runs x {args.requests} requests; {result['machine']}")
    print(f"NOTE: {result['note']}")
    print(f"{'backend':28} {'seconds':>9} {'runs/s':>8} {'x serial':>9} {'ms/run':>8}")
    result["backends"] = {}
    for name, s, ratio in rows:
        print(
            f"{name:28} {s:9.2f} {n_runs / s:8.1f} "
            f"{'' if ratio is None else f'{ratio:.2f}':>9} {s / n_runs * 1e3:8.1f}"
        )
        result["backends"][name] = {
            "seconds": s,
            "runs_per_s": n_runs / s,
            "x_serial": ratio,
            "ms_per_run": s / n_runs * 1e3,
        }
    print(
        f"shipping: trace + fleet pickle to {result['shipped_bytes'] / 1e3:.0f} kB; "
        f"sent once: Dask scatter {result['dask_scatter_once_ms']:.0f} ms, "
        f"ray.put {result['ray_put_once_ms']:.1f} ms; pickled per task it would cost "
        f"{result['pickle_roundtrip_ms_per_run']:.2f} ms per run (round trip)"
    )
    print("goal: >= 1.6 x serial on Dask and on Ray")
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
