"""Closed forms from queueing theory that the simulator is checked against.

Reference: the Erlang-C formula for the M/M/c queue (Poisson arrivals at rate ``lambda``,
``c`` servers, exponential service at rate ``mu`` each, one FIFO queue), e.g. Kleinrock,
*Queueing Systems* Vol. 1 (1975), §3.5, or Harchol-Balter, *Performance Modeling and Design
of Computer Systems* (2013), §14.
"""

from __future__ import annotations

import math

from simkit.errors import SpecError

__all__ = ["erlang_c"]


def erlang_c(arrival_rate: float, service_rate: float, servers: int) -> tuple[float, float]:
    """Probability of waiting and mean wait in queue of an M/M/c queue.

    ``a = lambda / mu`` (offered load), ``rho = a / c`` (utilisation, < 1);
    ``P(wait) = [a^c / c! / (1 - rho)] / [sum_{k<c} a^k / k! + a^c / c! / (1 - rho)]`` and
    ``E[W_q] = P(wait) / (c * mu - lambda)``. Computed with the stable Erlang-B recursion.

    Parameters
    ----------
    arrival_rate, service_rate : float
        ``lambda`` and ``mu`` per second (> 0).
    servers : int
        ``c`` >= 1.

    Returns
    -------
    (float, float)
        ``P(wait > 0)`` and the mean wait in queue in seconds.

    Raises
    ------
    SpecError
        Non-positive rates, ``servers < 1``, or utilisation >= 1 (no steady state).
    """
    lam, mu, c = float(arrival_rate), float(service_rate), servers
    if not (lam > 0 and mu > 0 and math.isfinite(lam) and math.isfinite(mu)):
        raise SpecError("erlang_c", key="rates", problem=f"expected > 0, got {lam!r}, {mu!r}")
    if not (isinstance(c, int) and c >= 1):
        raise SpecError("erlang_c", key="servers", problem=f"expected an int >= 1, got {c!r}")
    a = lam / mu
    rho = a / c
    if rho >= 1:
        raise SpecError(
            "erlang_c", key="arrival_rate", problem=f"utilisation {rho:g} >= 1: no steady state"
        )
    b = 1.0  # Erlang B by recursion: B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    p_wait = b / (1 - rho * (1 - b))
    return p_wait, p_wait / (c * mu - lam)
