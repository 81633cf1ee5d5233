"""Answer quality of simulated runs, with failures counted separately.

A failed request has no answer, so it has no quality: it is not averaged in as 0 unless the
caller asks for that convention. By default both views are reported side by side:

* ``mean_quality`` — mean over completed requests whose quality is known (a completed
  request can still lack a score, e.g. an unscorable judge rating: NaN, never 0);
* ``mean_quality_incl_failed`` — the same, with every failed request scored
  ``failed_quality`` (default 0.0, the "a failure is a wrong answer" convention); pass
  ``failed_quality=None`` to leave this column out.

``quality_coverage`` is the share of all requests whose quality entered ``mean_quality``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.metrics._records import completed_mask, numbers, table

__all__ = ["quality_summary"]


def quality_summary(records: pd.DataFrame, *, failed_quality: float | None = 0.0) -> pd.DataFrame:
    """Mean quality, coverage and failures per run.

    Parameters
    ----------
    records : DataFrame
        Simulator records with ``run_id``, ``status`` ('completed'/'failed') and ``quality``
        (NaN = unknown).
    failed_quality : float or None, default 0.0
        Score given to failed requests in ``mean_quality_incl_failed``; ``None`` omits it.

    Returns
    -------
    DataFrame
        Indexed by ``run_id``: ``n_requests``, ``n_completed``, ``n_failed``,
        ``failure_rate``, ``n_quality_known``, ``quality_coverage``, ``mean_quality`` (NaN
        when no completed request has a known quality) and, unless ``failed_quality`` is
        None, ``mean_quality_incl_failed``.
    """
    if failed_quality is not None and not np.isfinite(float(failed_quality)):
        raise SpecError(
            "quality_summary",
            key="failed_quality",
            problem=f"got {failed_quality!r}; expected a finite number or None",
        )
    table(records, ["status", "quality"], where="records")
    completed = completed_mask(records)
    quality = numbers(records, "quality", where="records", allow_nan=True, non_negative=False)
    known = completed & ~np.isnan(quality)
    parts = pd.DataFrame(
        {
            "n_requests": 1,
            "n_completed": completed.astype(np.int64),
            "n_failed": (~completed).astype(np.int64),
            "n_quality_known": known.astype(np.int64),
            "quality_sum": np.where(known, quality, 0.0),
        },
        index=records.index,
    )
    g = parts.groupby(records["run_id"].to_numpy(), sort=True).sum()
    g.index.name = "run_id"
    out = pd.DataFrame(
        {
            "n_requests": g["n_requests"].astype("int64"),
            "n_completed": g["n_completed"].astype("int64"),
            "n_failed": g["n_failed"].astype("int64"),
            "failure_rate": g["n_failed"] / g["n_requests"],
            "n_quality_known": g["n_quality_known"].astype("int64"),
            "quality_coverage": g["n_quality_known"] / g["n_requests"],
            "mean_quality": g["quality_sum"] / g["n_quality_known"].where(g["n_quality_known"] > 0),
        }
    )
    if failed_quality is not None:
        total = g["quality_sum"] + float(failed_quality) * g["n_failed"]
        counted = g["n_quality_known"] + g["n_failed"]
        out["mean_quality_incl_failed"] = total / counted.where(counted > 0)
    return out
