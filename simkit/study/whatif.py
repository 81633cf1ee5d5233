"""The vectorised path: shares, quality and cost of threshold routing for any number of
cut-offs, prices and volumes at once, from the prepared arrays (no simulation).

Routing is the simulator's ``ThresholdPolicy``: tiers are tried strongest first and a request
goes to the first tier whose cut-off its score reaches, else to the cheapest tier. Token costs
are :func:`simkit.fleet.costs.token_cost_matrix`'s; the GPU rental per 1k requests is
:func:`simkit.metrics.gpu_cost_per_1k_usd` at the chosen monthly volume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.fleet.spec import Fleet, GpuServer
from simkit.metrics import HOURS_PER_MONTH, gpu_cost_per_1k_usd, tiered_curve
from simkit.metrics.planning import CostPlan, Strategy
from simkit.policies import StaticPolicy, ThresholdPolicy
from simkit.policies.base import Policy
from simkit.shares import threshold_for_share
from simkit.study._checks import check_upper_tiers, positive
from simkit.study.arrays import PreparedTrace

__all__ = [
    "cost_plan",
    "cutoff_matrix",
    "cutoffs_for_shares",
    "evaluate",
    "threshold_policy",
    "tradeoff",
]


def cutoffs_for_shares(p: PreparedTrace, shares: Mapping[str, float]) -> dict[str, float]:
    """Cut-offs that send the wanted share of *this trace's* requests to each tier.

    Parameters
    ----------
    p : PreparedTrace
    shares : mapping tier -> fraction
        For the tiers above the cheapest (which takes the rest); their sum at most 1.

    Returns
    -------
    dict
        Tier -> cut-off, strongest first: the threshold sending at most the cumulative
        share of this trace's requests to that tier and the stronger ones
        (:func:`simkit.shares.threshold_for_share`, ties kept on the cheaper side); ``inf``
        for a tier given no share, ``-inf`` once the shares reach 1. Another trace may
        realise other shares.
    """
    check_upper_tiers(p.tiers, shares, "shares")
    total = 0.0
    out = {}
    for tier in p.tiers[:0:-1]:
        share = float(shares.get(tier, 0.0))
        if not (0 <= share <= 1):
            raise SpecError(
                "study", key=f"shares.{tier}", problem=f"got {share!r}; expected in [0, 1]"
            )
        total += share
        if total > 1 + 1e-12:
            raise SpecError(
                "study", key=f"shares.{tier}", problem=f"shares add up to {total:g} > 1"
            )
        if total <= 0:
            out[tier] = math.inf
        elif total >= 1:
            out[tier] = -math.inf
        else:
            out[tier] = threshold_for_share(p.scores, total)
    return out


def cutoff_matrix(p: PreparedTrace, cutoffs: Mapping[str, float]) -> np.ndarray:
    """Cut-off mapping (tier -> value, missing = takes none) -> one row for tiered_curve."""
    check_upper_tiers(p.tiers, cutoffs, "cutoffs")
    row = [float(cutoffs.get(t, math.inf)) for t in p.tiers[:0:-1]]
    if any(math.isnan(v) for v in row):
        raise SpecError("study", key="cutoffs", problem="NaN cut-off; expected a number")
    return np.asarray([row])


def threshold_policy(p: PreparedTrace, cutoffs: Mapping[str, float]) -> Policy:
    """The simulator policy that routes exactly as :func:`evaluate` does for ``cutoffs``.

    ``ThresholdPolicy`` needs finite, strictly decreasing cut-offs; the vectorised path
    accepts any. Tiers that can take no request (a cut-off of ``+inf``, or not below a
    stronger tier's) are left out; a cut-off of ``-inf`` takes every request left, so it
    becomes a cut-off below the lowest score and the tiers after it are left out.
    """
    cutoff_matrix(p, cutoffs)  # names a bad tier or a NaN
    kept: dict[str, float] = {}
    below = math.inf  # scores still unrouted are < below
    floor = float(np.min(p.scores)) - 1.0 if len(p.scores) else -1.0
    for tier in p.tiers[:0:-1]:  # strongest first
        cut = float(cutoffs.get(tier, math.inf))
        if cut >= below:
            continue  # takes nothing
        if cut == -math.inf:
            kept[tier] = floor
            break
        kept[tier] = cut
        below = cut
    if not kept:
        return StaticPolicy(p.tiers[0])
    if len(kept) == 1 and next(iter(kept.values())) == floor:
        return StaticPolicy(next(iter(kept)))
    return ThresholdPolicy(kept, score=p.score)


def evaluate(
    p: PreparedTrace,
    cutoffs: np.ndarray | Mapping[str, float],
    *,
    fleet: Fleet | None = None,
    requests_per_month: float | None = None,
) -> pd.DataFrame:
    """Shares, quality and cost of threshold routing for many cut-off vectors at once.

    Parameters
    ----------
    p : PreparedTrace
    cutoffs : array of shape (n_points, n_tiers - 1) or mapping tier -> cut-off
        Cut-offs strongest tier first (the cheapest tier takes the rest); a mapping is
        one point.
    fleet : Fleet, optional
        Prices and GPU rental (default the prepared fleet; see
        :func:`simkit.study.fleets.fleet_with`).
    requests_per_month : float, optional
        Volume over which the monthly GPU rental is spread; default the trace's own.

    Returns
    -------
    DataFrame
        One row per cut-off vector: ``cutoff_<tier>``, ``share_<tier>``, ``frontier_share``,
        ``mean_quality``, ``quality_coverage``, ``token_cost_per_1k_usd``,
        ``gpu_cost_per_1k_usd``, ``cost_per_1k_usd``, ``requests_per_month``,
        ``monthly_cost_usd``, ``cost_source`` (the study's: which prices the token costs
        used).
    """
    matrix = (
        cutoff_matrix(p, cutoffs)
        if isinstance(cutoffs, Mapping)
        else np.asarray(cutoffs, dtype="float64")
    )
    return _evaluate(p, matrix, fleet or p.fleet, requests_per_month)


def _evaluate(
    p: PreparedTrace,
    matrix: np.ndarray,
    fleet: Fleet,
    requests_per_month: float | None,
    scores: np.ndarray | None = None,
) -> pd.DataFrame:
    volume = positive(requests_per_month, key="requests_per_month")
    volume = p.trace_requests_per_month if volume is None else volume
    strongest_first = list(p.tiers)[::-1]
    costs = p.token_cost_usd(fleet)
    curve = tiered_curve(
        p.scores if scores is None else scores,
        p.quality[strongest_first],
        costs[strongest_first],
        matrix,
        missing="exclude",
    )
    token = curve.pop("mean_cost") * 1000.0
    gpu = gpu_cost_per_1k_usd(fleet.fixed_usd_per_hour, volume)
    curve["frontier_share"] = curve[f"share_{p.frontier}"]
    curve["token_cost_per_1k_usd"] = token
    curve["gpu_cost_per_1k_usd"] = gpu
    curve["cost_per_1k_usd"] = token + gpu
    curve["requests_per_month"] = volume
    curve["monthly_cost_usd"] = curve["cost_per_1k_usd"] * volume / 1000.0
    curve["cost_source"] = p.cost_source
    return curve


def tradeoff(
    p: PreparedTrace,
    *,
    fleet: Fleet | None = None,
    requests_per_month: float | None = None,
    n_thresholds: int = 41,
) -> pd.DataFrame:
    """Cost and quality of threshold routing and of the baselines, all vectorised.

    Rows (``policy`` column):

    * ``frontier / <tier>``: two-tier threshold routing between the frontier and each
      cheaper tier, at ``n_thresholds`` cut-offs (the score quantiles, so points spread
      evenly in frontier share); ``threshold`` is the frontier cut-off;
    * ``all <tier>``: every request on one tier;
    * ``random mix``: the expected cost and quality of sending a random share ``p`` to the
      frontier and the rest to the cheapest tier (a straight line; ``threshold`` NaN);
    * ``oracle``: each request on the cheapest tier that reaches its best recorded quality.

    Returns
    -------
    DataFrame
        :func:`evaluate`'s columns plus ``policy`` and ``threshold``.
    """
    fleet = fleet or p.fleet
    if isinstance(n_thresholds, bool) or int(n_thresholds) != n_thresholds or n_thresholds < 2:
        raise SpecError(
            "study", key="n_thresholds", problem=f"got {n_thresholds!r}; expected an int >= 2"
        )
    levels = np.linspace(0.0, 1.0, int(n_thresholds))
    edges = np.quantile(p.scores, levels, method="higher")
    edges[0] = -math.inf  # level 0: every request to the frontier
    edges[-1] = math.inf  # level 1: none
    k = len(p.tiers)
    frames = []
    strongest_first = list(p.tiers[::-1])
    for cheaper in p.tiers[:-1]:
        # strongest-first cut-offs; tiers between the frontier and `cheaper` take none,
        # `cheaper` takes everything below the frontier cut-off
        m = np.full((len(edges), k - 1), math.inf)
        m[:, 0] = edges
        pos = strongest_first.index(cheaper)
        if pos < k - 1:
            m[:, pos] = -math.inf
        for col in range(1, pos):
            m[:, col] = edges  # equal to the frontier cut-off: takes nothing
        part = evaluate(p, m, fleet=fleet, requests_per_month=requests_per_month)
        part.insert(0, "threshold", edges)
        part.insert(0, "policy", f"{p.frontier} / {cheaper}")
        frames.append(part)
    frames.append(_static_rows(p, fleet, requests_per_month))
    frames.append(_random_rows(p, fleet, requests_per_month))
    frames.append(_oracle_row(p, fleet, requests_per_month))
    return pd.concat(frames, ignore_index=True)


def _static_rows(p: PreparedTrace, fleet: Fleet, requests_per_month: float | None) -> pd.DataFrame:
    rows = []
    strongest_first = list(p.tiers[::-1])
    for tier in p.tiers:
        pos = strongest_first.index(tier)
        cut = [math.inf] * (len(p.tiers) - 1)
        if pos < len(cut):
            cut[pos] = -math.inf
        row = evaluate(p, np.asarray([cut]), fleet=fleet, requests_per_month=requests_per_month)
        row.insert(0, "threshold", math.nan)
        row.insert(0, "policy", f"all {tier}")
        rows.append(row)
    return pd.concat(rows, ignore_index=True)


def _random_rows(p: PreparedTrace, fleet: Fleet, requests_per_month: float | None) -> pd.DataFrame:
    both = _static_rows(p, fleet, requests_per_month)
    weak = both[both["policy"] == f"all {p.tiers[0]}"].iloc[0]
    strong = both[both["policy"] == f"all {p.frontier}"].iloc[0]
    share = np.linspace(0.0, 1.0, 11)
    out = pd.DataFrame({"policy": "random mix", "threshold": math.nan}, index=range(len(share)))
    for col in both.columns:
        if col in ("policy", "threshold"):
            continue
        if col == "cost_source":
            out[col] = p.cost_source
        elif col.startswith("cutoff_"):
            out[col] = math.nan
        else:
            out[col] = (1 - share) * float(weak[col]) + share * float(strong[col])
    return out


def _oracle_row(p: PreparedTrace, fleet: Fleet, requests_per_month: float | None) -> pd.DataFrame:
    q = p.quality.to_numpy(dtype="float64")
    filled = np.where(np.isnan(q), -np.inf, q)
    pick = np.argmax(filled >= filled.max(axis=1, keepdims=True), axis=1)  # cheapest best
    # route by a score equal to the picked tier's rank: cut-offs k - 1 - i select tier k
    k = len(p.tiers)
    cut = np.asarray([[float(i) for i in range(k - 1, 0, -1)]])
    row = _evaluate(p, cut, fleet, requests_per_month, scores=pick.astype("float64"))
    row[[c for c in row.columns if c.startswith("cutoff_")]] = math.nan
    row.insert(0, "threshold", math.nan)
    row.insert(0, "policy", "oracle")
    return row


def cost_plan(
    p: PreparedTrace,
    *,
    fleet: Fleet | None = None,
    cutoffs: Mapping[str, float] | None = None,
    gpu_capacity_rps: float | None = None,
    min_replicas: int = 1,
    peak_to_mean: float = 1.0,
) -> CostPlan:
    """The monthly-cost plan of this trace on ``fleet``: ``all <tier>`` for every tier (an
    API tier pays tokens only; a self-hosted tier pays its replicas and its marginal token
    cost) and, with ``cutoffs``, ``tiered`` (threshold routing at those cut-offs: the API
    tiers' tokens plus the replicas its self-hosted share needs).

    See :class:`simkit.metrics.planning.CostPlan` for the provisioning parameters.
    """
    fleet = fleet or p.fleet
    costs = p.token_cost_usd(fleet)
    gpu = [t for t in fleet.tiers if isinstance(t.endpoint, GpuServer)]
    replica_month = gpu[0].endpoint.usd_per_hour * HOURS_PER_MONTH if gpu else 0.0
    gpu_names = {t.name for t in gpu}
    strategies = {}
    for t in fleet.tiers:
        share = 1.0 if t.name in gpu_names else 0.0
        strategies[f"all {t.name}"] = Strategy(float(costs[t.name].mean()), share, replica_month)
    if cutoffs is not None:
        point = evaluate(p, cutoffs, fleet=fleet)
        per_request = float(point["token_cost_per_1k_usd"].iloc[0]) / 1000.0
        share = float(sum(point[f"share_{n}"].iloc[0] for n in gpu_names))
        strategies["tiered"] = Strategy(per_request, share, replica_month)
    return CostPlan(
        strategies,
        gpu_capacity_rps=gpu_capacity_rps,
        min_replicas=int(min_replicas),
        peak_to_mean=float(peak_to_mean),
    )
