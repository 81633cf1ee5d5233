"""Quality/cost curves over many thresholds at once, without the simulator.

For a policy that ignores fleet state (a score threshold, or ordered cut-offs over N tiers),
the routed tier of each request depends only on its score, so the whole trade-off curve follows
from one sort of the scores and cumulative sums: O(n log n) once, then O(log n) per tier and
threshold (a binary search into the sorted scores and two lookups into prefix sums).

Routing rule (the same as RouteLLM's and simkit's ``ThresholdPolicy``): tiers are listed
**strongest first**; a request goes to the first tier ``k`` whose cut-off its score reaches
(``score >= cutoff_k``), and to the last (cheapest, fallback) tier when it reaches none. With
non-increasing cut-offs tier ``k`` therefore takes the scores in ``[cutoff_k, cutoff_{k-1})``;
cut-offs that are not non-increasing are allowed and obey the same first-match rule (a later
tier can only take scores below every earlier cut-off). A cut-off of ``-inf`` takes every
remaining request, ``+inf`` none.

Missing quality (NaN, e.g. an unscorable judge rating) is never read as 0. ``missing`` says
what to do with it:

* ``"raise"`` (default): any NaN quality is an error naming the tier column and the row;
* ``"exclude"``: a request whose *routed* tier has no known quality is left out of the mean
  quality of that threshold (it still counts in shares and costs, since it is still sent and
  paid for); ``quality_coverage`` reports the share of requests whose quality is known under
  that routing, and ``mean_quality`` is NaN when it is 0.

Sums are float64 cumulative sums, so results agree with a per-threshold loop to rounding
(relative ~1e-12 at a million requests), not bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from simkit.errors import TraceError
from simkit.metrics._checks import matrix, non_empty, option, show, vector

__all__ = ["tiered_curve", "two_tier_curve"]

MISSING_CHOICES = ("raise", "exclude")


def _cost_matrix(cost: ArrayLike, n: int, k: int) -> np.ndarray:
    if isinstance(cost, pd.DataFrame):
        cost = cost.to_numpy(dtype="float64", na_value=np.nan)
    try:
        arr = np.asarray(cost, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise TraceError("cost", problem=f"expected numbers ({exc})") from None
    if arr.ndim == 1 and arr.shape == (k,):
        arr = np.broadcast_to(arr, (n, k))
    if arr.shape != (n, k):
        raise TraceError(
            "cost",
            problem=f"expected shape ({n}, {k}) (one per request and tier) or ({k},), "
            f"got {arr.shape}",
        )
    arr = matrix(arr, name="cost")
    neg = arr < 0
    if neg.any():
        r, c = np.argwhere(neg)[0]
        raise TraceError(
            "cost",
            row=int(r) + 1,
            problem=f"negative in {int(neg.sum())} cells (first in tier column {int(c)}: "
            f"{show(arr[r, c])}); expected a cost >= 0",
        )
    return arr


def _cutoff_matrix(cutoffs: ArrayLike, k: int) -> np.ndarray:
    try:
        arr = np.array(cutoffs, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise TraceError("cutoffs", problem=f"expected numbers ({exc})") from None
    if arr.ndim == 1 and k == 2:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != k - 1:
        raise TraceError(
            "cutoffs",
            problem=f"expected shape (n_curves, {k - 1}) (one cut-off per tier but the last), "
            f"got {arr.shape}",
        )
    nan = np.isnan(arr)
    if nan.any():
        r = int(np.argwhere(nan)[0][0])
        raise TraceError("cutoffs", row=r + 1, problem="NaN cut-off; expected a number or ±inf")
    return arr


def _sweep(
    scores: np.ndarray,
    quality: np.ndarray,
    cost: np.ndarray,
    cutoffs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cut-off vector and tier: request count, known-quality count, quality sum, cost sum."""
    n, k = quality.shape
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    q = quality[order]
    known = ~np.isnan(q)
    prefix_q = np.zeros((n + 1, k))
    np.cumsum(np.where(known, q, 0.0), axis=0, out=prefix_q[1:])
    prefix_known = np.zeros((n + 1, k), dtype=np.int64)
    np.cumsum(known, axis=0, out=prefix_known[1:])
    prefix_c = np.zeros((n + 1, k))
    np.cumsum(cost[order], axis=0, out=prefix_c[1:])

    t = cutoffs.shape[0]
    upper = np.full((t, k), np.inf)  # tier j takes scores in [lower_j, upper_j)
    if k > 1:
        upper[:, 1:] = np.minimum.accumulate(cutoffs, axis=1)
    lower = np.full((t, k), -np.inf)
    lower[:, : k - 1] = cutoffs
    hi = np.searchsorted(sorted_scores, upper, side="left")
    lo = np.minimum(np.searchsorted(sorted_scores, lower, side="left"), hi)
    cols = np.broadcast_to(np.arange(k), (t, k))
    count = hi - lo
    n_known = prefix_known[hi, cols] - prefix_known[lo, cols]
    q_sum = prefix_q[hi, cols] - prefix_q[lo, cols]
    c_sum = prefix_c[hi, cols] - prefix_c[lo, cols]
    return count, n_known, q_sum, c_sum


