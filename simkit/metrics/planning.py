"""Capacity and monthly-cost planning: pure functions of a frozen plan, no simulator.

A :class:`CostPlan` names the ways of serving the traffic (:class:`Strategy`: token cost per
request, the share of requests on the self-hosted tier, the rental of one replica for a month)
and how self-hosted replicas are provisioned. :func:`monthly_costs` prices every strategy at
any volumes; :func:`cost_crossovers` finds exactly where two strategies cost the same;
:func:`capacity_rps` reads one replica's capacity off a measured load curve.
:class:`ExplorerSettings` is what a user picks in the explorer (routing, prices, volume, GPUs,
SLO); it lives here so that the views (which build it) and :mod:`simkit.study` (which
evaluates it) share one typed definition.

Conventions are :mod:`simkit.metrics.cost`'s: a month is 30 days; replicas are rented whole
months, busy or idle. A strategy that sends a share ``s`` of ``v`` requests per month to the
self-hosted tier provisions ``max(min_replicas, ceil(v * s * peak_to_mean / (capacity * 30
days)))`` replicas (``min_replicas`` at every volume without a measured capacity; none when
``s`` is 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.metrics.cost import SECONDS_PER_MONTH
from simkit.metrics.latency import DEFAULT_SLO_TTFT_S

__all__ = [
    "CostPlan",
    "ExplorerSettings",
    "Strategy",
    "capacity_rps",
    "cost_crossovers",
    "monthly_costs",
    "replicas_needed",
]


def _positive(value: float | None, *, key: str, where: str = "study") -> float | None:
    if value is None:
        return None
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise SpecError(where, key=key, problem=f"got {value!r}; expected a finite number > 0")
    return v


@dataclass(frozen=True)
class ExplorerSettings:
    """What the explorer's controls say, passed to its ``update`` and ``simulate`` functions
    (e.g. :meth:`simkit.study.Study.explore` and :meth:`simkit.study.Study.simulate_settings`).

    Stored as given; the functions that use the settings check them (errors name the key).

    Attributes
    ----------
    mode : {'thresholds', 'shares'}
        Route by score cut-offs, or by target shares (cut-offs calibrated on the trace).
    cutoffs : mapping tier -> float
        Minimum score per tier above the cheapest (``mode='thresholds'``).
    shares : mapping tier -> float
        Target share per tier above the cheapest (``mode='shares'``).
    prices : mapping tier -> (input, output) USD per 1M tokens
        Price of every API tier.
    requests_per_month : float
        Monthly volume.
    gpu_usd_per_hour : float
        Rental of one GPU.
    gpu_replicas : int
        Replicas of the self-hosted tier.
    slo_ttft_s : float
        Time-to-first-token budget.
    """

    mode: str
    cutoffs: Mapping[str, float] = field(default_factory=dict)
    shares: Mapping[str, float] = field(default_factory=dict)
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    requests_per_month: float = 1e6
    gpu_usd_per_hour: float = 0.0
    gpu_replicas: int = 1
    slo_ttft_s: float = DEFAULT_SLO_TTFT_S


@dataclass(frozen=True)
class Strategy:
    """One way of serving the traffic, as the monthly-cost plan sees it.

    Attributes
    ----------
    token_usd_per_request : float
        Mean token cost of a request (API prices, self-hosted marginal cost).
    gpu_share : float
        Share of requests served by the self-hosted tier, in [0, 1].
    usd_per_replica_month : float
        Rental of one self-hosted replica for a 30-day month.
    """

    token_usd_per_request: float
    gpu_share: float
    usd_per_replica_month: float


@dataclass(frozen=True)
class CostPlan:
    """The strategies compared and how their self-hosted replicas are provisioned.

    Attributes
    ----------
    strategies : mapping label -> Strategy
        E.g. ``all <tier>`` for every tier and ``tiered`` (:meth:`simkit.study.Study.cost_plan`).
    gpu_capacity_rps : float, optional
        Requests per second one replica sustains within the SLO (:func:`capacity_rps`);
        without it every strategy that uses the self-hosted tier keeps ``min_replicas``.
    min_replicas : int
        Replicas always provisioned when a strategy uses the self-hosted tier.
    peak_to_mean : float
        Provision for this multiple of the mean rate (1 = the trace's own burstiness).

    Raises
    ------
    SpecError
        ``gpu_capacity_rps`` or ``peak_to_mean`` not a finite number > 0.
    """

    strategies: Mapping[str, Strategy]
    gpu_capacity_rps: float | None = None
    min_replicas: int = 1
    peak_to_mean: float = 1.0

    def __post_init__(self) -> None:
        _positive(self.gpu_capacity_rps, key="gpu_capacity_rps")
        _positive(self.peak_to_mean, key="peak_to_mean")


def replicas_needed(
    plan: CostPlan, strategy: Strategy, requests_per_month: np.ndarray
) -> np.ndarray:
    """Self-hosted replicas ``strategy`` provisions at each volume (module conventions)."""
    volume = np.asarray(requests_per_month, dtype="float64")
    if strategy.gpu_share <= 0:
        return np.zeros_like(volume)
    minimum = float(int(plan.min_replicas))
    if plan.gpu_capacity_rps is None:
        return np.full_like(volume, minimum)
    per_replica = float(plan.gpu_capacity_rps) * SECONDS_PER_MONTH
    need = np.ceil(volume * strategy.gpu_share * float(plan.peak_to_mean) / per_replica - 1e-12)
    return np.maximum(need, minimum)


def _strategy_cost(plan: CostPlan, strategy: Strategy, volume: np.ndarray) -> np.ndarray:
    replicas = replicas_needed(plan, strategy, volume)
    return volume * strategy.token_usd_per_request + replicas * strategy.usd_per_replica_month


def monthly_costs(plan: CostPlan, requests_per_month: Sequence[float]) -> pd.DataFrame:
    """Monthly cost of each strategy of ``plan`` at each volume.

    Parameters
    ----------
    plan : CostPlan
    requests_per_month : sequence of float
        Volumes, > 0.

    Returns
    -------
    DataFrame
        ``strategy``, ``requests_per_month``, ``monthly_cost_usd``, ``token_cost_usd``,
        ``gpu_cost_usd``, ``replicas``; strategy-major in the plan's order.

    Raises
    ------
    SpecError
        A volume that is not a finite number > 0.
    """
    volume = np.asarray(requests_per_month, dtype="float64")
    if volume.ndim != 1 or not len(volume) or not np.all(np.isfinite(volume) & (volume > 0)):
        raise SpecError(
            "study",
            key="requests_per_month",
            problem="expected one or more finite volumes > 0",
        )
    frames = []
    for label, strategy in plan.strategies.items():
        replicas = replicas_needed(plan, strategy, volume)
        token = volume * strategy.token_usd_per_request
        gpu = replicas * strategy.usd_per_replica_month
        frames.append(
            pd.DataFrame(
                {
                    "strategy": label,
                    "requests_per_month": volume,
                    "monthly_cost_usd": token + gpu,
                    "token_cost_usd": token,
                    "gpu_cost_usd": gpu,
                    "replicas": replicas.astype("int64"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def cost_crossovers(plan: CostPlan, volume_range: tuple[float, float]) -> pd.DataFrame:
    """Every volume in ``volume_range`` where two strategies of ``plan`` cost the same, found
    exactly (costs are linear in volume between replica steps).

    Returns
    -------
    DataFrame
        ``label`` (``"A = B"``; ``"(step)"`` when a replica step makes one overtake the
        other), ``cheaper_below`` (the strategy cheaper just below the crossover),
        ``requests_per_month``, ``monthly_cost_usd`` (of either, just below).

    Raises
    ------
    SpecError
        ``volume_range`` is not ``0 < lo < hi`` with ``hi`` finite.
    """
    lo, hi = (float(v) for v in volume_range)
    if not (0 < lo < hi and math.isfinite(hi)):
        raise SpecError(
            "study", key="volume_range", problem=f"got {volume_range!r}; expected 0 < lo < hi"
        )
    cap = plan.gpu_capacity_rps
    minimum = int(plan.min_replicas)
    # evaluation points: the range ends and every replica step of every strategy
    points = {lo, hi}
    if cap is not None:
        for strategy in plan.strategies.values():
            if strategy.gpu_share > 0:
                unit = cap * SECONDS_PER_MONTH / (strategy.gpu_share * float(plan.peak_to_mean))
                k = max(minimum, math.floor(lo / unit))
                while k * unit < hi:
                    if k * unit > lo and k >= minimum:
                        points.add(k * unit)
                    k += 1
    grid = np.asarray(sorted(points))
    labels = list(plan.strategies)
    rows = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            sa, sb = plan.strategies[a], plan.strategies[b]
            rows.extend(
                _crossings(
                    a,
                    b,
                    grid,
                    lambda v, s=sa: _strategy_cost(plan, s, v),
                    lambda v, s=sb: _strategy_cost(plan, s, v),
                )
            )
    out = pd.DataFrame(
        rows, columns=["label", "cheaper_below", "requests_per_month", "monthly_cost_usd"]
    )
    return out.sort_values("requests_per_month", kind="stable").reset_index(drop=True)


def _crossings(
    a: str,
    b: str,
    grid: np.ndarray,
    cost_a: Callable[[np.ndarray], np.ndarray],
    cost_b: Callable[[np.ndarray], np.ndarray],
) -> list[tuple[str, str, float, float]]:
    """Where ``cost_a - cost_b`` changes sign on a grid whose cells hold linear pieces (steps
    only at grid points, where each function takes its right-hand value)."""
    out = []
    eps = 1e-9
    for lo, hi in zip(grid[:-1], grid[1:], strict=True):
        # the linear piece inside (lo, hi): evaluate just inside both ends
        x0, x1 = lo * (1 + eps), hi * (1 - eps)
        d0 = float(cost_a(np.asarray([x0]))[0] - cost_b(np.asarray([x0]))[0])
        d1 = float(cost_a(np.asarray([x1]))[0] - cost_b(np.asarray([x1]))[0])
        # equal at x0, opposite signs, or equal exactly at x1 (then v = x1: a crossing at the
        # last point sampled inside the cell is still inside the range)
        if d0 == 0 or d0 * d1 <= 0:
            v = x0 if d0 == 0 else x0 + d0 * (x1 - x0) / (d0 - d1)
            cheaper = a if d0 < 0 else b
            out.append((f"{a} = {b}", cheaper, float(v), float(cost_a(np.asarray([v]))[0])))
        # across the step at hi (if hi is not the range's end)
        if hi != grid[-1]:
            x2 = hi * (1 + eps)
            d2 = float(cost_a(np.asarray([x2]))[0] - cost_b(np.asarray([x2]))[0])
            if d1 * d2 < 0:
                cheaper = a if d1 < 0 else b
                out.append(
                    (f"{a} = {b} (step)", cheaper, float(hi), float(cost_a(np.asarray([x1]))[0]))
                )
    return out


def capacity_rps(load_curve: pd.DataFrame, slo_ttft_s: float, *, percentile: str = "p95") -> float:
    """The highest arrival rate at which the TTFT percentile stays within the SLO.

    Linear interpolation between the two measured rates around the crossing of the load
    curve's ``<percentile>_ttft_s`` (:meth:`simkit.study.Study.gpu_load_curve`) with
    ``slo_ttft_s``; 0.0 when even the lowest measured rate misses the SLO, and the highest
    rate when none misses it (the true capacity is then higher: measure further).

    Raises
    ------
    SpecError
        No ``<percentile>_ttft_s`` column (the error lists the columns), or a bad SLO.
    """
    column = f"{percentile}_ttft_s"
    if column not in load_curve.columns:
        raise SpecError(
            "capacity_rps",
            key="percentile",
            problem=f"no column {column!r}; columns: {', '.join(load_curve.columns)}",
        )
    slo = _positive(slo_ttft_s, key="slo_ttft_s")
    curve = load_curve.sort_values("rate_per_s")
    rate = curve["rate_per_s"].to_numpy(dtype="float64")
    ttft = curve[column].to_numpy(dtype="float64")
    over = np.flatnonzero(ttft > slo)
    if not over.size:
        return float(rate[-1])
    i = int(over[0])
    if i == 0:
        return 0.0
    r0, r1, t0, t1 = rate[i - 1], rate[i], ttft[i - 1], ttft[i]
    return float(r0 + (slo - t0) * (r1 - r0) / (t1 - t0))
