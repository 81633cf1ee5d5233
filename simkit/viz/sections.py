"""The standard report's sections, drawn from :meth:`simkit.study.Study.report_results`.

Only frames and numbers come in (the attributes of :class:`simkit.study.ReportResults`, as
:class:`ReportInputs` names them: the views may not import the study); every chart is one of
:mod:`simkit.viz.charts`, every table a slice of those frames.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from simkit.errors import SpecError
from simkit.metrics import NonMonotoneCurveWarning, apgr, cpt
from simkit.viz.charts import (
    capacity_chart,
    latency_cdf_chart,
    latency_cost_chart,
    monthly_cost_chart,
    routing_curve_chart,
    tier_cost_chart,
    tier_share_chart,
    tradeoff_chart,
)
from simkit.viz.frames import (
    first_crossings,
    latency_cdf_points,
    routing_curve_points,
    seed_interval_points,
    summary_points,
    tier_cost_points,
    tier_share_points,
    tradeoff_points,
)
from simkit.viz.report import ReportSection
from simkit.viz.report import readable_number as readable

__all__ = ["REPORT_KEYS", "ReportInputs", "study_report_sections"]


class ReportInputs(Protocol):
    """What :func:`study_report_sections` reads: :class:`simkit.study.ReportResults` (see
    there for what each attribute holds)."""

    runs: pd.DataFrame
    chosen: str
    records_chosen: pd.DataFrame
    tradeoff: pd.DataFrame
    routing: Mapping[str, Any]
    routing_models: tuple[str, str, int]
    load_curve: pd.DataFrame | None
    capacity_rps: float | None
    monthly_costs: pd.DataFrame
    crossovers: pd.DataFrame
    tiered_cutoffs: Mapping[str, float] | None
    fleet: pd.DataFrame
    trace: Mapping[str, Any]
    requests_per_month: float
    slo_ttft_s: float
    seeds: list[int]
    cost_source: str


#: The attributes :func:`study_report_sections` reads (those of :class:`ReportInputs`).
REPORT_KEYS = (
    "runs",
    "chosen",
    "records_chosen",
    "tradeoff",
    "routing",
    "routing_models",
    "load_curve",
    "capacity_rps",
    "monthly_costs",
    "crossovers",
    "tiered_cutoffs",
    "fleet",
    "trace",
    "requests_per_month",
    "slo_ttft_s",
    "seeds",
    "cost_source",
)


def _percent(value: float) -> str:
    return "–" if value != value else f"{value:.1%}"


def _policy_table(runs: pd.DataFrame, tiers: list[str]) -> pd.DataFrame:
    """Mean over seeds per policy; fractions as percentages (as in every simkit table)."""
    columns = {
        "cost_per_1k_usd": "$ / 1k requests",
        "monthly_cost_usd": "$ / month",
        "mean_quality": "quality",
        "p95_ttft_s": "p95 TTFT (s)",
        "slo_attainment": "TTFT within SLO",
        "failure_rate": "failed",
    }
    shares = {f"share_{t}": f"{t} share" for t in tiers if f"share_{t}" in runs}
    mean = runs.groupby("policy", sort=False)[list(columns) + list(shares)].mean()
    mean = mean.rename(columns={**columns, **shares}).reset_index()
    for column in ["TTFT within SLO", "failed", *shares.values()]:
        mean[column] = mean[column].map(_percent)
    return mean


#: Human headers of the capacity (load curve) table.
_LOAD_HEADERS = {
    "rate_per_s": "offered rate (requests/s)",
    "requests_per_month": "requests / month",
    "p50_ttft_s": "p50 TTFT (s)",
    "p95_ttft_s": "p95 TTFT (s)",
    "p99_ttft_s": "p99 TTFT (s)",
    "p95_e2e_s": "p95 end-to-end (s)",
    "completed_per_s": "completed (requests/s)",
}

#: Human headers of the crossover table.
_CROSSOVER_HEADERS = {
    "label": "strategies that cost the same",
    "cheaper_below": "cheaper below this volume",
    "requests_per_month": "requests / month",
    "monthly_cost_usd": "$ / month",
}

#: Rows of the fleet table (Fleet.describe keys) and how they read.
_FLEET_ROWS = {
    "kind": "kind",
    "model": "model",
    "quality_model": "answers recorded for",
    "private": "keeps data in-house",
    "replicas": "replicas",
    "usd_per_gpu_hour": "$ / GPU-hour",
    "gpus_per_replica": "GPUs per replica",
    "marginal_usd_per_mtok": "marginal $ / 1M tokens",
    "preset": "serving preset",
    "input_usd_per_mtok": "$ / 1M input tokens",
    "output_usd_per_mtok": "$ / 1M output tokens",
    "price_source": "price from",
}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fleet_cell(value: Any) -> str:
    if _blank(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return readable(value) if isinstance(value, float) else str(value)


def _fleet_table(fleet: pd.DataFrame) -> pd.DataFrame:
    """One column per tier, one row per property (rows no tier has are left out), so the
    table stays narrow however long the model names are."""
    rows = []
    for key, label in _FLEET_ROWS.items():
        if key not in fleet:
            continue
        values = fleet[key].tolist()
        if all(_blank(v) for v in values):
            continue
        cells = [_fleet_cell(v) for v in values]
        rows.append([label, *cells])
    extra = [c for c in fleet.columns if c not in _FLEET_ROWS and c != "tier"]
    for key in extra:
        values = fleet[key].tolist()
        if not all(_blank(v) for v in values):
            rows.append([key.replace("_", " "), *["" if _blank(v) else str(v) for v in values]])
    return pd.DataFrame(rows, columns=["", *fleet["tier"].astype(str)])


def study_report_sections(results: ReportInputs) -> list[ReportSection]:
    """Report sections: policies simulated, cost vs quality, the RouteLLM-style curve, latency
    CDFs, self-hosted capacity, monthly cost vs volume, and the fleet.

    Parameters
    ----------
    results : ReportResults
        :meth:`simkit.study.Study.report_results` output (attributes :data:`REPORT_KEYS`).

    Returns
    -------
    list of ReportSection
        For :func:`simkit.viz.write_report`.
    """
    missing = [k for k in REPORT_KEYS if not hasattr(results, k)]
    if missing:
        raise SpecError(
            "study_report_sections",
            key=missing[0],
            problem=f"missing from the results ({len(missing)} missing); pass "
            "Study.report_results() output",
        )
    runs: pd.DataFrame = results.runs
    fleet: pd.DataFrame = results.fleet
    tiers = fleet["tier"].astype(str).tolist()
    frontier, cheapest = tiers[-1], tiers[0]
    volume = float(results.requests_per_month)
    slo = float(results.slo_ttft_s)
    seeds = list(results.seeds)
    chosen = str(results.chosen)
    per_run = f"{len(seeds)} seed(s) each" if len(seeds) > 1 else f"seed {seeds[0]}"
    observed = str(results.cost_source) == "observed"
    token_prices = (
        "API token costs are the ones the trace recorded for each request (observed cost, "
        "not catalog prices)"
        if observed
        else "API token costs are catalog prices times the token counts"
    )
    sections = []

    table = _policy_table(runs, tiers)
    shares = tier_share_points(runs, tiers=tiers)
    sections.append(
        ReportSection(
            "Policies simulated",
            text=(
                f"Every policy replayed through the SimPy simulator at {volume:,.0f} requests "
                f"per month ({per_run}). Cost includes the GPU rental of the whole fleet over "
                f"the simulated horizon (idle GPUs still cost); {token_prices}. The SLO is "
                f"TTFT <= {slo:g} s."
            ),
            chart=tier_share_chart(shares, tiers=tiers),
            table=table,
            name="policies",
            data=shares,
        )
    )

    intervals = seed_interval_points(runs)
    sections.append(
        ReportSection(
            "Latency vs cost",
            text=(
                "p95 time to first token against cost per 1k requests, one point per policy "
                + (
                    f"(the mean over {len(seeds)} seeds; bars: the 95% t-interval of that mean, "
                    "how far other seeds could move it)."
                    if len(seeds) > 1
                    else "(one seed: run the report with --seeds 0,1,2 for intervals)."
                )
                + f" The red rule is the {slo:g} s TTFT SLO."
            ),
            chart=latency_cost_chart(intervals, slo_ttft_s=slo),
            name="latency-cost",
            data=intervals,
        )
    )

    tier_costs = tier_cost_points(runs, tiers=tiers)
    sections.append(
        ReportSection(
            "Cost per tier",
            text=(
                "What each tier costs per 1k requests under each policy: its tokens plus, for "
                "a self-hosted tier, its GPU rental over the simulated horizon (paid even by "
                "policies that send it nothing)."
            ),
            chart=tier_cost_chart(tier_costs, tiers=tiers),
            name="tier-cost",
            data=tier_costs,
        )
    )

    simulated = summary_points(
        runs, frontier_tier=frontier, threshold="threshold", operating=[chosen], family="family"
    )
    points = tradeoff_points(pd.concat([results.tradeoff, simulated], ignore_index=True))
    sections.append(
        ReportSection(
            "Cost vs quality",
            text=(
                "Lines: threshold routing between the frontier and each cheaper tier, computed "
                "for many cut-offs without the simulator (the random mix is the straight line "
                "between all-cheapest and all-frontier). Simulated policies carry their p95 "
                f"TTFT in the tooltip; the diamond is '{chosen}'. The dashed staircase is the "
                "Pareto frontier: nothing else is both cheaper and better."
            ),
            chart=tradeoff_chart(points, subtitle=f"at {volume:,.0f} requests per month"),
            name="tradeoff",
            data=points,
        )
    )

    routing = results.routing
    weak_model, strong_model, n_both = results.routing_models
    router_names = [k for k in routing if k not in ("random", "oracle")]
    curve = routing_curve_points(
        {k: routing[k] for k in router_names},
        random=routing.get("random"),
        oracle=routing.get("oracle"),
    )
    metrics_rows = []
    for name, c in routing.items():
        row = {"curve": name, "APGR": apgr(c)}
        with warnings.catch_warnings():
            # RouteLLM's np.interp CPT on a curve that dips: said in the table, not as a
            # warning pointing into simkit's code
            warnings.simplefilter("ignore", NonMonotoneCurveWarning)
            for target in (0.5, 0.8):
                row[f"frontier share for {target:.0%} PGR"] = float(cpt(c, target))
        row["quality never falls as the share grows"] = (
            "yes" if c.is_monotone else ("no: CPT interpolated as RouteLLM does")
        )
        metrics_rows.append(row)
    sections.append(
        ReportSection(
            "Quality vs frontier share (RouteLLM style)",
            text=(
                f"Two models: the cheapest tier's ({weak_model}) and the frontier's "
                f"({strong_model}), on the {n_both:,} requests with both outcomes. RouteLLM's "
                "11-point decile sweep of the score, its seeded random router and its oracle; "
                "APGR by the trapezoid, as the reference code computes it."
            ),
            chart=routing_curve_chart(curve),
            table=pd.DataFrame(metrics_rows),
            name="routing",
            data=curve,
        )
    )

    cdf = latency_cdf_points(results.records_chosen)
    answered = sorted(set(cdf["tier"]), key=tiers.index) if set(cdf["tier"]) <= set(tiers) else []
    idle = [t for t in tiers if t not in answered]
    sections.append(
        ReportSection(
            "Latency per tier",
            text=(
                f"Time to first token and end-to-end latency of '{chosen}' per answering tier, "
                f"all seeds pooled; the red rule is the {slo:g} s TTFT SLO."
                + (
                    f" '{chosen}' sent nothing to {', '.join(repr(t) for t in idle)}, so "
                    "there is no curve for it."
                    if idle
                    else ""
                )
            ),
            chart=latency_cdf_chart(cdf, slo_ttft_s=slo, tiers=tiers),
            name="latency",
            data=cdf,
        )
    )

    load = results.load_curve
    capacity = results.capacity_rps
    if load is not None:
        cap_text = (
            "even the lowest rate measured misses the SLO"
            if capacity == 0
            else f"{capacity:.2f} requests/s ({capacity * 30 * 86400:,.0f} per month)"
        )
        sections.append(
            ReportSection(
                "Self-hosted capacity",
                text=(
                    "One replica of the self-hosted tier, every request sent to it, arrivals "
                    "of this trace compressed or stretched to each rate. Capacity = the "
                    f"highest rate whose p95 TTFT stays within {slo:g} s: {cap_text}."
                ),
                chart=capacity_chart(load, slo_ttft_s=slo, capacity_rps=capacity),
                table=load.rename(columns=_LOAD_HEADERS),
                name="capacity",
                data=load,
            )
        )

    cross = results.crossovers
    tiered = results.tiered_cutoffs or {}
    tiered_text = ", ".join(f"{t} score >= {c:.3f}" for t, c in tiered.items())
    sections.append(
        ReportSection(
            "Monthly cost vs request volume",
            text=(
                (
                    "This trace's recorded (observed) token cost per request"
                    if observed
                    else "Token prices times this trace's token counts per request"
                )
                + ", plus the GPU "
                "replicas each volume needs at the measured capacity (at least one when the "
                f"self-hosted tier is used). 'tiered': {tiered_text or 'no cut-offs'}. "
                "Circles mark where two strategies cost the same (first crossing per pair "
                "labelled); the dashed rule is the simulated volume."
            ),
            chart=monthly_cost_chart(
                results.monthly_costs,
                first_crossings(cross) if len(cross) else None,
                volume=volume,
            ),
            table=cross.rename(columns=_CROSSOVER_HEADERS) if len(cross) else None,
            name="monthly-cost",
            data=results.monthly_costs,
        )
    )

    sections.append(
        ReportSection(
            "Fleet",
            text=f"Tiers cheapest first; '{cheapest}' is the cheapest, '{frontier}' the frontier."
            + (
                " The API prices listed are the catalog's; this report charged API tiers the "
                "costs the trace recorded instead (observed cost)."
                if observed
                else ""
            ),
            table=_fleet_table(fleet),
            name="fleet",
        )
    )
    return sections
