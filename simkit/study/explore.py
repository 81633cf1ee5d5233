"""The explorer's two callbacks: the vectorised frames it redraws when a control moves, and the
simulation behind its button. Both take the typed :class:`~simkit.metrics.planning.ExplorerSettings`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.fleet.spec import Fleet, GpuServer
from simkit.metrics import SECONDS_PER_MONTH, summarize_runs
from simkit.metrics.planning import ExplorerSettings, capacity_rps, cost_crossovers, monthly_costs
from simkit.study.arrays import PreparedTrace
from simkit.study.fleets import fleet_with
from simkit.study.simulation import Progress, simulate
from simkit.study.whatif import (
    cost_plan,
    cutoffs_for_shares,
    evaluate,
    threshold_policy,
    tradeoff,
)

__all__ = ["explore", "settings_cutoffs", "settings_fleet", "simulate_settings"]


def settings_fleet(p: PreparedTrace, settings: ExplorerSettings) -> Fleet:
    """The prepared fleet with the settings' prices, GPU rental and replicas."""
    return fleet_with(
        p.fleet,
        prices=settings.prices,
        gpu_usd_per_hour=settings.gpu_usd_per_hour,
        gpu_replicas=settings.gpu_replicas,
    )


def settings_cutoffs(p: PreparedTrace, settings: ExplorerSettings) -> dict[str, float]:
    """The cut-offs the settings ask for: given directly (``mode='thresholds'``) or
    calibrated from target shares (``mode='shares'``, :func:`~simkit.study.whatif.cutoffs_for_shares`)."""
    if settings.mode == "shares":
        return cutoffs_for_shares(p, settings.shares)
    if settings.mode != "thresholds":
        raise SpecError(
            "explorer",
            key="mode",
            problem=f"got {settings.mode!r}; expected 'thresholds' or 'shares'",
        )
    return {t: float(v) for t, v in settings.cutoffs.items()}


def _share_rows(p: PreparedTrace, point: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """``policy``, ``tier``, ``share`` of the chosen point, the oracle and all-frontier."""
    rows = [("chosen", point.iloc[0])] + [
        (name, curves[curves["policy"] == name].iloc[0]) for name in ("oracle", f"all {p.frontier}")
    ]
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "policy": name,
                    "tier": list(p.tiers),
                    "share": [float(r[f"share_{t}"]) for t in p.tiers],
                }
            )
            for name, r in rows
        ],
        ignore_index=True,
    )


def explore(
    p: PreparedTrace, settings: ExplorerSettings, *, load_curve: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Everything the explorer redraws when a control moves (vectorised, no simulation).

    Parameters
    ----------
    p : PreparedTrace
    settings : ExplorerSettings
    load_curve : DataFrame, optional
        :func:`~simkit.study.simulation.gpu_load_curve` output; with it, one replica's
        capacity at ``settings.slo_ttft_s`` (:func:`~simkit.metrics.planning.capacity_rps`)
        sets the replicas each volume needs in ``monthly_costs`` and the ``gpu_load`` of the
        chosen point.

    Returns
    -------
    dict of DataFrame
        ``tradeoff`` (:func:`~simkit.study.whatif.tradeoff` rows plus the chosen point as
        policy ``"chosen"``, flagged ``operating_point``), ``shares`` (``policy``, ``tier``,
        ``share``), ``monthly_costs``, ``crossovers`` and ``point`` (the chosen point's row).
        Which prices the costs used: the ``cost_source`` column of ``tradeoff`` and
        ``point``, ``attrs["cost_source"]`` of ``monthly_costs`` and ``crossovers``.
    """
    fleet = settings_fleet(p, settings)
    volume = float(settings.requests_per_month)
    cutoffs = settings_cutoffs(p, settings)
    slo = float(settings.slo_ttft_s)
    measured = None if load_curve is None else capacity_rps(load_curve, slo)
    capacity = measured if measured else None  # 0: the SLO is missed at every load
    replicas = int(settings.gpu_replicas or 1)
    curves = tradeoff(p, fleet=fleet, requests_per_month=volume)
    point = evaluate(p, cutoffs, fleet=fleet, requests_per_month=volume)
    point.insert(0, "threshold", cutoffs.get(p.frontier, math.nan))
    point.insert(0, "policy", "chosen")
    gpu_tiers = [t.name for t in fleet.tiers if isinstance(t.endpoint, GpuServer)]
    gpu_share = float(sum(point[f"share_{t}"].iloc[0] for t in gpu_tiers))
    point["gpu_capacity_rps"] = math.nan if measured is None else measured
    if measured is None:
        point["gpu_load"] = math.nan
    elif measured == 0:
        point["gpu_load"] = math.inf if gpu_share > 0 else 0.0
    else:
        point["gpu_load"] = volume * gpu_share / (replicas * measured * SECONDS_PER_MONTH)
    chosen_curve = pd.concat(
        [curves, point.drop(columns=["gpu_load", "gpu_capacity_rps"])], ignore_index=True
    )
    chosen_curve["operating_point"] = chosen_curve["policy"] == "chosen"
    lo = min(volume, p.trace_requests_per_month) / 100.0
    hi = max(volume, p.trace_requests_per_month) * 100.0
    plan = cost_plan(
        p, fleet=fleet, cutoffs=cutoffs, gpu_capacity_rps=capacity, min_replicas=replicas
    )
    return {
        "tradeoff": chosen_curve,
        "shares": _share_rows(p, point, curves),
        "monthly_costs": p.tagged(monthly_costs(plan, np.geomspace(lo, hi, 121))),
        "crossovers": p.tagged(cost_crossovers(plan, (lo, hi))),
        "point": point,
    }


def simulate_settings(
    p: PreparedTrace,
    settings: ExplorerSettings,
    progress: Progress | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    n_jobs: int = 1,
) -> dict[str, pd.DataFrame]:
    """The explorer's button: simulate the chosen point at the chosen volume and fleet.

    :func:`~simkit.study.whatif.threshold_policy` at :func:`settings_cutoffs`, the trace
    rescaled to ``settings.requests_per_month``, one run per seed.

    Returns
    -------
    dict of DataFrame
        ``records`` and ``endpoints`` (all runs) and ``summary``
        (:func:`simkit.metrics.summarize_runs` with ``slo_ttft_s``, one row per run, and the
        study's ``cost_source``).
    """
    fleet = settings_fleet(p, settings)
    policy = threshold_policy(p, settings_cutoffs(p, settings))
    records, endpoints = simulate(
        p,
        policy,
        fleet=fleet,
        requests_per_month=float(settings.requests_per_month),
        seeds=seeds,
        n_jobs=n_jobs,
        progress=progress,
    )
    summary = summarize_runs(
        records,
        endpoints,
        slo_ttft_s=float(settings.slo_ttft_s),
        requests_per_month=float(settings.requests_per_month),
    )
    summary["cost_source"] = p.cost_source
    return {"records": records, "endpoints": endpoints, "summary": summary}
