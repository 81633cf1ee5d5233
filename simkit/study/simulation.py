"""The simulated path: the prepared trace replayed through :func:`simkit.sweep.sweep` (the one
loop over simulations), its arrivals rescaled to a chosen monthly volume."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.fleet.spec import Fleet, GpuServer
from simkit.metrics import SECONDS_PER_MONTH, latency_percentiles, throughput
from simkit.policies import StaticPolicy
from simkit.policies.base import Policy
from simkit.study._checks import positive
from simkit.study.arrays import PreparedTrace
from simkit.sweep import SweepResult, sweep
from simkit.trace.core import Trace

__all__ = ["Progress", "gpu_load_curve", "simulate", "simulate_policies", "trace_at"]

#: ``progress(done, total)``, called after each run
Progress = Callable[[int, int], None]


def trace_at(p: PreparedTrace, requests_per_month: float | None) -> Trace:
    """The trace as the study simulates it: its first request at time 0 and its arrivals
    rescaled to ``requests_per_month`` (same order and gaps, compressed or stretched; the
    trace's own rate when None).

    Starting at 0 matters for cost: the simulator rents the GPUs from time 0, so a slice
    whose first request came late (e.g. the second half of a trace) would otherwise pay
    for idle hours that belong to no request. The shift is recorded in ``meta``.
    """
    volume = positive(requests_per_month, key="requests_per_month")
    req = p.trace.requests.copy()
    first = float(req["arrival_s"].min()) if len(req) else 0.0
    factor = 1.0 if volume is None else p.trace_requests_per_month / volume
    if first == 0.0 and factor == 1.0:
        return p.trace
    req["arrival_s"] = (req["arrival_s"] - first) * factor
    meta = dict(p.trace.meta)
    meta["study_arrivals"] = {"shifted_by_s": -first, "time_scale": factor}
    if volume is not None:
        meta["rescaled_to_requests_per_month"] = volume
    return p.trace.replace(requests=req, meta=meta)


def _first(trace: Trace, n_requests: int | None) -> Trace:
    """The first ``n_requests`` requests of ``trace`` (all without a number)."""
    if n_requests is not None and n_requests < trace.n_requests:
        return trace.subset(np.arange(trace.n_requests) < int(n_requests))
    return trace


def simulate_policies(
    p: PreparedTrace,
    policies: Mapping[str, Policy],
    *,
    fleet: Fleet | None = None,
    requests_per_month: float | None = None,
    seeds: Sequence[int] = (0,),
    n_requests: int | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> SweepResult:
    """Full simulations of every policy under every seed (:func:`simkit.sweep.sweep`;
    ``run_id`` policy-major, seed-minor), the arrivals rescaled by :func:`trace_at`.

    ``n_requests`` keeps only the first requests (after rescaling); ``n_jobs`` joblib
    workers run the simulations (same records for any ``n_jobs``). Costs use the study's
    ``cost_source`` (the rows' ``cost_source`` column says which).
    """
    fleet = fleet or p.fleet
    trace = _first(trace_at(p, requests_per_month), n_requests)
    seeds = list(seeds)
    if not seeds:
        raise SpecError("study", key="seeds", problem="no seeds; give at least one")
    return sweep(
        trace,
        fleet,
        policies,
        seeds=[int(s) for s in seeds],
        n_jobs=n_jobs,
        progress=progress or False,
        keep_records=True,
        cost_source=p.cost_source,
    )


def simulate(
    p: PreparedTrace,
    policy: Policy,
    *,
    fleet: Fleet | None = None,
    requests_per_month: float | None = None,
    seeds: Sequence[int] = (0,),
    n_requests: int | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Full simulations of ``policy``, one per seed (``run_id`` = position in ``seeds``).

    Returns
    -------
    (records, endpoints) : tuple of DataFrame
        Concatenated simulator tables of every run.
    """
    runs = simulate_policies(
        p,
        {"policy": policy},
        fleet=fleet,
        requests_per_month=requests_per_month,
        seeds=seeds,
        n_requests=n_requests,
        n_jobs=n_jobs,
        progress=progress,
    )
    return runs.records, runs.endpoints


def gpu_load_curve(
    p: PreparedTrace,
    *,
    tier: str | None = None,
    rates_per_s: Sequence[float] | None = None,
    n_requests: int = 3000,
    seed: int = 0,
    fleet: Fleet | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """TTFT percentiles of ONE replica of a self-hosted tier against its arrival rate.

    Every request of the first ``n_requests`` goes to that tier (``StaticPolicy``), with
    one replica, arrivals rescaled so they come at each rate in ``rates_per_s``; one
    :func:`simkit.sweep.sweep` over the rescaled traces (``n_jobs`` workers, same curve for
    any ``n_jobs``).

    Returns
    -------
    DataFrame
        ``rate_per_s``, ``requests_per_month`` (at that rate), ``p50_ttft_s``,
        ``p95_ttft_s``, ``p99_ttft_s``, ``p95_e2e_s``, ``completed_per_s``.
    """
    fleet = fleet or p.fleet
    gpu_tiers = [t.name for t in fleet.tiers if isinstance(t.endpoint, GpuServer)]
    if not gpu_tiers:
        raise SpecError(fleet.source, key="tiers", problem="the fleet has no self-hosted tier")
    tier = tier or gpu_tiers[0]
    if tier not in gpu_tiers:
        raise SpecError(
            "study",
            key="tier",
            problem=f"{tier!r} is not a self-hosted tier; self-hosted: {', '.join(gpu_tiers)}",
        )
    one = replace(
        fleet,
        tiers=tuple(
            replace(t, endpoint=replace(t.endpoint, replicas=1)) if t.name == tier else t
            for t in fleet.tiers
        ),
    )
    if rates_per_s is None:
        base = p.trace_requests_per_month / SECONDS_PER_MONTH
        rates_per_s = base * np.geomspace(0.25, 6.0, 14)
    # one sweep over the same requests at every rate: the runs are independent (n_jobs)
    rates = [float(rate) for rate in rates_per_s]
    if not rates:
        return pd.DataFrame()
    traces = {
        str(i): _first(trace_at(p, rate * SECONDS_PER_MONTH), n_requests)
        for i, rate in enumerate(rates)
    }
    runs = sweep(traces, one, [StaticPolicy(tier)], seeds=[seed], n_jobs=n_jobs, keep_records=True)
    pct = latency_percentiles(runs.records, percentiles=(50, 95, 99))
    done = throughput(runs.records)
    rows = []
    for run_id, rate in enumerate(rates):  # run_id = position in rates (one policy, one seed)
        rows.append(
            {
                "rate_per_s": rate,
                "requests_per_month": rate * SECONDS_PER_MONTH,
                "p50_ttft_s": pct.loc[run_id, "p50_ttft_s"],
                "p95_ttft_s": pct.loc[run_id, "p95_ttft_s"],
                "p99_ttft_s": pct.loc[run_id, "p99_ttft_s"],
                "p95_e2e_s": pct.loc[run_id, "p95_e2e_s"],
                "completed_per_s": float(done.loc[run_id, "completed_per_s"]),
            }
        )
    return pd.DataFrame(rows)
