"""Metrics: pure functions of tidy tables and arrays; they never simulate, plot, print or write.

* Routing-curve metrics exactly as the reference code computes them: RouteLLM's PGR, APGR and
  CPT (:mod:`simkit.metrics.routing`), RouterBench's hull, AIQ, Oracle, Zero router and cascade
  (:mod:`simkit.metrics.routerbench`).
* Simulator records, many runs at once (grouped by ``run_id``): cost
  (:mod:`~simkit.metrics.cost`), quality (:mod:`~simkit.metrics.quality`), latency and SLOs
  (:mod:`~simkit.metrics.latency`), fleet use (:mod:`~simkit.metrics.operations`), one
  headline row per run (:func:`summarize_runs`) and Pareto frontiers (:func:`pareto_front`).
* Quality/cost curves over many thresholds without the simulator (:mod:`~simkit.metrics.curves`).
"""

from simkit.metrics.cost import (
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    cost_summary,
    gpu_cost_per_1k_usd,
    gpu_cost_usd,
    per_1k_requests_usd,
    token_cost_usd,
)
from simkit.metrics.curves import tiered_curve, two_tier_curve
from simkit.metrics.latency import (
    DEFAULT_SLO_TTFT_S,
    latency_percentiles,
    request_latencies,
    slo_attainment,
    throughput,
)
from simkit.metrics.operations import (
    event_counts,
    prefix_cache_stats,
    tier_shares,
    utilisation,
)
from simkit.metrics.pareto import pareto_front
from simkit.metrics.quality import quality_summary
from simkit.metrics.routerbench import (
    NO_MODEL_CORRECT,
    aiq_code,
    aiq_paper,
    cascade_outcomes,
    ndch_code,
    ndch_paper,
    oracle_router,
    zero_router,
)
from simkit.metrics.routing import (
    NonMonotoneCurveWarning,
    RoutingCurve,
    apgr,
    cpt,
    pgr,
    routellm_curve,
    routellm_oracle_curve,
    routellm_random_curve,
    threshold_curve,
)
from simkit.metrics.summary import summarize_runs

__all__ = [
    "DEFAULT_SLO_TTFT_S",
    "HOURS_PER_MONTH",
    "NO_MODEL_CORRECT",
    "SECONDS_PER_MONTH",
    "NonMonotoneCurveWarning",
    "RoutingCurve",
    "aiq_code",
    "aiq_paper",
    "apgr",
    "cascade_outcomes",
    "cost_summary",
    "cpt",
    "event_counts",
    "gpu_cost_per_1k_usd",
    "gpu_cost_usd",
    "per_1k_requests_usd",
    "latency_percentiles",
    "ndch_code",
    "ndch_paper",
    "oracle_router",
    "pareto_front",
    "pgr",
    "prefix_cache_stats",
    "quality_summary",
    "request_latencies",
    "routellm_curve",
    "routellm_oracle_curve",
    "routellm_random_curve",
    "slo_attainment",
    "summarize_runs",
    "threshold_curve",
    "throughput",
    "tier_shares",
    "tiered_curve",
    "token_cost_usd",
    "two_tier_curve",
    "utilisation",
    "zero_router",
]
