"""RouterBench's metrics: the non-decreasing convex hull, AIQ, Oracle, Zero router, cascade.

Reference: withmartian/routerbench @ cc67d1008bd8 (``evaluation/AIQ.py``,
``evaluate_routers.py``, ``routers/run_cascading_router.py``, ``convertors/common.py``; MIT)
and Hu et al., arXiv:2403.12031, as specified in ``reference/METRICS.md`` §5.

Two versions of the hull and of AIQ are kept side by side, fed the same points:

* :func:`ndch_code` / :func:`aiq_code` port the reference code's procedure (METRICS.md §5.5),
  quirks included: a single-pass deletion of drops, each router integrated from its own
  cheapest configuration, normalisation by ``c_max`` (not ``c_max - c_min``), and at least 3
  distinct costs required;
* :func:`ndch_paper` / :func:`aiq_paper` follow the paper (§5.6): a proper upper concave hull
  made non-decreasing, integrated over a cost range common to the routers compared and
  divided by its width.

Costs are whatever the caller passes, consistently within one comparison. RouterBench's own
convention for AIQ is ``total_cost`` = the **sum** of per-sample dollars over the eval set
(not the mean per query) against mean performance in [0, 1]; AIQ is only comparable within
one comparison set and one eval set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from simkit.errors import SpecError, TraceError
from simkit.metrics._checks import fraction, non_empty, option, same_length, show, vector

__all__ = [
    "NO_MODEL_CORRECT",
    "aiq_code",
    "aiq_paper",
    "cascade_outcomes",
    "ndch_code",
    "ndch_paper",
    "oracle_router",
    "zero_router",
]

#: The oracle's label for samples no model gets right (quality 0, cost 0), as RouterBench's.
NO_MODEL_CORRECT = "no_model_correct"
HULL_METHODS = ("code", "paper")


def _points(cost: ArrayLike, quality: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Distinct costs ascending, each with the best quality among the points at that cost."""
    x = vector(cost, name="cost")
    y = vector(quality, name="quality")
    same_length([("cost", x), ("quality", y)])
    non_empty(len(x), name="cost")
    frame = pd.DataFrame({"x": x, "y": y}).groupby("x", sort=True)["y"].max()
    return frame.index.to_numpy(dtype="float64"), frame.to_numpy(dtype="float64")


def _drop_single_pass(y: np.ndarray) -> np.ndarray:
    """RouterBench's deletion step: keep index 0 and every ``i`` with ``y[i] >= y[i-1]``.

    All comparisons are made on the array *before* deletion, in one pass, so after two
    consecutive drops a survivor may be compared with a deleted neighbour.
    """
    return np.r_[True, y[1:] >= y[:-1]]