def _curve(
    scores: ArrayLike, quality: np.ndarray, cost: ArrayLike, cutoffs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked inputs -> (count per curve and tier, mean quality, mean cost, coverage)."""
    n, k = quality.shape
    non_empty(n, name="quality")
    s = vector(scores, name="scores")
    if len(s) != n:
        raise TraceError("scores", problem=f"has {len(s)} rows but quality has {n}")
    c = _cost_matrix(cost, n, k)
    count, n_known, q_sum, c_sum = _sweep(s, quality, c, cutoffs)
    known = n_known.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_quality = np.where(known > 0, q_sum.sum(axis=1) / known, np.nan)
    return count, mean_quality, c_sum.sum(axis=1) / n, known / n


def tiered_curve(
    scores: ArrayLike,
    quality: ArrayLike,
    cost: ArrayLike,
    cutoffs: ArrayLike,
    *,
    tiers: Sequence[str] | None = None,
    missing: str = "raise",
) -> pd.DataFrame:
    """Shares, mean quality and mean cost for many cut-off vectors over N ordered tiers.

    Parameters
    ----------
    scores : array-like of shape (n_requests,)
        One finite score per request (e.g. a classifier's ``p_hard``).
    quality : array-like or DataFrame of shape (n_requests, n_tiers)
        Quality of each request on each tier, **strongest tier first**, in the caller's units.
        NaN = unknown (see ``missing``). A DataFrame's column names become the tier names.
    cost : array-like of shape (n_requests, n_tiers) or (n_tiers,)
        Cost of each request on each tier (e.g. ``cost_usd``), same column order; a 1-D array
        is one cost per tier for every request. Must be finite and >= 0.
    cutoffs : array-like of shape (n_curves, n_tiers - 1)
        One cut-off vector per row: ``score >= cutoffs[c, k]`` sends a request to tier ``k``
        (first match wins); the last tier takes the rest. For two tiers a 1-D array of
        thresholds is accepted.
    tiers : sequence of str, optional
        Tier names, strongest first; default the DataFrame's columns, else ``tier0..``.
    missing : {"raise", "exclude"}
        How NaN quality is handled (module docstring).

    Returns
    -------
    DataFrame
        One row per cut-off vector, in input order: ``cutoff_<tier>`` for every tier but the
        last, ``share_<tier>`` (fraction of requests) for every tier, ``mean_quality``
        (caller's units), ``mean_cost`` (per request, caller's units) and
        ``quality_coverage`` (share of requests whose routed quality is known).
    """
    option(missing, MISSING_CHOICES, func="tiered_curve", key="missing")
    names = [str(c) for c in quality.columns] if isinstance(quality, pd.DataFrame) else None
    q = matrix(quality, name="quality", allow_nan=(missing == "exclude"))
    n, k = q.shape
    if k < 2:
        raise TraceError("quality", problem=f"has {k} tier column(s); expected at least 2")
    if tiers is not None:
        names = [str(t) for t in tiers]
        if len(names) != k:
            raise TraceError("tiers", problem=f"names {len(names)} tiers but quality has {k}")
    names = names or [f"tier{i}" for i in range(k)]
    if len(set(names)) != k:
        raise TraceError("tiers", problem=f"tier names must be unique, got {names}")
    cut = _cutoff_matrix(cutoffs, k)
    count, mean_quality, mean_cost, coverage = _curve(scores, q, cost, cut)
    out = {f"cutoff_{names[j]}": cut[:, j] for j in range(k - 1)}
    out.update({f"share_{names[j]}": count[:, j] / n for j in range(k)})
    out["mean_quality"] = mean_quality
    out["mean_cost"] = mean_cost
    out["quality_coverage"] = coverage
    return pd.DataFrame(out)


def two_tier_curve(
    scores: ArrayLike,
    weak_quality: ArrayLike,
    strong_quality: ArrayLike,
    weak_cost: ArrayLike | float,
    strong_cost: ArrayLike | float,
    thresholds: ArrayLike,
    *,
    missing: str = "raise",
) -> pd.DataFrame:
    """Strong share, mean quality and mean cost for many thresholds (strong iff score >= t).

    Parameters
    ----------
    scores : array-like of shape (n_requests,)
        One finite score per request; higher means "needs the strong model".
    weak_quality, strong_quality : array-like of shape (n_requests,)
        Per-request quality of each model in the caller's units; NaN = unknown.
    weak_cost, strong_cost : array-like of shape (n_requests,) or float
        Per-request cost of each model (a float applies to every request); finite, >= 0.
    thresholds : array-like of shape (n_thresholds,)
        Any number of thresholds, in any order (``±inf`` allowed).
    missing : {"raise", "exclude"}
        How NaN quality is handled (module docstring).

    Returns
    -------
    DataFrame
        One row per threshold, in input order, with columns ``threshold``, ``n_strong``,
        ``strong_share`` (fraction), ``mean_quality``, ``mean_cost`` (per request) and
        ``quality_coverage``.
    """
    option(missing, MISSING_CHOICES, func="two_tier_curve", key="missing")
    allow_nan = missing == "exclude"
    w = vector(weak_quality, name="weak_quality", allow_nan=allow_nan)
    st = vector(strong_quality, name="strong_quality", allow_nan=allow_nan)
    if len(w) != len(st):
        raise TraceError(
            "strong_quality", problem=f"has {len(st)} rows but weak_quality has {len(w)}"
        )
    n = len(w)
    costs = []
    for name, value in (("strong_cost", strong_cost), ("weak_cost", weak_cost)):
        arr = np.asarray(value, dtype="float64")
        costs.append(np.full(n, float(arr)) if arr.ndim == 0 else vector(arr, name=name))
        if len(costs[-1]) != n:
            raise TraceError(name, problem=f"has {len(costs[-1])} rows but weak_quality has {n}")
    t = _cutoff_matrix(np.asarray(thresholds, dtype="float64").reshape(-1), 2)
    count, mean_quality, mean_cost, coverage = _curve(
        scores, np.column_stack([st, w]), np.column_stack(costs), t
    )
    return pd.DataFrame(
        {
            "threshold": t[:, 0],
            "n_strong": count[:, 0],
            "strong_share": count[:, 0] / n,
            "mean_quality": mean_quality,
            "mean_cost": mean_cost,
            "quality_coverage": coverage,
        }
    )
