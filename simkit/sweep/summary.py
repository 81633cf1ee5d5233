"""Per-run headline numbers of simulated records, for sweeps, the CLI and the demo.

These are plain aggregates of one run's records (counts, sums, percentiles); the reference
metrics (APGR/CPT, AIQ, Pareto fronts, SLO curves) live in :mod:`simkit.metrics`.

Cost accounting: per-token spend of every attempt plus the fixed rental of every GPU replica
over the run's horizon (idle GPUs still cost). Monthly cost scales the run to 30 days at the
trace's arrival rate: ``total_cost_usd * (30 * 86400 / span_s)``, where ``span_s`` is the
time from the first to the last arrival (or the horizon when all arrive at once).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simkit.fleet.spec import Fleet
from simkit.sim.records import Records

__all__ = ["SECONDS_PER_MONTH", "summarize_run"]

#: 30 days.
SECONDS_PER_MONTH = 30 * 86_400


def summarize_run(records: Records, fleet: Fleet, *, slo_ttft_s: float = 2.0) -> dict[str, Any]:
    """Headline numbers of one run as a flat, JSON-ready dict.

    Parameters
    ----------
    records : Records
        One run of :func:`~simkit.sim.simulate`.
    fleet : Fleet
        The fleet it ran on (tier order for the share columns).
    slo_ttft_s : float
        A request meets the SLO if it completed with TTFT <= this.

    Returns
    -------
    dict
        ``n_requests``, ``completed_share``, ``token_cost_usd``, ``gpu_cost_usd``,
        ``total_cost_usd``, ``cost_per_1k_usd``, ``monthly_cost_usd``, ``mean_quality``
        (completed requests with an outcome), ``quality_coverage``, ``ttft_p50_s``,
        ``ttft_p95_s``, ``e2e_p95_s``, ``slo_attainment``, ``privacy_violations``, ``n_429``,
        ``retries``, ``horizon_s``, and ``share_<tier>`` for each tier (share of requests whose
        answer came from it; failed requests count in no tier).
    """
    r = records.requests
    n = len(r)
    done = (r["status"] == "completed").to_numpy()
    arrival = r["arrival_s"].to_numpy(dtype="float64")
    ttft = r["first_token_s"].to_numpy(dtype="float64") - arrival
    e2e = r["end_s"].to_numpy(dtype="float64") - arrival
    q = r["quality"].to_numpy(dtype="float64")
    token_cost = float(r["cost_usd"].sum())
    gpu_cost = float(fleet.fixed_usd_per_hour * records.horizon_s / 3600.0)
    total = token_cost + gpu_cost
    span = float(arrival.max() - arrival.min()) if n else 0.0
    if span <= 0:
        span = records.horizon_s
    scored = done & np.isfinite(q)

    def pct(x: np.ndarray, p: float) -> float:
        x = x[np.isfinite(x)]
        return float(np.quantile(x, p)) if x.size else float("nan")

    out: dict[str, Any] = {
        "n_requests": n,
        "completed_share": float(done.mean()) if n else float("nan"),
        "token_cost_usd": token_cost,
        "gpu_cost_usd": gpu_cost,
        "total_cost_usd": total,
        "cost_per_1k_usd": total / n * 1000 if n else float("nan"),
        "monthly_cost_usd": total * SECONDS_PER_MONTH / span if span > 0 else float("nan"),
        "mean_quality": float(q[scored].mean()) if scored.any() else float("nan"),
        "quality_coverage": float(scored.mean()) if n else float("nan"),
        "ttft_p50_s": pct(ttft[done], 0.5),
        "ttft_p95_s": pct(ttft[done], 0.95),
        "e2e_p95_s": pct(e2e[done], 0.95),
        "slo_attainment": float((done & (ttft <= slo_ttft_s)).mean()) if n else float("nan"),
        "privacy_violations": int(r["privacy_violation"].sum()),
        "n_429": int(r["n_429"].sum()),
        "retries": int(r["retries"].sum()),
        "horizon_s": float(records.horizon_s),
    }
    tiers = r["tier"].to_numpy(dtype=object)
    for name in fleet.tier_names:
        out[f"share_{name}"] = float((tiers == name).mean()) if n else float("nan")
    return out
