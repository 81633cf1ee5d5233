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
from simkit.fleet.costs import check_cost_source, token_cost_matrix
from simkit.fleet.spec import Fleet
from simkit.metrics import HOURS_PER_MONTH, SECONDS_PER_MONTH, gpu_cost_per_1k_usd, tiered_curve
from simkit.policies.base import check_score_column
from simkit.sim import TierArrays, tier_arrays
from simkit.trace.core import Trace

__all__ = ["per_request_cost_usd", "threshold_curves"]


def _costs(
    trace: Trace,
    fleet: Fleet,
    arrays: TierArrays,
    cost_source: str,
    tiers: tuple[str, ...] | None = None,
) -> np.ndarray:
    return token_cost_matrix(
        fleet,
        arrays.prompt_tokens,
        arrays.output_tokens,
        cost_source=cost_source,
        observed_usd=arrays.observed_cost_usd,
        request_ids=trace.requests["request_id"].to_numpy(dtype=object),
        where=trace.where,
        tiers=tiers,
    )


def per_request_cost_usd(
    trace: Trace, fleet: Fleet, *, cost_source: str = "catalog"
) -> pd.DataFrame:
    """Per-token spend of each request on each tier (one column per tier, fleet order).

    API tiers: the catalog price of the prompt and of the tier model's output length (long-
    context tiers chosen by the prompt length, as the simulator does), or with
    ``cost_source="observed"`` the cost the trace recorded for the request on the tier's
    ``quality_model`` (:mod:`simkit.fleet.costs`; a missing one is a
    :class:`~simkit.errors.TraceError`). GPU tiers: the optional marginal price per token;
    their rental is a fixed cost, not in this table. ``attrs["cost_source"]`` says which.
    """
    check_cost_source(cost_source, where="per_request_cost_usd")
    arrays = tier_arrays(trace, fleet)
    out = pd.DataFrame(
        _costs(trace, fleet, arrays, cost_source),
        columns=list(fleet.tier_names),
        index=trace.requests["request_id"],
    )
    out.attrs["cost_source"] = cost_source
    return out


def threshold_curves(
    trace: Trace,
    fleet: Fleet,
    cutoffs: ArrayLike,
    *,
    tiers: tuple[str, ...] | None = None,
    score: str = "p_hard",
    missing: str = "raise",
    cost_source: str = "catalog",
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
    cost_source : {"catalog", "observed"}, default "catalog"
        Price API tiers by the catalog or by the costs the trace recorded
        (:mod:`simkit.fleet.costs`); with ``"observed"`` every request needs a recorded cost
        on every API tier in ``tiers`` (any of them can be picked by some cut-off).

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
        ``monthly_cost_usd`` are then NaN (0 GPU cost when the fleet rents nothing);
        ``cost_source`` (the same on every row) says which prices the costs used.
    """
    check_cost_source(cost_source, where="threshold_curves")
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
    costs = _costs(trace, fleet, arrays, cost_source, order)
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
    curve["cost_source"] = cost_source
    return curve
