"""What each request needs and yields on each tier, known before any run: prompt and output
lengths and quality as arrays (no SimPy). The simulator and the vectorised curves
(:mod:`simkit.sweep.curves`) both start from them; their token cost is
:func:`simkit.fleet.costs.token_cost_matrix`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simkit.errors import SimulationError, SpecError
from simkit.fleet.spec import Fleet
from simkit.trace.core import Trace, equal_strings

__all__ = ["TierArrays", "int_column", "tier_arrays"]


def int_column(trace: Trace, column: str) -> tuple[np.ndarray, np.ndarray]:
    s = trace.requests[column]
    known = s.notna().to_numpy()
    return s.fillna(0).to_numpy(dtype="int64"), known


def _per_model_arrays(trace: Trace, models: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """model -> (quality, output_tokens, cost_usd) per request in request order (NaN = no
    outcome)."""
    out = trace.outcomes
    n = trace.n_requests
    req_ids = trace.requests["request_id"]
    out_ids = out["request_id"]
    model_col = out["model"]
    quality = out["quality"].to_numpy(dtype="float64", na_value=np.nan)
    tokens = out["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    cost = out["cost_usd"].to_numpy(dtype="float64", na_value=np.nan)
    rows_all = None  # request position of every outcome row, computed only if needed
    result = {}
    for m in dict.fromkeys(models):
        sel = (model_col == m).to_numpy(dtype=bool, na_value=False)
        q = np.full(n, np.nan)
        t = np.full(n, np.nan)
        c = np.full(n, np.nan)
        ids_m = out_ids[sel]
        if len(ids_m) == n and equal_strings(ids_m, req_ids):
            q[:] = quality[sel]  # the common layout: this model's outcomes in request order
            t[:] = tokens[sel]
            c[:] = cost[sel]
        else:
            if rows_all is None:
                rows_all = pd.Index(req_ids).get_indexer(out_ids)
            q[rows_all[sel]] = quality[sel]
            t[rows_all[sel]] = tokens[sel]
            c[rows_all[sel]] = cost[sel]
        result[m] = (q, t, c)
    return result


@dataclass(frozen=True)
class TierArrays:
    """What each request costs and yields on each tier, known before any run.

    Attributes
    ----------
    tiers : tuple of str
        Tier names in fleet order (cheapest first); the columns of the matrices.
    prompt_tokens : ndarray of shape (n_requests,)
    output_tokens : ndarray of shape (n_requests, n_tiers)
        The outcome's ``output_tokens`` for the tier's quality model, else the request's
        ``output_tokens``, capped at the request's ``max_tokens`` when it has one; at least 1
        (an answer has a token). The quality recorded for a capped answer is unchanged.
    quality : ndarray of shape (n_requests, n_tiers)
        Quality of the tier's quality model; NaN where the trace has no outcome.
    observed_cost_usd : ndarray of shape (n_requests, n_tiers), optional
        The outcomes' recorded ``cost_usd`` of the tier's quality model; NaN where none
        (what ``cost_source="observed"`` charges API tiers, :mod:`simkit.fleet.costs`).
    """

    tiers: tuple[str, ...]
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    quality: np.ndarray
    observed_cost_usd: np.ndarray | None = None


def tier_arrays(trace: Trace, fleet: Fleet, *, allow_missing_quality: bool = False) -> TierArrays:
    """Per-request prompt length and per-tier output length and quality, validated.

    The simulator and the vectorised curves (:func:`simkit.sweep.threshold_curves`) both start
    from these arrays, so they agree on lengths, prices and quality by construction.

    Raises
    ------
    SimulationError
        An empty trace, a request without ``prompt_tokens``, or without an output length for
        some tier.
    SpecError
        A tier whose quality model has no outcomes (unless ``allow_missing_quality``).
    """
    req = trace.requests
    n = trace.n_requests
    if n == 0:
        raise SimulationError(
            f"{trace.where}: the trace is empty (0 requests); there is nothing to simulate. "
            "Check the file it came from, or the --n-requests / filter that selected it"
        )
    ids = req["request_id"]
    prompt, known = int_column(trace, "prompt_tokens")
    if n and not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise SimulationError(
            f"{trace.where}: request {ids.iloc[i]!r} (row {i + 1}) has no prompt_tokens "
            f"({int((~known).sum())} requests without); the simulator needs prompt lengths. "
            "Count them from the prompt text (simkit.trace tokens) or attach lengths from a "
            "serving trace"
        )
    req_out, req_out_known = int_column(trace, "output_tokens")
    max_tokens, max_known = int_column(trace, "max_tokens")
    models = set(trace.models)
    per_model_cache = _per_model_arrays(
        trace, [t.quality_model for t in fleet.tiers if t.quality_model in models]
    )
    quality, outputs, observed = [], [], []
    for tier in fleet.tiers:
        m = tier.quality_model
        if m in models:
            q, per_model, c = per_model_cache[m]
        elif allow_missing_quality:
            q = np.full(n, np.nan)
            per_model = np.full(n, np.nan)
            c = np.full(n, np.nan)
        else:
            raise SpecError(
                fleet.source,
                key=f"tiers.{tier.name}.quality_model",
                problem=f"the trace has no outcomes for model {m!r}; models with outcomes: "
                f"{', '.join(sorted(models)) or 'none'}",
                hint="set quality_model to one of them, or pass allow_missing_quality=True "
                "to simulate (`simkit replay --allow-missing-quality`; quality is then "
                "unknown for this tier)",
            )
        have = ~np.isnan(per_model)
        out = np.where(have, np.nan_to_num(per_model), req_out)
        ok = have | req_out_known
        if n and not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise SimulationError(
                f"{trace.where}: request {ids.iloc[i]!r} (row {i + 1}) has no output length for "
                f"tier {tier.name!r} (model {m!r}): neither an outcome 'output_tokens' for "
                f"that model nor the request's 'output_tokens' ({int((~ok).sum())} requests). "
                "Attach output lengths to the trace (e.g. from a serving trace)"
            )
        # a request's max_tokens caps what any tier generates for it
        out = np.where(max_known, np.minimum(out, max_tokens), out)
        outputs.append(np.maximum(out.astype("int64"), 1))  # an answer has at least one token
        quality.append(q)
        observed.append(c)
    k = len(fleet.tiers)
    return TierArrays(
        tiers=fleet.tier_names,
        prompt_tokens=prompt,
        output_tokens=np.column_stack(outputs) if k else np.zeros((n, 0), dtype="int64"),
        quality=np.column_stack(quality) if k else np.zeros((n, 0)),
        observed_cost_usd=np.column_stack(observed) if k else np.zeros((n, 0)),
    )
