"""RouteLLM's routing metrics, computed exactly as its reference code does.

Reference: lm-sys/RouteLLM @ 0b64fdafe049 (``routellm/evals/evaluate.py``,
``routellm/evals/benchmarks.py``; Apache-2.0) and Ong et al., arXiv:2406.18665 §3.2, as
specified in ``reference/METRICS.md`` §1–§2 and §6. Notation: a router scores each query; the
query goes to the **strong** model iff ``score >= threshold``, else to the weak one.

* A :class:`RoutingCurve` is a set of (strong share, quality) points. The strong share is a
  *fraction* in [0, 1] (RouteLLM prints percent); quality is in the caller's units (RouteLLM's
  MMLU/GSM8K numbers are percent correct: pass ``100 * correct`` to reproduce them, or 0/1 and
  multiply the result). PGR, APGR and CPT do not depend on the quality scale.
* :func:`routellm_curve` is RouteLLM's 11-point threshold sweep, :func:`routellm_random_curve`
  its random-router baseline (serial, seeded), :func:`routellm_oracle_curve` its "optimal"
  curve; :func:`threshold_curve` sweeps any number of thresholds.
* :func:`pgr`, :func:`apgr` (trapezoid, as the code does; the paper's text describes a
  10-point mean that is 0.05 larger, METRICS.md §2.6) and :func:`cpt` (``"interp"`` as the
  code, ``"min"`` as the paper's words).

Nothing here reads files, prints or plots.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from simkit.errors import SpecError, TraceError
from simkit.metrics._checks import non_empty, option, same_length, show, vector
from simkit.metrics.curves import two_tier_curve

__all__ = [
    "NonMonotoneCurveWarning",
    "RoutingCurve",
    "apgr",
    "cpt",
    "pgr",
    "routellm_curve",
    "routellm_oracle_curve",
    "routellm_random_curve",
    "threshold_curve",
]

#: RouteLLM sweeps the 11 deciles of the scores: p = 0, 0.1, ..., 1.0 (``np.linspace``'s
#: floats exactly, e.g. 0.30000000000000004, as the reference procedure uses them).
ROUTELLM_QUANTILES: tuple[float, ...] = tuple(np.linspace(0.0, 1.0, 11).tolist())
CPT_METHODS = ("interp", "min")


class NonMonotoneCurveWarning(UserWarning):
    """CPT by interpolation on a curve whose quality is not non-decreasing in strong share."""


def _check_shares(share: np.ndarray, name: str) -> None:
    """Raise unless every share is a fraction in [0, 1] and they strictly increase."""
    outside = np.flatnonzero((share < 0) | (share > 1))
    if outside.size:
        raise TraceError(
            name,
            row=int(outside[0]) + 1,
            problem=f"{show(share[outside[0]])} is outside [0, 1]; expected a fraction",
        )
    steps = np.flatnonzero(np.diff(share) <= 0)
    if steps.size:
        i = int(steps[0]) + 1
        raise TraceError(
            name,
            row=i + 1,
            problem=f"{show(share[i])} follows {show(share[i - 1])}; expected strictly increasing",
        )


def _frozen(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype="float64", copy=True)
    values.flags.writeable = False
    return values


@dataclass(frozen=True, eq=False)
class RoutingCurve:
    """Quality against the share of queries sent to the strong model.

    Parameters
    ----------
    strong_share : array-like of shape (n_points,)
        Fraction of queries routed to the strong model, in [0, 1], strictly increasing.
    quality : array-like of shape (n_points,)
        Mean quality at each point, in the caller's units.
    r_weak, r_strong : float
        Quality of always-weak and always-strong routing on the same queries (same units).

    Attributes
    ----------
    is_monotone : bool
        Whether quality never decreases as the strong share grows (``cpt(method="interp")``
        is only the paper's "minimum share" on such curves).
    """

    strong_share: np.ndarray
    quality: np.ndarray
    r_weak: float
    r_strong: float

    def __post_init__(self) -> None:
        share = vector(self.strong_share, name="strong_share")
        quality = vector(self.quality, name="quality")
        same_length([("strong_share", share), ("quality", quality)])
        non_empty(len(share), name="strong_share")
        _check_shares(share, "strong_share")
        for name in ("r_weak", "r_strong"):
            value = float(getattr(self, name))
            if not np.isfinite(value):
                raise TraceError(name, problem=f"got {value!r}; expected a finite number")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "strong_share", _frozen(share))
        object.__setattr__(self, "quality", _frozen(quality))

    @property
    def is_monotone(self) -> bool:
        """Whether quality is non-decreasing along the strong share."""
        return bool(np.all(np.diff(self.quality) >= 0))

    def to_frame(self) -> pd.DataFrame:
        """The points as a tidy frame: ``strong_share``, ``quality``, ``pgr``."""
        return pd.DataFrame(
            {
                "strong_share": self.strong_share,
                "quality": self.quality,
                "pgr": pgr(self.quality, self.r_weak, self.r_strong),
            }
        )


def _pair(weak_quality: ArrayLike, strong_quality: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    w = vector(weak_quality, name="weak_quality")
    s = vector(strong_quality, name="strong_quality")
    same_length([("weak_quality", w), ("strong_quality", s)])
    non_empty(len(w), name="weak_quality")
    return w, s


def _decile_points(
    scores: np.ndarray, weak: np.ndarray, strong: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """RouteLLM's sweep: (strong count, quality) per distinct decile edge, in edge order."""
    edges = np.unique(np.quantile(scores, np.asarray(ROUTELLM_QUANTILES)))
    counts = np.empty(edges.size, dtype=np.int64)
    quality = np.empty(edges.size)
    last = edges.size - 1
    for i, edge in enumerate(edges):
        strong_mask = scores > edge if i == last else scores >= edge
        counts[i] = np.count_nonzero(strong_mask)
        quality[i] = np.mean(np.where(strong_mask, strong, weak))
    return counts, quality


def _curve_from_counts(
    counts: np.ndarray, quality: np.ndarray, n: int, weak: np.ndarray, strong: np.ndarray
) -> RoutingCurve:
    """One point per distinct count (equal counts of nested selections are the same point)."""
    order = np.argsort(counts, kind="stable")
    counts, quality = counts[order], quality[order]
    first = np.r_[True, np.diff(counts) != 0]
    return RoutingCurve(counts[first] / n, quality[first], float(weak.mean()), float(strong.mean()))


def routellm_curve(
    scores: ArrayLike, weak_quality: ArrayLike, strong_quality: ArrayLike
) -> RoutingCurve:
    """RouteLLM's 11-point threshold sweep over the deciles of the router's scores.

    Edges are ``np.quantile(scores, [0, 0.1, ..., 1])`` (linear interpolation; what
    ``pd.qcut(scores, 10, retbins=True)`` returns up to 1 ulp). For every edge but the last,
    a query goes to the strong model iff ``score >= edge``; for the last edge (the maximum)
    iff ``score > edge``, which sends none. Quality at a point is
    ``mean(where(strong, strong_quality, weak_quality))``.

    Tied edges (many equal scores) make ``pd.qcut`` raise in RouteLLM; here they are
    de-duplicated explicitly, as ``pd.qcut(..., duplicates="drop")`` would: the distinct edges
    are swept, the largest with ``>``. Points with the same strong count are one selection
    (thresholds select nested sets) and appear once, so the curve has at most 11 points.

    Parameters
    ----------
    scores : array-like of shape (n_queries,)
        Router score per query (higher = strong model more useful); finite.
    weak_quality, strong_quality : array-like of shape (n_queries,)
        Per-query quality of each model (e.g. 0/1 correctness), finite; no missing values.

    Returns
    -------
    RoutingCurve
        Points sorted by strong share, with ``r_weak``/``r_strong`` the mean quality of each
        model on the same queries.
    """
    w, s = _pair(weak_quality, strong_quality)
    sc = vector(scores, name="scores")
    same_length([("weak_quality", w), ("scores", sc)])
    counts, quality = _decile_points(sc, w, s)
    return _curve_from_counts(counts, quality, len(w), w, s)


def routellm_random_curve(
    weak_quality: ArrayLike, strong_quality: ArrayLike, *, seed: int = 0, iters: int = 10
) -> RoutingCurve:
    """RouteLLM's random-router baseline, as a serial, seeded procedure (METRICS.md §6.4).

    One ``random.Random(seed)`` instance (never the module functions); ``iters`` repetitions,
    each drawing one ``uniform(0, 1)`` score per query in query order (repetition ``k`` uses
    draws ``k*N .. k*N+N-1``) and running the :func:`routellm_curve` sweep. The pooled points
    are grouped by strong share and their quality averaged. Upstream scores the random router
    in pandarallel workers, so its draws differ; this procedure is the fixture's definition.

    Parameters
    ----------
    weak_quality, strong_quality : array-like of shape (n_queries,)
        Per-query quality of each model, finite.
    seed : int, default 0
        Seed of the ``random.Random`` stream (RouteLLM's ``random.seed(0)``).
    iters : int, default 10
        Repetitions (RouteLLM's ``--random-iters``), at least 1.

    Returns
    -------
    RoutingCurve
        One point per distinct strong share (11 when no edge ties).
    """
    if int(iters) != iters or iters < 1:
        raise SpecError(
            "routellm_random_curve", key="iters", problem=f"got {iters!r}; expected an int >= 1"
        )
    w, s = _pair(weak_quality, strong_quality)
    n = len(w)
    rng = random.Random(seed)
    counts, qualities = [], []
    for _ in range(int(iters)):
        scores = np.array([rng.uniform(0, 1) for _ in range(n)])
        c, q = _decile_points(scores, w, s)
        counts.append(c)
        qualities.append(q)
    pooled = pd.DataFrame({"count": np.concatenate(counts), "quality": np.concatenate(qualities)})
    mean = pooled.groupby("count", sort=True)["quality"].mean()
    return RoutingCurve(
        mean.index.to_numpy() / n, mean.to_numpy(), float(w.mean()), float(s.mean())
    )


def routellm_oracle_curve(
    weak_quality: ArrayLike, strong_quality: ArrayLike, shares: ArrayLike = ROUTELLM_QUANTILES
) -> RoutingCurve:
    """RouteLLM's "optimal" router: at a strong share ``p``, the best quality achievable.

    For 0/1 correctness this is RouteLLM's MMLU/GSM8K formula
    ``(n_weak_correct + min(p*N, B)) / N`` with ``B`` the queries only the strong model gets
    right and ``p*N`` not rounded: quality rises one point per share point and saturates at
    ``p = B/N``. For graded quality the same rule reads: give the strong model the queries
    with the largest positive gains ``strong - weak``, the budget ``p*N`` filled fractionally
    (for 0/1 quality the two coincide). RouteLLM's MT-Bench variant (integer budget, per
    question over two turns) is not covered.

    Parameters
    ----------
    weak_quality, strong_quality : array-like of shape (n_queries,)
        Per-query quality of each model, finite.
    shares : array-like, default ``[0, 0.1, ..., 1]``
        Strong-share budgets, fractions in [0, 1], strictly increasing.

    Returns
    -------
    RoutingCurve
        ``strong_share`` = the budgets (the realised share stops growing at ``B/N``).
    """
    w, s = _pair(weak_quality, strong_quality)
    n = len(w)
    p = vector(shares, name="shares")
    _check_shares(p, "shares")
    gains = np.sort((s - w)[s > w])[::-1]  # positive gains, largest first
    prefix = np.r_[0.0, np.cumsum(gains)]
    budget = p * n  # queries the strong model may take, not rounded
    whole = np.minimum(np.floor(budget).astype(np.int64), gains.size)
    partial = (budget - whole) * np.r_[gains, 0.0][whole]  # 0 once every gain is taken
    quality = (w.sum() + prefix[whole] + partial) / n
    return RoutingCurve(p, quality, float(w.mean()), float(s.mean()))


def threshold_curve(
    scores: ArrayLike, weak_quality: ArrayLike, strong_quality: ArrayLike, thresholds: ArrayLike
) -> RoutingCurve:
    """The routing curve for any number of thresholds (strong iff ``score >= threshold``).

    Computed by :func:`simkit.metrics.two_tier_curve` (one sort, cumulative sums). Thresholds
    that select the same number of queries select the same queries and give one point.

    Parameters
    ----------
    scores : array-like of shape (n_queries,)
        Router score per query; finite.
    weak_quality, strong_quality : array-like of shape (n_queries,)
        Per-query quality of each model, finite.
    thresholds : array-like of shape (n_thresholds,)
        Thresholds in any order; ``-inf`` sends all queries to the strong model, ``+inf`` none.

    Returns
    -------
    RoutingCurve
        One point per distinct strong share, sorted.
    """
    w, s = _pair(weak_quality, strong_quality)
    frame = two_tier_curve(scores, w, s, 0.0, 0.0, thresholds)
    return _curve_from_counts(
        frame["n_strong"].to_numpy(), frame["mean_quality"].to_numpy(), len(w), w, s
    )


def pgr(quality: ArrayLike | float, r_weak: float, r_strong: float) -> np.ndarray | float:
    """Performance gap recovered: ``(quality - r_weak) / (r_strong - r_weak)``.

    Parameters
    ----------
    quality : float or array-like
        Quality of the router (same units as ``r_weak`` and ``r_strong``).
    r_weak, r_strong : float
        Quality of always-weak and always-strong routing.

    Returns
    -------
    float or ndarray
        The share of the weak-to-strong gap recovered (a float for a scalar input).
    """
    gap = float(r_strong) - float(r_weak)
    if gap == 0 or not np.isfinite(gap):
        raise TraceError(
            "r_strong",
            problem=f"r_strong - r_weak = {gap!r}; PGR needs two models of different quality",
        )
    result = (np.asarray(quality, dtype="float64") - float(r_weak)) / gap
    return float(result) if result.ndim == 0 else result


def apgr(curve: RoutingCurve) -> float:
    """Average PGR: RouteLLM's ``(AUC - AUC_w) / (AUC_s - AUC_w)`` with trapezoid areas.

    ``AUC = trapezoid(quality, strong_share)``, ``AUC_w``/``AUC_s`` the same for the constant
    ``r_weak``/``r_strong`` lines, exactly as RouteLLM's ``evaluate.py`` (``np.trapz`` there,
    ``np.trapezoid`` here; the same numbers). On a curve from share 0 to 1 this is the
    trapezoid integral of PGR over the strong share. The paper's text (mean PGR over ten 10 %
    steps) gives 0.05 more on the same points (METRICS.md §2.6); this is the code's value.

    Parameters
    ----------
    curve : RoutingCurve
        At least two points.

    Returns
    -------
    float
    """
    if len(curve.strong_share) < 2:
        raise TraceError("curve", problem="has one point; APGR needs at least two")
    x, y = curve.strong_share, curve.quality
    auc = np.trapezoid(y, x)
    auc_weak = np.trapezoid(np.full_like(y, curve.r_weak), x)
    auc_strong = np.trapezoid(np.full_like(y, curve.r_strong), x)
    if auc_strong == auc_weak:
        raise TraceError("curve", problem="r_strong equals r_weak; APGR is undefined")
    return float((auc - auc_weak) / (auc_strong - auc_weak))


def _first_crossing(x: np.ndarray, y: np.ndarray, target: float) -> float:
    if y[0] >= target:
        return float(x[0])
    hits = np.flatnonzero((y[:-1] < target) & (y[1:] >= target))
    if hits.size == 0:
        return float("nan")
    i = int(hits[0])
    return float(x[i] + (target - y[i]) / (y[i + 1] - y[i]) * (x[i + 1] - x[i]))


def cpt(
    curve: RoutingCurve, target_pgr: ArrayLike | float, *, method: str = "interp"
) -> np.ndarray | float:
    """Call-performance threshold: the strong share needed to reach a given PGR.

    The target quality is ``r_weak + target_pgr * (r_strong - r_weak)``.

    * ``"interp"`` (RouteLLM's code): ``np.interp(target, quality, strong_share)``. It assumes
      quality increases along the curve and does not check it; on a non-monotone curve it
      is not the paper's "minimum share", and a :class:`NonMonotoneCurveWarning` is issued.
      Targets beyond the curve clamp to its ends (as ``np.interp`` does).
    * ``"min"`` (the paper's definition): the first share at which the piecewise-linear
      curve reaches the target; NaN when it never does. On a monotone curve it equals
      ``"interp"`` except on flat stretches exactly at the target, where it is the left end.

    Parameters
    ----------
    curve : RoutingCurve
    target_pgr : float or array-like
        PGR target(s) as fractions, e.g. 0.5 for "CPT(50 %)".
    method : {"interp", "min"}

    Returns
    -------
    float or ndarray
        Strong share(s) as fractions (multiply by 100 for RouteLLM's percent).
    """
    option(method, CPT_METHODS, func="cpt", key="method")
    p = np.asarray(target_pgr, dtype="float64")
    if not np.isfinite(p).all():
        raise SpecError("cpt", key="target_pgr", problem=f"got {target_pgr!r}; expected finite")
    target = curve.r_weak + p * (curve.r_strong - curve.r_weak)
    x, y = curve.strong_share, curve.quality
    if method == "interp":
        if not curve.is_monotone:
            warnings.warn(
                "cpt(method='interp') on a curve whose quality is not non-decreasing: the "
                "result is np.interp's, not the minimum share; use method='min' for that",
                NonMonotoneCurveWarning,
                stacklevel=2,
            )
        result = np.interp(target, y, x)
    else:
        result = np.array([_first_crossing(x, y, t) for t in np.ravel(target)]).reshape(
            target.shape
        )
    return float(result) if np.ndim(result) == 0 else np.asarray(result)
