"""The trace prepared once for fast what-ifs: per-request scores, quality, token counts and
token costs on every tier, as the simulator takes them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simkit.fleet.costs import check_cost_source, token_cost_matrix
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
    cost_source : {"catalog", "observed"}
        Where API tiers' token costs come from (:mod:`simkit.fleet.costs`): the price
        catalog, or the cost the trace recorded for each request on the tier's model.
    observed_cost_usd : DataFrame of shape (n_requests, n_tiers)
        The recorded cost of each request on each tier's quality model (NaN none), what
        ``cost_source="observed"`` charges API tiers.
    """

    trace: Trace
    fleet: Fleet
    score: str
    scores: np.ndarray = field(repr=False)
    quality: pd.DataFrame = field(repr=False)
    prompt_tokens: np.ndarray = field(repr=False)
    output_tokens: pd.DataFrame = field(repr=False)
    trace_requests_per_month: float = math.nan
    cost_source: str = "catalog"
    observed_cost_usd: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def tiers(self) -> tuple[str, ...]:
        """Tier names, cheapest first (the frontier last)."""
        return self.fleet.tier_names

    @property
    def frontier(self) -> str:
        """The strongest (most expensive) tier: the fleet's last."""
        return self.tiers[-1]

    def tagged(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with ``attrs["cost_source"]`` set to the study's, for the charts and
        tables that say which prices a figure used (:func:`simkit.viz.charts.cost_source_of`)."""
        frame.attrs["cost_source"] = self.cost_source
        return frame

    def token_cost_usd(self, fleet: Fleet | None = None) -> pd.DataFrame:
        """Token cost of every request on every tier of ``fleet`` (default the prepared one),
        USD, one column per tier (:func:`simkit.fleet.costs.token_cost_matrix` with the
        prepared ``cost_source``; ``attrs["cost_source"]`` says which).

        Under ``"observed"`` an API tier costs what the trace recorded, so a price edit of
        ``fleet`` (:func:`simkit.study.fleets.fleet_with`) changes only the self-hosted tiers.
        """
        fleet = fleet or self.fleet
        names = list(fleet.tier_names)
        out = self.output_tokens[names].to_numpy()
        observed = None if self.observed_cost_usd is None else self.observed_cost_usd[names]
        costs = token_cost_matrix(
            fleet,
            self.prompt_tokens,
            out,
            cost_source=self.cost_source,
            observed_usd=None if observed is None else observed.to_numpy(),
            request_ids=self.trace.requests["request_id"].to_numpy(dtype=object),
            where=self.trace.where,
        )
        return self.tagged(pd.DataFrame(costs, columns=names))


def prepare(
    trace: Trace, fleet: Fleet, *, score: str = "p_hard", cost_source: str = "catalog"
) -> PreparedTrace:
    """Read per-request quality, token counts and scores out of ``trace`` for ``fleet``.

    Parameters
    ----------
    trace : Trace
        A scored trace.
    fleet : Fleet
    score : str, default "p_hard"
        The score column that drives threshold routing.
    cost_source : {"catalog", "observed"}, default "catalog"
        Price API tiers from the catalog, or charge them the cost the trace recorded for each
        request on the tier's quality model (:mod:`simkit.fleet.costs`). Every what-if,
        simulation and report frame of the study uses it and says which.

    Raises
    ------
    SpecError
        ``score`` is not a score column of the trace (a ``PolicyError``, from
        :func:`simkit.policies.base.check_score_column`, listing those it has), a tier's
        quality model has no outcomes in the trace, or an unknown ``cost_source``.
    TraceError
        ``cost_source="observed"`` and some request has no recorded cost on an API tier's
        model (threshold routing may send any request to any tier).
    SimulationError
        A request lacks a prompt token count, or an output length for some tier
        (:func:`simkit.sim.tier_arrays`).
    """
    check_score_column(score, trace.score_names, source="study")
    check_cost_source(cost_source, where="study")
    # the simulator's own per-tier arrays: lengths, prices and quality agree by construction
    arrays = tier_arrays(trace, fleet)
    tiers = fleet.tier_names
    arrival = trace.requests["arrival_s"].to_numpy(dtype="float64")
    span = float(arrival.max() - arrival.min()) if len(arrival) else 0.0
    volume = (len(arrival) - 1) / span * SECONDS_PER_MONTH if span > 0 else math.nan
    observed = (
        None
        if arrays.observed_cost_usd is None
        else pd.DataFrame(arrays.observed_cost_usd, columns=list(tiers))
    )
    prepared = PreparedTrace(
        trace=trace,
        fleet=fleet,
        score=score,
        scores=trace.scores[score].to_numpy(dtype="float64"),
        quality=pd.DataFrame(arrays.quality, columns=list(tiers)),
        prompt_tokens=arrays.prompt_tokens.astype("float64"),
        output_tokens=pd.DataFrame(arrays.output_tokens.astype("float64"), columns=list(tiers)),
        trace_requests_per_month=volume,
        cost_source=cost_source,
        observed_cost_usd=observed,
    )
    prepared.token_cost_usd()  # a missing recorded cost is an error now, naming the request
    return prepared
