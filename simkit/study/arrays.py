"""The trace prepared once for fast what-ifs: per-request scores, quality, token counts and
token costs on every tier, as the simulator takes them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simkit.fleet.costs import token_cost_matrix
from simkit.fleet.spec import Fleet
from simkit.metrics import SECONDS_PER_MONTH
from simkit.policies.base import check_score_column
from simkit.sim import tier_arrays
from simkit.trace.core import Trace

__all__ = ["PreparedTrace", "prepare"]


@dataclass(frozen=True, eq=False)
class PreparedTrace:
    """Per-request arrays of one scored trace on one fleet (build it with :func:`prepare`).

    Attributes
    ----------
    trace : Trace
        The scored trace (its ``score`` column drives the threshold routing).
    fleet : Fleet
        Tiers cheapest first; the last is the frontier.
    score : str
        The score column (higher = needs a stronger tier).
    scores : ndarray of shape (n_requests,)
    quality : DataFrame of shape (n_requests, n_tiers)
        Quality of each request on each tier (its ``quality_model``'s outcome; NaN unknown).
    prompt_tokens : ndarray of shape (n_requests,)
    output_tokens : DataFrame of shape (n_requests, n_tiers)
        Output length on each tier, as the simulator takes it (the quality model's recorded
        count, else the request's ``output_tokens``).
    trace_requests_per_month : float
        The trace's own volume: its arrival rate ``(n - 1) / span`` over 30 days.
    """

    trace: Trace
    fleet: Fleet
    score: str
    scores: np.ndarray = field(repr=False)
    quality: pd.DataFrame = field(repr=False)
    prompt_tokens: np.ndarray = field(repr=False)
    output_tokens: pd.DataFrame = field(repr=False)
    trace_requests_per_month: float = math.nan

    @property
    def tiers(self) -> tuple[str, ...]:
        """Tier names, cheapest first (the frontier last)."""
        return self.fleet.tier_names

    @property
    def frontier(self) -> str:
        """The strongest (most expensive) tier: the fleet's last."""
        return self.tiers[-1]

    def token_cost_usd(self, fleet: Fleet | None = None) -> pd.DataFrame:
        """Token cost of every request on every tier of ``fleet`` (default the prepared one),
        USD, one column per tier (:func:`simkit.fleet.costs.token_cost_matrix`)."""
        fleet = fleet or self.fleet
        out = self.output_tokens[list(fleet.tier_names)].to_numpy()
        costs = token_cost_matrix(fleet, self.prompt_tokens, out)
        return pd.DataFrame(costs, columns=list(fleet.tier_names))


def prepare(trace: Trace, fleet: Fleet, *, score: str = "p_hard") -> PreparedTrace:
    """Read per-request quality, token counts and scores out of ``trace`` for ``fleet``.

    Raises
    ------
    SpecError
        ``score`` is not a score column of the trace (a ``PolicyError``, from
        :func:`simkit.policies.base.check_score_column`, listing those it has), or a tier's
        quality model has no outcomes in the trace.
    SimulationError
        A request lacks a prompt token count, or an output length for some tier
        (:func:`simkit.sim.tier_arrays`).
    """
    check_score_column(score, trace.score_names, source="study")
    # the simulator's own per-tier arrays: lengths, prices and quality agree by construction
    arrays = tier_arrays(trace, fleet)
    tiers = fleet.tier_names
    arrival = trace.requests["arrival_s"].to_numpy(dtype="float64")
    span = float(arrival.max() - arrival.min()) if len(arrival) else 0.0
    volume = (len(arrival) - 1) / span * SECONDS_PER_MONTH if span > 0 else math.nan
    return PreparedTrace(
        trace=trace,
        fleet=fleet,
        score=score,
        scores=trace.scores[score].to_numpy(dtype="float64"),
        quality=pd.DataFrame(arrays.quality, columns=list(tiers)),
        prompt_tokens=arrays.prompt_tokens.astype("float64"),
        output_tokens=pd.DataFrame(arrays.output_tokens.astype("float64"), columns=list(tiers)),
        trace_requests_per_month=volume,
    )
