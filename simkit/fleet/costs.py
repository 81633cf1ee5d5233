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
"""

from __future__ import annotations

import numpy as np

from simkit.fleet.spec import ApiEndpoint, Fleet, GpuServer

__all__ = ["request_token_cost_usd", "token_cost_matrix"]


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


def token_cost_matrix(
    fleet: Fleet, prompt_tokens: np.ndarray, output_tokens: np.ndarray
) -> np.ndarray:
    """Token cost of each request on each tier, USD, shape (n_requests, n_tiers).

    :func:`request_token_cost_usd` for every request and tier at once.

    Parameters
    ----------
    fleet : Fleet
    prompt_tokens : array of shape (n_requests,)
    output_tokens : array of shape (n_requests, n_tiers)
        One column per tier in fleet order (as :attr:`simkit.sim.TierArrays.output_tokens`).
    """
    n_in = np.asarray(prompt_tokens, dtype="float64")
    cols = []
    for j, tier in enumerate(fleet.tiers):
        n_out = np.asarray(output_tokens[:, j], dtype="float64")
        e = tier.endpoint
        if isinstance(e, ApiEndpoint):
            cols.append(e.price.cost_usd_many(n_in, n_out))
        else:
            cols.append(_marginal_usd(n_in, n_out, e.marginal_usd_per_mtok))
    return np.column_stack(cols) if cols else np.zeros((len(n_in), 0))
