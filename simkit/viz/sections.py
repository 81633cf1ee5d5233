"""The standard report's sections, drawn from :meth:`simkit.study.Study.report_results`.

Only frames and numbers come in (the results dict); every chart is one of
:mod:`simkit.viz.charts`, every table a slice of those frames.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from simkit.errors import SpecError
from simkit.metrics import NonMonotoneCurveWarning, apgr, cpt
from simkit.viz.charts import (
    latency_cdf_chart,
    monthly_cost_chart,
    routing_curve_chart,
    tier_share_chart,
    tradeoff_chart,
)
from simkit.viz.frames import (
    first_crossings,
    latency_cdf_points,
    routing_curve_points,
    summary_points,
    tier_share_points,
    tradeoff_points,
)
from simkit.viz.report import ReportSection

__all__ = ["REPORT_KEYS", "study_report_sections"]

#: What :func:`study_report_sections` reads from the results dict.
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
)


def _policy_table(runs: pd.DataFrame, tiers: list[str]) -> pd.DataFrame:
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
    return mean


def study_report_sections(results: Mapping[str, Any]) -> list[ReportSection]:
    """Report sections: policies simulated, cost vs quality, the RouteLLM-style curve, latency
    CDFs, self-hosted capacity, monthly cost vs volume, and the fleet.

    Parameters
    ----------
    results : mapping
        :meth:`simkit.study.Study.report_results` output (keys :data:`REPORT_KEYS`).

    Returns
    -------
    list of ReportSection
        For :func:`simkit.viz.write_report`.
    """
    missing = [k for k in REPORT_KEYS if k not in results]
    if missing:
        raise SpecError(
            "study_report_sections",
            key=missing[0],
            problem=f"missing from the results ({len(missing)} missing); pass "
            "Study.report_results() output",
        )
    runs: pd.DataFrame = results["runs"]
    fleet: pd.DataFrame = results["fleet"]
    tiers = fleet["tier"].astype(str).tolist()
    frontier, cheapest = tiers[-1], tiers[0]
    volume = float(results["requests_per_month"])
    slo = float(results["slo_ttft_s"])
    seeds = list(results["seeds"])
    chosen = str(results["chosen"])
    per_run = f"{len(seeds)} seed(s) each" if len(seeds) > 1 else f"seed {seeds[0]}"
    sections = []

    table = _policy_table(runs, tiers)
    sections.append(
        ReportSection(
            "Policies simulated",
            text=(
                f"Every policy replayed through the SimPy simulator at {volume:,.0f} requests "
                f"per month ({per_run}). Cost includes the GPU rental of the whole fleet over "
                f"the simulated horizon (idle GPUs still cost); the SLO is TTFT <= {slo:g} s."
            ),
            chart=tier_share_chart(tier_share_points(runs, tiers=tiers), tiers=tiers),
            table=table,
            name="policies",
        )
    )

    simulated = summary_points(
        runs, frontier_tier=frontier, threshold="threshold", operating=[chosen], family="family"
    )
    points = tradeoff_points(pd.concat([results["tradeoff"], simulated], ignore_index=True))
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
        )
    )

    routing = results["routing"]
    weak_model, strong_model, n_both = results["routing_models"]
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
        )
    )

    sections.append(
        ReportSection(
            "Latency per tier",
            text=(
                f"Time to first token and end-to-end latency of '{chosen}' per answering tier, "
                f"all seeds pooled; the red rule is the {slo:g} s TTFT SLO."
            ),
            chart=latency_cdf_chart(latency_cdf_points(results["records_chosen"]), slo_ttft_s=slo),
            name="latency",
        )
    )

    load = results["load_curve"]
    capacity = results["capacity_rps"]
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
                table=load,
                name="capacity",
            )
        )

    cross = results["crossovers"]
    tiered = results["tiered_cutoffs"] or {}
    tiered_text = ", ".join(f"{t} score >= {c:.3f}" for t, c in tiered.items())
    sections.append(
        ReportSection(
            "Monthly cost vs request volume",
            text=(
                "Token prices times this trace's token counts per request, plus the GPU "
                "replicas each volume needs at the measured capacity (at least one when the "
                f"self-hosted tier is used). 'tiered': {tiered_text or 'no cut-offs'}. "
                "Circles mark where two strategies cost the same (first crossing per pair "
                "labelled); the dashed rule is the simulated volume."
            ),
            chart=monthly_cost_chart(
                results["monthly_costs"],
                first_crossings(cross) if len(cross) else None,
                volume=volume,
            ),
            table=cross.rename(columns={"requests_per_month": "requests / month"})
            if len(cross)
            else None,
            name="monthly-cost",
        )
    )

    sections.append(
        ReportSection(
            "Fleet",
            text=f"Tiers cheapest first; '{cheapest}' is the cheapest, '{frontier}' the frontier.",
            table=fleet.map(
                lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else v
            ),
            name="fleet",
        )
    )
    return sections
