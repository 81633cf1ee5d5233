"""What a request's tokens cost on a tier: the one rule, next to the prices.

Every part of simkit that prices a request calls these functions: the simulator charges a
completed attempt :func:`request_token_cost_usd`; the vectorised curves
(:func:`simkit.sweep.threshold_curves`, :class:`simkit.study.Study`) price every request on
every tier with :func:`token_cost_matrix`. (The rule lives in ``fleet`` because the simulator
may not import ``metrics``; the GPU rental per 1k requests is
:func:`simkit.metrics.gpu_cost_per_1k_usd`.)

Conventions
-----------
* **Token cost** of a request on an API tier is its catalog price
  (:meth:`simkit.fleet.ModelPrice.cost_usd`: input and output tokens times the per-million
  prices, long-context price tiers chosen by the prompt length). On a self-hosted tier it is
  the optional marginal price (power, egress) of every token, input and output alike:
  ``(input + output) * marginal_usd_per_mtok / 1e6``. The rental is not a token cost.
* **Cost source.** ``cost_source="catalog"`` (the default everywhere) prices API tiers as
  above. ``cost_source="observed"`` charges an API tier the dollar cost the trace *recorded*
  for that request on the tier's ``quality_model`` (the outcomes' ``cost_usd``, as
  RouterBench-style data carry it; :meth:`simkit.Trace.cost_matrix`). A self-hosted tier is
  priced the same under both sources (its marginal token price; its rental is fixed): an
  API's recorded bill says nothing about what your own GPUs cost. A used (request, API tier)
  whose model has no recorded cost is an error naming the request and the model, never 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simkit.errors import SpecError, TraceError
from simkit.fleet.spec import ApiEndpoint, Fleet, GpuServer

__all__ = [
    "COST_SOURCES",
    "check_cost_source",
    "missing_observed_cost_error",
    "request_token_cost_usd",
    "request_token_cost_function",
    "token_cost_matrix",
]

#: Where a request's token cost comes from (module notes): the price catalog, or the cost the
#: trace recorded for that request and model.
COST_SOURCES = ("catalog", "observed")


def check_cost_source(cost_source: str, *, where: str) -> str:
    """Return ``cost_source`` if it is one of :data:`COST_SOURCES`, else raise naming ``where``.

    Raises
    ------
    SpecError
        Naming ``where``, key ``cost_source``, the value and the valid choices.
    """
    if cost_source not in COST_SOURCES:
        raise SpecError(
            where,
            key="cost_source",
            problem=f"got {cost_source!r}; expected one of {', '.join(map(repr, COST_SOURCES))}",
        )
    return cost_source


def missing_observed_cost_error(
    where: str, request_id: str, row: int, tier: str, model: str, count: int
) -> TraceError:
    """The error for a used (request, API tier) whose model has no recorded ``cost_usd``.

    Parameters
    ----------
    where : str
        The trace (its file or description).
    request_id : str
        The first request without a recorded cost.
    row : int
        Its 1-based row in the trace's requests.
    tier, model : str
        The tier it was (or may be) sent to and that tier's ``quality_model``.
    count : int
        How many such requests there are.
    """
    return TraceError(
        where,
        row=row,
        column="cost_usd",
        problem=f"request {request_id!r} has no observed cost for model {model!r} (tier "
        f"{tier!r}; {count} such requests); cost_source='observed' needs the recorded "
        "cost_usd of every (request, model) it prices",
        hint="attach the outcomes' cost_usd for that model, or use cost_source='catalog'",
    )


def _marginal_usd(n_in: float | np.ndarray, n_out: float | np.ndarray, usd_per_mtok: float):
    return (n_in + n_out) * usd_per_mtok * 1e-6


def request_token_cost_usd(
    endpoint: ApiEndpoint | GpuServer, input_tokens: int, output_tokens: int
) -> float:
    """Token cost of one request on one tier, USD (module conventions).

    Parameters
    ----------
    endpoint : ApiEndpoint or GpuServer
        The tier's endpoint.
    input_tokens, output_tokens : int
        The request's prompt length and the tier's answer length.
    """
    if isinstance(endpoint, ApiEndpoint):
        return endpoint.price.cost_usd(input_tokens, output_tokens)
    return _marginal_usd(input_tokens, output_tokens, endpoint.marginal_usd_per_mtok)


def request_token_cost_function(endpoint: ApiEndpoint | GpuServer) -> Callable[[int, int], float]:
    """:func:`request_token_cost_usd` with the endpoint bound: ``f(input_tokens,
    output_tokens)`` gives the same value, without the per-call dispatch (the simulator's
    hot path charges every completed attempt through it)."""
    if isinstance(endpoint, ApiEndpoint):
        return endpoint.price.cost_usd
    usd_per_mtok = endpoint.marginal_usd_per_mtok
    return lambda n_in, n_out: _marginal_usd(n_in, n_out, usd_per_mtok)


def token_cost_matrix(
    fleet: Fleet,
    prompt_tokens: np.ndarray,
    output_tokens: np.ndarray,
    *,
    cost_source: str = "catalog",
    observed_usd: np.ndarray | None = None,
    request_ids: np.ndarray | None = None,
    where: str = "<trace>",
    tiers: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Token cost of each request on each tier, USD, shape (n_requests, n_tiers).

    :func:`request_token_cost_usd` for every request and tier at once; with
    ``cost_source="observed"`` the API tiers' columns are the recorded costs (module notes).

    Parameters
    ----------
    fleet : Fleet
    prompt_tokens : array of shape (n_requests,)
    output_tokens : array of shape (n_requests, n_tiers)
        One column per tier in fleet order (as :attr:`simkit.sim.TierArrays.output_tokens`).
    cost_source : {"catalog", "observed"}, default "catalog"
    observed_usd : array of shape (n_requests, n_tiers), optional
        Recorded cost of each request on each tier's ``quality_model``, NaN where none (as
        :attr:`simkit.sim.TierArrays.observed_cost_usd`); needed with ``"observed"``.
    request_ids : array of shape (n_requests,), optional
        Request ids, for the error message.
    where : str
        The trace, for the error message.
    tiers : tuple of str, optional
        The tiers that may be used; default all. Only their API columns must be recorded.

    Raises
    ------
    TraceError
        ``"observed"`` and a used API tier's model has no recorded cost for some request.
    SpecError
        An unknown ``cost_source``, or ``"observed"`` without ``observed_usd``.
    """
    check_cost_source(cost_source, where="token_cost_matrix")
    observed = cost_source == "observed"
    if observed and observed_usd is None:
        raise SpecError(
            "token_cost_matrix",
            key="observed_usd",
            problem="cost_source='observed' needs the recorded costs (TierArrays.observed_cost_usd)",
        )
    n_in = np.asarray(prompt_tokens, dtype="float64")
    used = fleet.tier_names if tiers is None else tiers
    cols = []
    for j, tier in enumerate(fleet.tiers):
        n_out = np.asarray(output_tokens[:, j], dtype="float64")
        e = tier.endpoint
        if isinstance(e, ApiEndpoint) and observed:
            col = np.asarray(observed_usd[:, j], dtype="float64")
            bad = np.flatnonzero(np.isnan(col))
            if bad.size and tier.name in used:
                i = int(bad[0])
                rid = str(request_ids[i]) if request_ids is not None else f"#{i + 1}"
                raise missing_observed_cost_error(
                    where, rid, i + 1, tier.name, tier.quality_model, int(bad.size)
                )
            cols.append(col)
        elif isinstance(e, ApiEndpoint):
            cols.append(e.price.cost_usd_many(n_in, n_out))
        else:
            cols.append(_marginal_usd(n_in, n_out, e.marginal_usd_per_mtok))
    return np.column_stack(cols) if cols else np.zeros((len(n_in), 0))
