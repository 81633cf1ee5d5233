"""The vectorised path: quality/cost curves of score-threshold policies without the simulator.

A :class:`~simkit.policies.ThresholdPolicy` looks only at the request's score, never at the
fleet's state, so its share per tier, mean quality and per-token spend follow from the trace
alone. :func:`threshold_curves` evaluates thousands of cut-off vectors at once through
:func:`simkit.metrics.tiered_curve` (one sort plus cumulative sums), starting from the very
arrays the simulator uses (:func:`simkit.sim.tier_arrays`), so a simulated run without
failures, retries or timeouts lands exactly on its curve point. Latency needs the simulator:
run :func:`simkit.simulate` (or :func:`sweep`) for the points you pick.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from simkit.errors import PolicyError
from simkit.fleet.costs import token_cost_matrix
from simkit.fleet.spec import Fleet
from simkit.metrics import HOURS_PER_MONTH, SECONDS_PER_MONTH, gpu_cost_per_1k_usd, tiered_curve
from simkit.policies.base import check_score_column
from simkit.sim import tier_arrays
from simkit.trace.core import Trace

__all__ = ["per_request_cost_usd", "threshold_curves"]


def per_request_cost_usd(trace: Trace, fleet: Fleet) -> pd.DataFrame:
    """Per-token spend of each request on each tier (one column per tier, fleet order).

    API tiers: the catalog price of the prompt and of the tier model's output length (long-
    context tiers chosen by the prompt length, as the simulator does). GPU tiers: the
    optional marginal price per token; their rental is a fixed cost, not in this table.
    """
    arrays = tier_arrays(trace, fleet)
    return pd.DataFrame(
        token_cost_matrix(fleet, arrays.prompt_tokens, arrays.output_tokens),
        columns=list(fleet.tier_names),
        index=trace.requests["request_id"],
    )


def threshold_curves(
    trace: Trace,
    fleet: Fleet,
    cutoffs: ArrayLike,
    *,
    tiers: tuple[str, ...] | None = None,
    score: str = "p_hard",
    missing: str = "raise",
) -> pd.DataFrame:
    """Share per tier, mean quality and cost of many threshold policies, without simulating.

    Parameters
    ----------
    trace : Trace
        With the score column ``score`` (e.g. from :func:`simkit.classify.score_trace`).
    fleet : Fleet
        Prices and quality models of the tiers.
    cutoffs : array-like of shape (n_curves, len(tiers) - 1), or (n_curves,) for two tiers
        Row ``c`` is the policy ``ThresholdPolicy({tiers[0]: cutoffs[c, 0], ...})``: a request
        goes to the first tier (strongest first) whose cut-off its score reaches, else to the
        last of ``tiers``.
    tiers : tuple of str, optional
        The tiers in play, **strongest first**; default: every fleet tier, most expensive
        (last in the fleet) first.
    score : str
        The trace's score column.
    missing : {"raise", "exclude"}
        NaN quality (no outcome): raise, or leave those requests out of the mean quality.

    Returns
    -------
    DataFrame
        One row per cut-off vector: ``cutoff_<tier>``, ``share_<tier>``, ``mean_quality``,
        ``quality_coverage``, ``token_cost_usd`` (per-token spend over the whole trace),
        ``fixed_cost_usd`` (GPU rental over the trace's span, the same on every row),
        ``cost_per_1k_usd`` (mean token cost plus :func:`simkit.metrics.gpu_cost_per_1k_usd`
        at the trace's arrival rate, as :meth:`simkit.study.Study.evaluate` prices it) and
        ``monthly_cost_usd`` (at the trace's arrival rate; month = 30 days). Without a time
        span the rate is unknown: the GPU part of ``cost_per_1k_usd`` and
        ``monthly_cost_usd`` are then NaN (0 GPU cost when the fleet rents nothing).
    """
    check_score_column(score, trace.score_names, source="threshold_curves")
    order = tuple(reversed(fleet.tier_names)) if tiers is None else tuple(tiers)
    for t in order:
        fleet.tier(t)  # raises with the valid names
    if len(set(order)) != len(order) or len(order) < 2:
        raise PolicyError(
            "threshold_curves", key="tiers", problem=f"expected >= 2 distinct tiers, got {order}"
        )
    arrays = tier_arrays(trace, fleet, allow_missing_quality=(missing == "exclude"))
    cols = [fleet.tier_names.index(t) for t in order]
    costs = token_cost_matrix(fleet, arrays.prompt_tokens, arrays.output_tokens)
    curve = tiered_curve(
        trace.scores[score].to_numpy(dtype="float64"),
        pd.DataFrame(arrays.quality[:, cols], columns=list(order)),
        costs[:, cols],
        cutoffs,
        missing=missing,
    )
    n = trace.n_requests
    span_s = trace.duration_s
    token_total = curve.pop("mean_cost") * n
    per_month = (n - 1) / span_s * SECONDS_PER_MONTH if span_s > 0 else np.nan
    curve["token_cost_usd"] = token_total
    curve["fixed_cost_usd"] = fleet.fixed_usd_per_hour * span_s / 3600.0
    curve["cost_per_1k_usd"] = token_total / n * 1000.0 + gpu_cost_per_1k_usd(
        fleet.fixed_usd_per_hour, per_month
    )
    curve["monthly_cost_usd"] = (
        token_total / n * per_month + fleet.fixed_usd_per_hour * HOURS_PER_MONTH
    )
    return curve
