"""What a request costs on a tier, and what GPU rental adds per 1,000 requests: one rule each.

Every part of simkit that prices a request or spreads a rental over requests calls these
functions: the simulator charges a completed attempt :func:`request_token_cost_usd`; the
vectorised curves (:func:`simkit.sweep.threshold_curves`, :class:`simkit.study.Study`) price
every request on every tier with :func:`token_cost_matrix`; both planned costs per 1k requests
(the study's curves and ``threshold_curves``) spread the rental with
:func:`gpu_cost_per_1k_usd`.

Conventions
-----------
* **Token cost** of a request on an API tier is its catalog price
  (:meth:`simkit.fleet.ModelPrice.cost_usd`: input and output tokens times the per-million
  prices, long-context price tiers chosen by the prompt length). On a self-hosted tier it is
  the optional marginal price (power, egress) of every token, input and output alike:
  ``(input + output) * marginal_usd_per_mtok / 1e6``. The rental is not a token cost.
* **GPU cost per 1k requests** at a steady volume is the rental of a 30-day month spread over
  that month's requests: ``usd_per_hour * 720 / requests_per_month * 1000`` (idle GPUs still
  cost). A simulated run's own cost per 1k requests (:func:`simkit.metrics.cost_summary`) is
  a measurement instead: what that run paid over its horizon, divided by its requests.
"""

from __future__ import annotations

import math

import numpy as np

from simkit.fleet.spec import ApiEndpoint, Fleet, GpuServer

__all__ = [
    "HOURS_PER_MONTH",
    "SECONDS_PER_MONTH",
    "gpu_cost_per_1k_usd",
    "request_token_cost_usd",
    "token_cost_matrix",
]

#: A month is 30 days for every monthly figure in simkit (re-exported by simkit.metrics).
SECONDS_PER_MONTH = 30 * 24 * 3600
HOURS_PER_MONTH = 30 * 24


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


def gpu_cost_per_1k_usd(usd_per_hour: float, requests_per_month: float) -> float:
    """GPU rental per 1,000 requests at a steady monthly volume, USD (module conventions).

    Parameters
    ----------
    usd_per_hour : float
        Rental of every provisioned GPU together (e.g. :attr:`Fleet.fixed_usd_per_hour`).
    requests_per_month : float
        Requests in a 30-day month; NaN (unknown) gives NaN unless nothing is rented.

    Returns
    -------
    float
        ``usd_per_hour * 720 / requests_per_month * 1000``; 0.0 when nothing is rented.
    """
    if usd_per_hour == 0:
        return 0.0
    volume = float(requests_per_month)
    if math.isnan(volume):
        return math.nan
    return float(usd_per_hour) * HOURS_PER_MONTH / volume * 1000.0
