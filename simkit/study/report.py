"""The standard report's numbers: the policies simulated (in parallel, through
:func:`simkit.sweep.sweep`), the vectorised curves, the RouteLLM-style curves, the self-hosted
capacity and the monthly cost against volume, gathered in one frozen :class:`ReportResults`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simkit.fleet.spec import GpuServer
from simkit.metrics import (
    DEFAULT_SLO_TTFT_S,
    RoutingCurve,
    routellm_curve,
    routellm_oracle_curve,
    routellm_random_curve,
    summarize_runs,
)
from simkit.metrics.planning import capacity_rps, cost_crossovers, monthly_costs
from simkit.policies import OraclePolicy, StaticPolicy, ThresholdPolicy
from simkit.policies.base import Policy
from simkit.study._checks import positive
from simkit.study.arrays import PreparedTrace
from simkit.study.simulation import Progress, gpu_load_curve, simulate_policies
from simkit.study.whatif import cost_plan, cutoffs_for_shares, threshold_policy, tradeoff
from simkit.trace.summary import summarize

__all__ = ["ReportResults", "report_results"]


@dataclass(frozen=True, eq=False)
class ReportResults:
    """Every frame and number of the standard HTML report (:func:`report_results`), read by
    :func:`simkit.viz.study_report_sections`.

    Attributes
    ----------
    runs : DataFrame
        :func:`simkit.metrics.summarize_runs`, one row per run, with ``policy``,
        ``threshold`` and ``family`` (the vectorised curve the run belongs to).
    chosen : str
        Label of the policy whose records are kept: ``chosen`` (the cut-offs given), else
        the middle frontier share, else all-frontier.
    records_chosen : DataFrame
        Simulator records of every run of ``chosen``.
    tradeoff : DataFrame
        :meth:`simkit.study.Study.tradeoff` at the simulated volume.
    routing : mapping name -> RoutingCurve
        RouteLLM curves of the score router between the cheapest tier and the frontier, of
        the random router and of the oracle.
    routing_models : (str, str, int)
        The cheapest tier's and the frontier's quality models, and the number of requests
        with both outcomes.
    load_curve : DataFrame or None
        One self-hosted replica's TTFT against its arrival rate (None without a
        self-hosted tier).
    capacity_rps : float or None
        That replica's capacity within the SLO (None without a self-hosted tier).
    monthly_costs : DataFrame
        Monthly cost of every strategy against volume.
    crossovers : DataFrame
        Where two strategies cost the same.
    tiered_cutoffs : mapping tier -> float, or None
        The cut-offs of the ``tiered`` strategy.
    fleet : DataFrame
        :meth:`simkit.fleet.Fleet.describe` rows.
    trace : mapping
        :func:`simkit.trace.summary.summarize` of the trace.
    requests_per_month : float
        The simulated volume.
    slo_ttft_s : float
        The TTFT SLO.
    seeds : list of int
        Every policy ran once per seed.
    cost_source : {"catalog", "observed"}
        Which prices every cost of the report used (the study's); ``runs`` and ``tradeoff``
        carry it as a column, ``monthly_costs`` and ``crossovers`` in ``attrs``.
    """

    runs: pd.DataFrame = field(repr=False)
    chosen: str
    records_chosen: pd.DataFrame = field(repr=False)
    tradeoff: pd.DataFrame = field(repr=False)
    routing: Mapping[str, RoutingCurve] = field(repr=False)
    routing_models: tuple[str, str, int]
    load_curve: pd.DataFrame | None = field(repr=False)
    capacity_rps: float | None
    monthly_costs: pd.DataFrame = field(repr=False)
    crossovers: pd.DataFrame = field(repr=False)
    tiered_cutoffs: Mapping[str, float] | None
    fleet: pd.DataFrame = field(repr=False)
    trace: Mapping = field(repr=False)
    requests_per_month: float
    slo_ttft_s: float
    seeds: list[int]
    cost_source: str = "catalog"


def _policies(
    p: PreparedTrace, cutoffs: Mapping[str, float] | None, frontier_shares: Sequence[float]
) -> tuple[dict[str, tuple[Policy, float]], dict[str, str]]:
    """label -> (policy, frontier cut-off) of every policy simulated, and label -> family."""
    cheapest, frontier = p.tiers[0], p.frontier
    policies: dict[str, tuple[Policy, float]] = {
        f"all {t}": (StaticPolicy(t), math.nan) for t in p.tiers
    }
    family = {label: label for label in policies}
    for share in frontier_shares:
        cut = cutoffs_for_shares(p, {frontier: float(share)})[frontier]
        label = f"{frontier} {share:.0%} / {cheapest}"
        policies[label] = (ThresholdPolicy({frontier: cut}, score=p.score), cut)
        family[label] = f"{frontier} / {cheapest}"  # a point of that vectorised curve
    if cutoffs:
        policies["chosen"] = (threshold_policy(p, cutoffs), float(cutoffs.get(frontier, math.nan)))
    policies["oracle"] = (OraclePolicy.from_trace(p.trace, p.fleet), math.nan)
    family.update(chosen="chosen", oracle="oracle")
    return policies, family


def _routing(p: PreparedTrace) -> tuple[dict[str, RoutingCurve], tuple[str, str, int]]:
    cheapest, frontier = p.tiers[0], p.frontier
    weak_q = p.quality[cheapest].to_numpy()
    strong_q = p.quality[frontier].to_numpy()
    both = ~(np.isnan(weak_q) | np.isnan(strong_q))
    w, st, sc = weak_q[both], strong_q[both], p.scores[both]
    routing = {
        f"{p.score} router": routellm_curve(sc, w, st),
        "random": routellm_random_curve(w, st, seed=0),
        "oracle": routellm_oracle_curve(w, st),
    }
    models = (
        p.fleet.tier(cheapest).quality_model,
        p.fleet.tier(frontier).quality_model,
        int(both.sum()),
    )
    return routing, models


def tiered_shares(tiers: Sequence[str], frontier_share: float) -> dict[str, float]:
    """The 'tiered' strategy's shares without given cut-offs: ``frontier_share`` to the
    frontier and as much (while it fits) to each tier between it and the cheapest, so every
    tier gets traffic; the cheapest takes the rest."""
    middle = list(tiers[1:-1])
    each = min(frontier_share, (1.0 - frontier_share) / (len(middle) + 1)) if middle else 0.0
    return {tiers[-1]: frontier_share, **dict.fromkeys(middle, each)}


def report_results(
    p: PreparedTrace,
    *,
    cutoffs: Mapping[str, float] | None = None,
    frontier_shares: Sequence[float] = (0.1, 0.2, 0.3),
    requests_per_month: float | None = None,
    slo_ttft_s: float = DEFAULT_SLO_TTFT_S,
    seeds: Sequence[int] = (0,),
    load_requests: int = 3000,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> ReportResults:
    """Simulate the standard set of policies and compute every frame of the HTML report.

    Policies (each simulated once per seed at ``requests_per_month``): every tier alone
    (``all <tier>``), threshold routing between the frontier and the cheapest tier at the
    cut-offs that send ``frontier_shares`` of this trace to the frontier, the ``cutoffs``
    given (label ``chosen``), and the oracle. ``n_jobs`` joblib workers run the simulations,
    the self-hosted load curve's too (:func:`simkit.sweep.sweep`; the results are the same
    for any ``n_jobs``).
    """
    volume = positive(requests_per_month, key="requests_per_month")
    volume = p.trace_requests_per_month if volume is None else volume
    slo = positive(slo_ttft_s, key="slo_ttft_s")
    seeds = list(seeds)
    frontier = p.frontier
    policies, family = _policies(p, cutoffs, frontier_shares)
    chosen = (
        "chosen"
        if "chosen" in policies
        else list(policies)[len(p.tiers) + len(frontier_shares) // 2]
        if frontier_shares
        else f"all {frontier}"
    )
    runs = simulate_policies(
        p,
        {label: policy for label, (policy, _) in policies.items()},
        requests_per_month=volume,
        seeds=seeds,
        n_jobs=n_jobs,
        progress=progress,
    )
    labels = [(label, threshold) for label, (_, threshold) in policies.items() for _ in seeds]
    summary = summarize_runs(
        runs.records, runs.endpoints, slo_ttft_s=slo, requests_per_month=volume
    )
    summary.insert(1, "policy", [labels[r][0] for r in summary["run_id"]])
    summary.insert(2, "threshold", [labels[r][1] for r in summary["run_id"]])
    summary.insert(3, "family", [family[labels[r][0]] for r in summary["run_id"]])
    summary["cost_source"] = p.cost_source
    chosen_index = list(policies).index(chosen)
    chosen_runs = range(chosen_index * len(seeds), (chosen_index + 1) * len(seeds))
    routing, routing_models = _routing(p)
    load = capacity = None
    if any(isinstance(t.endpoint, GpuServer) for t in p.fleet.tiers):
        load = gpu_load_curve(p, n_requests=load_requests, seed=seeds[0], n_jobs=n_jobs)
        capacity = capacity_rps(load, slo)
    volumes = np.geomspace(volume / 100.0, volume * 100.0, 121)
    tiered = (
        dict(cutoffs.items())
        if cutoffs
        else cutoffs_for_shares(p, tiered_shares(p.tiers, float(np.median(frontier_shares))))
        if frontier_shares
        else None
    )
    plan = cost_plan(p, cutoffs=tiered, gpu_capacity_rps=capacity or None)
    monthly = p.tagged(monthly_costs(plan, volumes))
    crossovers = p.tagged(cost_crossovers(plan, (volumes[0], volumes[-1])))
    return ReportResults(
        runs=summary,
        chosen=chosen,
        records_chosen=runs.records[runs.records["run_id"].isin(chosen_runs)],
        tradeoff=tradeoff(p, requests_per_month=volume),
        routing=routing,
        routing_models=routing_models,
        load_curve=load,
        capacity_rps=capacity,
        monthly_costs=monthly,
        crossovers=crossovers,
        tiered_cutoffs=tiered,
        fleet=pd.DataFrame(p.fleet.describe()),
        trace=summarize(p.trace),
        requests_per_month=volume,
        slo_ttft_s=slo,
        seeds=seeds,
        cost_source=p.cost_source,
    )
