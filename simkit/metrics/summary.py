"""One row per simulated run with every headline number: the demo table and the sweep frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simkit.metrics._records import checked_endpoints, same_runs, table
from simkit.metrics.cost import cost_summary, gpu_cost_usd, token_cost_usd
from simkit.metrics.latency import (
    DEFAULT_PERCENTILES,
    latency_percentiles,
    slo_attainment,
    throughput,
)
from simkit.metrics.operations import event_counts, prefix_cache_stats, tier_shares, utilisation
from simkit.metrics.quality import quality_summary
from simkit.schema import RECORD_COLUMNS

__all__ = ["summarize_runs"]

_COUNTS = (
    "n_requests",
    "n_completed",
    "n_failed",
    "n_quality_known",
    "retries",
    "requests_retried",
    "n_429",
    "requests_429",
    "n_context_exceeded",
    "privacy_violations",
)


def _run_parameters(records: pd.DataFrame, runs: pd.Index) -> pd.DataFrame:
    """Extra record columns (sweep parameters) that hold one value per run."""
    extras = [c for c in records.columns if c not in RECORD_COLUMNS]
    if not extras:
        return pd.DataFrame(index=runs)
    grouped = records.groupby("run_id", sort=True)
    constant = grouped[extras].nunique(dropna=False).le(1).all()
    kept = [c for c in extras if constant[c]]
    if not kept:
        return pd.DataFrame(index=runs)
    first = records.drop_duplicates("run_id").set_index("run_id")
    return first[kept].reindex(runs)


def summarize_runs(
    records: pd.DataFrame,
    endpoints: pd.DataFrame,
    *,
    slo_ttft_s: float | None = None,
    slo_e2e_s: float | None = None,
    failed_quality: float | None = 0.0,
    requests_per_month: float | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> pd.DataFrame:
    """Headline cost, quality, latency and fleet numbers, one row per ``run_id``.

    Parameters
    ----------
    records : DataFrame
        Simulator records (:data:`simkit.schema.RECORD_COLUMNS`), any number of runs. Extra
        columns that hold one value per run (a sweep's parameters) are carried into the
        result; extra columns that vary within a run are not summarised.
    endpoints : DataFrame
        Simulator endpoint rows (:data:`simkit.schema.ENDPOINT_COLUMNS`) for the same runs.
    slo_ttft_s, slo_e2e_s : float, optional
        Latency budgets; with either, an ``slo_attainment`` column is added
        (:func:`simkit.metrics.slo_attainment`).
    failed_quality : float or None, default 0.0
        Score of failed requests in ``mean_quality_incl_failed``
        (:func:`simkit.metrics.quality_summary`); None leaves that column out.
    requests_per_month : float, optional
        Volume for the monthly extrapolation (:func:`simkit.metrics.cost_summary`); default
        each run's own arrival rate.
    percentiles : sequence of float, default (50, 95, 99)
        Latency percentiles (numpy ``"linear"``).

    Returns
    -------
    DataFrame
        One row per run, sorted by ``run_id`` (a column), then the run's parameter columns,
        then: cost (``n_requests``, ``token_cost_usd``, ``gpu_cost_usd``, ``total_cost_usd``,
        ``cost_per_1k_usd``, ``arrival_rate_per_s``, ``requests_per_month``,
        ``monthly_token_cost_usd``, ``monthly_gpu_cost_usd``, ``monthly_cost_usd``), quality
        (``n_completed``, ``n_failed``, ``failure_rate``, ``n_quality_known``,
        ``quality_coverage``, ``mean_quality``, ``mean_quality_incl_failed``), latency
        (``p50_ttft_s`` ... ``p99_e2e_s``, ``slo_attainment``), ``makespan_s``,
        ``completed_per_s``, ``output_tokens_per_s``, ``share_<tier>`` for every tier of the
        fleet (``endpoints``) and every tier seen in any run (0.0 where a run sent it
        nothing), ``cost_usd_<tier>`` (per-token spend booked
        to the tier plus its GPU cost; spend of requests that reached no tier is in
        ``token_cost_usd`` only), ``utilisation_<tier>`` (NaN where a run has no such tier),
        and ``retries``, ``requests_retried``, ``n_429``, ``requests_429``,
        ``n_context_exceeded`` (requests refused over a tier's context window),
        ``privacy_violations``; for each tier whose prefix cache looked anything up,
        ``prefix_hit_rate_<tier>`` and ``prefix_saved_tokens_<tier>``
        (:func:`simkit.metrics.prefix_cache_stats`); counts are int64.
    """
    table(records, [], where="records")
    checked_endpoints(endpoints, ["tier"])
    runs = same_runs(records, endpoints)
    parts = [
        _run_parameters(records, runs),
        cost_summary(records, endpoints, requests_per_month=requests_per_month),
        quality_summary(records, failed_quality=failed_quality).drop(columns="n_requests"),
        latency_percentiles(records, percentiles=percentiles).drop(columns="n_completed"),
    ]
    if slo_ttft_s is not None or slo_e2e_s is not None:
        parts.append(slo_attainment(records, ttft_s=slo_ttft_s, e2e_s=slo_e2e_s).to_frame())
    parts.append(throughput(records))
    shares = tier_shares(records).unstack("tier", fill_value=0.0)
    # every tier of the fleet gets its column, 0.0 where no request went there
    unused = [t for t in pd.unique(endpoints["tier"]) if t and t not in shares.columns]
    shares = shares.reindex(columns=[*shares.columns, *unused], fill_value=0.0)
    parts.append(shares.reindex(runs, fill_value=0.0).add_prefix("share_"))
    tier_cost = pd.concat(
        [token_cost_usd(records, by_tier=True), gpu_cost_usd(endpoints, by_tier=True)], axis=1
    ).fillna(0.0)
    tier_cost = tier_cost[tier_cost.index.get_level_values("tier") != ""].sum(axis=1)
    parts.append(
        tier_cost.unstack("tier", fill_value=0.0)
        .reindex(runs, fill_value=0.0)
        .add_prefix("cost_usd_")
    )
    util = utilisation(endpoints, by="tier").unstack("tier")
    parts.append(util.reindex(runs).add_prefix("utilisation_"))
    if "prefix_lookup_blocks" in endpoints.columns:
        # only tiers whose cache looked something up, so fleets without one summarise as before
        pc = prefix_cache_stats(endpoints, by="tier")
        used = pc.groupby(level="tier")["lookup_blocks"].sum()
        pc = pc[pc.index.get_level_values("tier").isin(used[used > 0].index)]
        if len(pc):
            parts.append(
                pc["hit_rate"].unstack("tier").reindex(runs).add_prefix("prefix_hit_rate_")
            )
            parts.append(
                pc["saved_tokens"].unstack("tier").reindex(runs).add_prefix("prefix_saved_tokens_")
            )
    parts.append(event_counts(records).drop(columns=["n_requests", "n_failed"]))
    out = pd.concat([p.reindex(runs) for p in parts], axis=1)
    out.columns = [str(c) for c in out.columns]
    counts = [*_COUNTS, *(c for c in out.columns if c.startswith("prefix_saved_tokens_"))]
    for c in counts:  # counts are whole numbers: int64, not 15344.0
        if c in out.columns and out[c].notna().all():
            out[c] = out[c].astype("int64")
    out.index = pd.Index(np.asarray(runs), name="run_id")
    return out.reset_index()