def ndch_code(cost: ArrayLike, quality: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """RouterBench's ``get_non_descreasing_convex_hull_of``, step by step (METRICS.md §5.5).

    1. Points are sorted by cost; points sharing a cost are one entry with the best quality
       (at the minimum and maximum cost too: METRICS.md states the collapse for interior
       costs and leaves the ends open; the best quality is the reading that does not
       depend on input order).
    2. Every interior cost (strictly between the minimum and the maximum) takes the largest
       of its own quality and every chord value at that cost over all pairs of points that
       span it (the upper concave envelope sampled there).
    3. The maximum-cost point is appended only if its quality is >= the envelope at the last
       interior cost; the minimum-cost point is always prepended with its raw quality.
    4. In one pass over that array, every point lower than its predecessor (compared on the
       array before deletion) is deleted.

    For sound input the result is the upper concave hull truncated after its maximum.

    Parameters
    ----------
    cost, quality : array-like of shape (n_points,)
        One point per router configuration; at least 3 distinct costs.

    Returns
    -------
    cost, quality : ndarray
        The hull's vertices, by increasing cost.

    Raises
    ------
    TraceError
        With fewer than 3 distinct costs: the reference code fails there (step 3 indexes an
        empty list of interior points); its driver skips such point sets.
    """
    x, y = _points(cost, quality)
    if x.size < 3:
        raise TraceError(
            "cost",
            problem=f"{x.size} distinct cost(s); RouterBench's hull needs at least 3 (its "
            "reference code fails on fewer). Use ndch_paper for small point sets",
        )
    interior = x[1:-1]
    envelope = np.empty(interior.size)
    for i, xv in enumerate(interior):
        left, right = x < xv, x > xv
        xl, yl = x[left][:, None], y[left][:, None]
        xr, yr = x[right][None, :], y[right][None, :]
        chords = yl + (yr - yl) * (xv - xl) / (xr - xl)
        envelope[i] = max(y[i + 1], float(chords.max()))
    hull_x = [x[0], *interior]
    hull_y = [y[0], *envelope]
    if y[-1] >= envelope[-1]:
        hull_x.append(x[-1])
        hull_y.append(y[-1])
    hx, hy = np.array(hull_x), np.array(hull_y)
    keep = _drop_single_pass(hy)
    return hx[keep], hy[keep]


def ndch_paper(cost: ArrayLike, quality: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing convex hull as the paper defines it (METRICS.md §5.6).

    The upper concave hull of the points (mixing two configurations at random achieves
    every point of the chord between them), truncated after its first maximum: a
    configuration is dominated when a cheaper one reaches at least its quality. Beyond the
    last vertex the hull is flat (spend less, keep the best quality). Works for any number
    of points; collinear points are not vertices.

    Parameters
    ----------
    cost, quality : array-like of shape (n_points,)

    Returns
    -------
    cost, quality : ndarray
        The hull's vertices, by increasing cost.
    """
    x, y = _points(cost, quality)
    hull: list[int] = []
    for i in range(x.size):  # monotone chain, upper half: keep clockwise turns only
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross < 0:
                break
            hull.pop()
        hull.append(i)
    hx, hy = x[hull], y[hull]
    top = int(np.argmax(hy)) + 1
    return hx[:top], hy[:top]


def _router_points(
    points: pd.DataFrame, router: str, cost: str, quality: str, func: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not isinstance(points, pd.DataFrame):
        raise TraceError(func, problem=f"expected a DataFrame of points, got {type(points)}")
    missing = [c for c in (router, cost, quality) if c not in points.columns]
    if missing:
        have = ", ".join(map(repr, points.columns)) or "none"
        raise TraceError(
            "points", column=missing[0], problem=f"required column missing; columns present: {have}"
        )
    non_empty(len(points), name="points")
    for col in (cost, quality):
        values = vector(points[col], name=f"points[{col!r}]")
        if col == cost and (values < 0).any():
            row = int(np.flatnonzero(values < 0)[0]) + 1
            raise TraceError("points", row=row, column=col, problem="negative; expected >= 0")
    return {
        str(name): (group[cost].to_numpy(dtype="float64"), group[quality].to_numpy("float64"))
        for name, group in points.groupby(router, sort=False)
    }


def aiq_code(
    points: pd.DataFrame,
    *,
    router: str = "router",
    cost: str = "cost",
    quality: str = "quality",
) -> pd.Series:
    """AIQ of each router as RouterBench's ``calc_AIQ`` computes it (METRICS.md §5.5).

    Each router's points go through :func:`ndch_code`; ``c_max`` is the largest hull cost
    over **all** routers compared; every hull is extended flat to ``c_max``; then
    ``AIQ = trapezoid(hull_quality, hull_cost) / c_max``. So a router is integrated from its
    own cheapest configuration (the area below it counts as 0) and normalised by ``c_max``,
    not ``c_max - c_min``.

    Parameters
    ----------
    points : DataFrame
        One row per router configuration: the router's name, its cost (RouterBench: total $
        over the eval set) and its quality (mean performance in [0, 1]).
    router, cost, quality : str
        Column names in ``points``.

    Returns
    -------
    Series
        AIQ per router (index = router names in order of first appearance), named ``aiq``.
    """
    hulls = {
        name: ndch_code(x, y)
        for name, (x, y) in _router_points(points, router, cost, quality, "aiq_code").items()
    }
    c_max = max(float(hx[-1]) for hx, _ in hulls.values())
    if c_max <= 0:
        raise TraceError("points", column=cost, problem="largest hull cost is 0; AIQ undefined")
    scores = {
        name: float(np.trapezoid(np.r_[hy, hy[-1]], np.r_[hx, c_max]) / c_max)
        for name, (hx, hy) in hulls.items()
    }
    return pd.Series(scores, name="aiq", dtype="float64").rename_axis(router)


def _integral(hx: np.ndarray, hy: np.ndarray, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the piecewise-linear hull, flat beyond its last vertex."""
    inner = hx[(hx > lo) & (hx < hi)]
    xs = np.r_[lo, inner, hi]
    return float(np.trapezoid(np.interp(xs, hx, hy), xs))


def aiq_paper(
    points: pd.DataFrame,
    *,
    c_min: float | None = None,
    c_max: float | None = None,
    router: str = "router",
    cost: str = "cost",
    quality: str = "quality",
) -> pd.Series:
    """AIQ as the paper defines it: mean of the hull over a common cost range (§5.6).

    ``AIQ(R) = 1 / (c_max - c_min) * integral of R~(c) dc over [c_min, c_max]`` with R~ the
    router's :func:`ndch_paper` hull (flat beyond its last vertex).

    Parameters
    ----------
    points : DataFrame
        One row per router configuration (see :func:`aiq_code`).
    c_min : float, optional
        Lower end of the common range; default the largest of the routers' cheapest costs
        (the first cost every router can reach). Below a router's cheapest configuration its
        hull is undefined, so a smaller ``c_min`` is an error.
    c_max : float, optional
        Upper end; default the largest cost of any configuration compared.
    router, cost, quality : str
        Column names in ``points``.

    Returns
    -------
    Series
        AIQ per router, in the quality's units, named ``aiq``.
    """
    hulls = {
        name: ndch_paper(x, y)
        for name, (x, y) in _router_points(points, router, cost, quality, "aiq_paper").items()
    }
    cheapest = {name: float(hx[0]) for name, (hx, _) in hulls.items()}
    lo = max(cheapest.values()) if c_min is None else float(c_min)
    hi = float(points[cost].max()) if c_max is None else float(c_max)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise SpecError(
            "aiq_paper",
            key="c_max",
            problem=f"cost range [{lo!r}, {hi!r}] is empty; expected c_min < c_max",
        )
    below = [name for name, c in cheapest.items() if c > lo]
    if below:
        raise SpecError(
            "aiq_paper",
            key="c_min",
            problem=f"{lo!r} is below router {below[0]!r}'s cheapest configuration "
            f"({show(cheapest[below[0]])}), where its hull is undefined; expected c_min >= "
            f"{max(cheapest.values())!r}",
        )
    scores = {name: _integral(hx, hy, lo, hi) / (hi - lo) for name, (hx, hy) in hulls.items()}
    return pd.Series(scores, name="aiq", dtype="float64").rename_axis(router)


def zero_router(
    points: pd.DataFrame, *, cost: str = "cost", quality: str = "quality", hull: str = "code"
) -> pd.DataFrame:
    """RouterBench's Zero router: the hull of the single-model (cost, quality) points.

    What mixing fixed models at random achieves without looking at the query; a router is
    only useful above it.

    Parameters
    ----------
    points : DataFrame
        One row per model, with its cost and quality on the eval set.
    cost, quality : str
        Column names.
    hull : {"code", "paper"}
        :func:`ndch_code` (RouterBench's, needs 3 distinct costs) or :func:`ndch_paper`.

    Returns
    -------
    DataFrame
        The hull's vertices, columns ``cost`` and ``quality``, by increasing cost.
    """
    option(hull, HULL_METHODS, func="zero_router", key="hull")
    for col in (cost, quality):
        if col not in points.columns:
            have = ", ".join(map(repr, points.columns)) or "none"
            raise TraceError("points", column=col, problem=f"required column missing; have {have}")
    func = ndch_code if hull == "code" else ndch_paper
    hx, hy = func(points[cost], points[quality])
    return pd.DataFrame({"cost": hx, "quality": hy})


def _model_matrix(values: pd.DataFrame, name: str) -> np.ndarray:
    if not isinstance(values, pd.DataFrame):
        raise TraceError(
            name, problem=f"expected a DataFrame (samples x models), got {type(values)}"
        )
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise TraceError(
            name,
            row=int(r) + 1,
            column=str(values.columns[c]),
            problem=f"missing or non-finite in {int(bad.sum())} cells; expected a number",
            hint="drop such samples first, as RouterBench does (e.g. .dropna())",
        )
    return arr


def _aligned(quality: pd.DataFrame, cost: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    q = _model_matrix(quality, "quality")
    c = _model_matrix(cost, "cost")
    if list(cost.columns) != list(quality.columns) or not cost.index.equals(quality.index):
        raise TraceError(
            "cost",
            problem="rows and columns must match quality's (same samples, same models in the "
            f"same order); quality has {list(quality.columns)}, cost has {list(cost.columns)}",
        )
    if (c < 0).any():
        r, col = np.argwhere(c < 0)[0]
        raise TraceError(
            "cost", row=int(r) + 1, column=str(cost.columns[col]), problem="negative cost"
        )
    return q, c


def oracle_router(quality_matrix: pd.DataFrame, cost_matrix: pd.DataFrame) -> pd.DataFrame:
    """RouterBench's Oracle: per sample the best model, ties to the cheapest (§5.3).

    If some model has non-zero quality, the sample goes to the model(s) with the highest
    quality and among them the one with the lowest cost (then the first column); otherwise
    it is ``"no_model_correct"`` with quality 0 and cost 0.

    Parameters
    ----------
    quality_matrix : DataFrame
        Samples x models, quality in [0, 1] (e.g. :meth:`Trace.quality_matrix`); no NaN.
    cost_matrix : DataFrame
        The same samples and models, cost of each model on each sample.

    Returns
    -------
    DataFrame
        Indexed like ``quality_matrix``: ``model``, ``quality``, ``cost``.
    """
    q, c = _aligned(quality_matrix, cost_matrix)
    best = q.max(axis=1)
    pick = np.argmin(np.where(q == best[:, None], c, np.inf), axis=1)
    rows = np.arange(q.shape[0])
    solved = (q > 0).any(axis=1)
    models = np.asarray(quality_matrix.columns.astype(str), dtype=object)[pick]
    return pd.DataFrame(
        {
            "model": pd.array(np.where(solved, models, NO_MODEL_CORRECT), dtype="string"),
            "quality": np.where(solved, best, 0.0),
            "cost": np.where(solved, c[rows, pick], 0.0),
        },
        index=quality_matrix.index,
    )


def cascade_outcomes(
    quality: pd.DataFrame,
    cost: pd.DataFrame,
    order: Sequence[str],
    threshold: float,
    judge_error: float,
    max_cost: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """RouterBench's simulated cascade with a noisy judge, per sample (§5.4).

    Per sample, with budget ``max_cost``: walk the models in ``order``; stop before a model
    whose cost is ``>=`` the remaining budget once something was tried (the first model is
    always tried); otherwise charge its cost and ask the judge, who is wrong with
    probability ``judge_error`` (then accepts iff quality < ``threshold``) and right otherwise
    (accepts iff quality >= ``threshold``); stop on acceptance. The sample's quality is that
    of the **last model tried**; its cost is the **sum** over the models tried.

    RouterBench's sweep uses ``threshold`` = the 0.95 quantile of all model qualities of the
    eval set (``np.quantile(quality.to_numpy().ravel(), 0.95)``) and orders models by
    ``p_out + p_in + fee / mean_response_tokens``, cheapest first; the config's result is
    the mean quality and the summed cost. Upstream draws from unseeded ``np.random``; here
    the judge's coin flips come from ``rng``: one ``rng.random((n_samples, len(order)))``
    draw, entry ``[i, k]`` deciding the judge's error on sample ``i`` at step ``k``.

    Parameters
    ----------
    quality, cost : DataFrame
        Samples x models (same index and columns); no missing values (RouterBench drops
        samples with any NaN first: do so explicitly).
    order : sequence of str
        Model names to try, cheapest first.
    threshold : float
        Acceptance threshold on quality.
    judge_error : float
        Probability in [0, 1] that the judge errs.
    max_cost : float
        Per-sample budget (``max_cost_per_response``), > 0.
    rng : numpy.random.Generator
        Source of the judge's errors.

    Returns
    -------
    DataFrame
        Indexed like ``quality``: ``model`` (last tried), ``quality``, ``cost`` (sum),
        ``n_tried``.
    """
    q, c = _aligned(quality, cost)
    e = fraction(judge_error, func="cascade_outcomes", key="judge_error")
    budget0 = float(max_cost)
    if not (np.isfinite(budget0) and budget0 > 0):
        raise SpecError(
            "cascade_outcomes", key="max_cost", problem=f"got {max_cost!r}; expected > 0"
        )
    tau = float(threshold)
    if not np.isfinite(tau):
        raise SpecError("cascade_outcomes", key="threshold", problem=f"got {threshold!r}")
    columns = [str(m) for m in quality.columns]
    order = [str(m) for m in order]
    if not order:
        raise SpecError(
            "cascade_outcomes", key="order", problem="is empty; name at least one model"
        )
    for m in order:
        option(m, columns, func="cascade_outcomes", key="order")
    if len(set(order)) != len(order):
        raise SpecError("cascade_outcomes", key="order", problem=f"repeats a model: {order}")
    if not isinstance(rng, np.random.Generator):
        raise SpecError(
            "cascade_outcomes", key="rng", problem=f"expected a numpy Generator, got {type(rng)}"
        )
    n = q.shape[0]
    errs = rng.random((n, len(order))) < e
    budget = np.full(n, budget0)
    total = np.zeros(n)
    last = np.full(n, -1, dtype=np.int64)
    n_tried = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    for step, model in enumerate(order):
        j = columns.index(model)
        cj, qj = c[:, j], q[:, j]
        active &= ~((n_tried > 0) & (cj >= budget))
        total[active] += cj[active]
        budget[active] -= cj[active]
        last[active] = j
        n_tried[active] += 1
        accept = np.where(errs[:, step], qj < tau, qj >= tau)
        active &= ~accept
    rows = np.arange(n)
    return pd.DataFrame(
        {
            "model": pd.array(np.asarray(columns, dtype=object)[last], dtype="string"),
            "quality": q[rows, last],
            "cost": total,
            "n_tried": n_tried,
        },
        index=quality.index,
    )
