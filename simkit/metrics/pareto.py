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

    Runs in O(n log n + n * f) for ``f`` front points: rows are sorted lexicographically
    (a dominating row always sorts first) and each is compared with the front found so far.

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
    order = np.lexsort(values.T[::-1])
    front = np.empty_like(values)  # rows [0, size) hold the front found so far
    size = 0
    keep = np.zeros(len(df), dtype=bool)
    for i in order:
        x = values[i]
        f = front[:size]
        if not np.any(np.all(f <= x, axis=1) & np.any(f < x, axis=1)):
            keep[i] = True
            front[size] = x
            size += 1
    return keep
