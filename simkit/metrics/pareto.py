"""Pareto frontiers over any mix of objectives to minimise (cost, latency) and maximise (quality)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simkit.errors import SpecError, TraceError

__all__ = ["pareto_front"]


def pareto_front(
    df: pd.DataFrame, minimize: Sequence[str] = (), maximize: Sequence[str] = ()
) -> np.ndarray:
    """Which rows are not dominated.

    Row ``a`` dominates row ``b`` when ``a`` is at least as good in every objective and
    strictly better in one. Ties are handled deterministically: rows equal in every
    objective do not dominate each other, so all copies of a non-dominated point are kept
    (the result does not depend on row order).

    Rows are sorted lexicographically (a dominating row always sorts first); with two
    objectives one sweep follows (O(n log n)); with more, blocks of rows are compared with
    the front found so far in vectorised steps (O(n * f) comparisons for ``f`` front rows).

    Parameters
    ----------
    df : DataFrame
        One row per point (e.g. :func:`simkit.metrics.summarize_runs`' output).
    minimize, maximize : sequence of str
        Objective columns; at least one in total, none in both; values finite.

    Returns
    -------
    ndarray of bool
        One entry per row of ``df``, in order; ``df[mask]`` is the frontier.
    """
    minimize, maximize = list(minimize), list(maximize)
    if not minimize and not maximize:
        raise SpecError("pareto_front", key="minimize", problem="no objective; name columns")
    both = sorted(set(minimize) & set(maximize))
    if both:
        raise SpecError(
            "pareto_front", key="maximize", problem=f"column {both[0]!r} is also in minimize"
        )
    columns = minimize + maximize
    for c in columns:
        if c not in df.columns:
            have = ", ".join(map(repr, df.columns)) or "none"
            raise TraceError("df", column=c, problem=f"objective column missing; columns: {have}")
    values = np.empty((len(df), len(columns)))
    for j, c in enumerate(columns):
        try:
            col = pd.to_numeric(df[c], errors="raise").to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise TraceError("df", column=c, problem=f"expected numbers ({exc})") from None
        bad = ~np.isfinite(col)
        if bad.any():
            raise TraceError(
                "df",
                row=int(np.flatnonzero(bad)[0]) + 1,
                column=c,
                problem=f"missing or non-finite in {int(bad.sum())} rows; expected a number",
            )
        values[:, j] = col if j < len(minimize) else -col
    keep = np.zeros(len(df), dtype=bool)
    if len(df):
        order = np.lexsort(values.T[::-1])  # a dominating row always sorts first
        sorted_values = values[order]
        kept = _front_2d(sorted_values) if values.shape[1] == 2 else _front_nd(sorted_values)
        keep[order] = kept
    return keep


def _front_2d(v: np.ndarray) -> np.ndarray:
    """Lexicographically sorted (x, y), minimised: a row is kept iff its y is the lowest of its
    x and strictly below every y at a smaller x. O(n) after the sort."""
    x, y = v[:, 0], v[:, 1]
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    group = np.cumsum(np.r_[True, x[1:] != x[:-1]]) - 1
    group_min = y[starts]  # sorted by y within an x: the first is the lowest
    before = np.r_[np.inf, np.minimum.accumulate(group_min)[:-1]]
    return (y == group_min[group]) & (y < before[group])


def _front_nd(v: np.ndarray, block: int = 256) -> np.ndarray:
    """Blocks of lexicographically sorted rows, each compared with the front so far and with
    itself: a dominator sorts first, and some dominator of any row is on the front."""
    n, k = v.shape
    front = np.empty_like(v)
    size = 0
    kept = np.zeros(n, dtype=bool)
    for start in range(0, n, block):
        chunk = v[start : start + block]
        f = front[:size]
        by_front = np.any(
            np.all(f[:, None, :] <= chunk[None], axis=2)
            & np.any(f[:, None, :] < chunk[None], axis=2),
            axis=0,
        )
        by_chunk = np.any(
            np.all(chunk[:, None, :] <= chunk[None], axis=2)
            & np.any(chunk[:, None, :] < chunk[None], axis=2),
            axis=0,
        )
        ok = ~(by_front | by_chunk)
        kept[start : start + block] = ok
        front[size : size + int(ok.sum())] = chunk[ok]
        size += int(ok.sum())
    return kept
