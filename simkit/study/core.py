"""``Study``: one trace, one fleet, one routing score, and every what-if the views draw, as a
thin facade over the study's parts (each method calls one function)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import simkit.study.explore as _explore
import simkit.study.report as _report
import simkit.study.simulation as _simulation
import simkit.study.whatif as _whatif
from simkit.fleet.spec import Fleet
from simkit.metrics import DEFAULT_SLO_TTFT_S, HOURS_PER_MONTH
from simkit.metrics.planning import CostPlan, ExplorerSettings, cost_crossovers, monthly_costs
from simkit.policies.base import Policy
from simkit.study.arrays import PreparedTrace, prepare
from simkit.study.fleets import Prices, fleet_with
from simkit.study.report import ReportResults
from simkit.study.simulation import Progress
from simkit.trace.core import Trace

__all__ = ["Study"]


@dataclass(frozen=True, eq=False)
class Study:
    """A trace prepared for fast what-ifs over one fleet and one routing score.

    Build it with :meth:`prepare` (which does the work). Every method is one function of the
    study's parts: :mod:`~simkit.study.whatif` (vectorised), :mod:`~simkit.study.simulation`,
    :mod:`simkit.metrics.planning`, :mod:`~simkit.study.explore`, :mod:`~simkit.study.report`.

    Attributes
    ----------
    prepared : PreparedTrace
        The per-request arrays; ``trace``, ``fleet``, ``score``, ``scores``, ``quality``,
        ``prompt_tokens``, ``output_tokens`` and ``trace_requests_per_month`` read them.
    """

    prepared: PreparedTrace

    # -- construction and the prepared arrays ------------------------------------------------
    @classmethod
    def prepare(
        cls, trace: Trace, fleet: Fleet, *, score: str = "p_hard", cost_source: str = "catalog"
    ) -> Study:
        """Read per-request quality, token counts and scores out of ``trace`` for ``fleet``
        (:func:`simkit.study.arrays.prepare`, which lists the errors). ``cost_source=
        "observed"`` prices API tiers at the costs the trace recorded, in every what-if,
        simulation and report frame of the study (each says which in a ``cost_source``
        column or ``attrs``)."""
        return cls(prepare(trace, fleet, score=score, cost_source=cost_source))

    @property
    def trace(self) -> Trace:
        """The scored trace."""
        return self.prepared.trace

    @property
    def fleet(self) -> Fleet:
        """Tiers cheapest first; the last is the frontier."""
        return self.prepared.fleet

    @property
    def score(self) -> str:
        """The score column (higher = needs a stronger tier)."""
        return self.prepared.score

    @property
    def cost_source(self) -> str:
        """Where API tiers' token costs come from: ``"catalog"`` or ``"observed"``."""
        return self.prepared.cost_source

    @property
    def scores(self) -> np.ndarray:
        """The score of every request."""
        return self.prepared.scores

    @property
    def quality(self) -> pd.DataFrame:
        """Quality of each request on each tier (NaN unknown), one column per tier."""
        return self.prepared.quality

    @property
    def prompt_tokens(self) -> np.ndarray:
        """Prompt length of every request."""
        return self.prepared.prompt_tokens

    @property
    def output_tokens(self) -> pd.DataFrame:
        """Output length of every request on every tier, as the simulator takes it."""
        return self.prepared.output_tokens

    @property
    def trace_requests_per_month(self) -> float:
        """The trace's own volume: its arrival rate ``(n - 1) / span`` over 30 days."""
        return self.prepared.trace_requests_per_month

    @property
    def tiers(self) -> tuple[str, ...]:
        """Tier names, cheapest first (the frontier last)."""
        return self.prepared.tiers

    @property
    def frontier(self) -> str:
        """The strongest (most expensive) tier: the fleet's last."""
        return self.prepared.frontier

    # -- fleet what-ifs and costs ------------------------------------------------------------
    def fleet_with(
        self,
        *,
        prices: Prices | None = None,
        gpu_usd_per_hour: float | None = None,
        gpu_replicas: int | None = None,
        gpu_marginal_usd_per_mtok: float | None = None,
    ) -> Fleet:
        """The fleet with some prices, the GPU rental or the replica count changed
        (:func:`simkit.study.fleets.fleet_with`)."""
        return fleet_with(
            self.fleet,
            prices=prices,
            gpu_usd_per_hour=gpu_usd_per_hour,
            gpu_replicas=gpu_replicas,
            gpu_marginal_usd_per_mtok=gpu_marginal_usd_per_mtok,
        )

    def token_cost_usd(self, fleet: Fleet | None = None) -> pd.DataFrame:
        """Token cost of every request on every tier, USD, one column per tier
        (:func:`simkit.fleet.costs.token_cost_matrix`; a self-hosted tier's rental is fixed
        cost, see :meth:`gpu_usd_per_month`)."""
        return self.prepared.token_cost_usd(fleet)

    @staticmethod
    def gpu_usd_per_month(fleet: Fleet) -> float:
        """Rental of every provisioned GPU for a 30-day month (idle GPUs still cost)."""
        return fleet.fixed_usd_per_hour * HOURS_PER_MONTH

    # -- vectorised path ---------------------------------------------------------------------
    def cutoffs_for_shares(self, shares: Mapping[str, float]) -> dict[str, float]:
        """Cut-offs that send the wanted share of this trace's requests to each tier
        (:func:`simkit.study.whatif.cutoffs_for_shares`)."""
        return _whatif.cutoffs_for_shares(self.prepared, shares)

    def threshold_policy(self, cutoffs: Mapping[str, float]) -> Policy:
        """The simulator policy that routes exactly as :meth:`evaluate` does for ``cutoffs``
        (:func:`simkit.study.whatif.threshold_policy`)."""
        return _whatif.threshold_policy(self.prepared, cutoffs)

    def evaluate(
        self,
        cutoffs: np.ndarray | Mapping[str, float],
        *,
        fleet: Fleet | None = None,
        requests_per_month: float | None = None,
    ) -> pd.DataFrame:
        """Shares, quality and cost of threshold routing for many cut-off vectors at once
        (:func:`simkit.study.whatif.evaluate`)."""
        return _whatif.evaluate(
            self.prepared, cutoffs, fleet=fleet, requests_per_month=requests_per_month
        )

    def tradeoff(
        self,
        *,
        fleet: Fleet | None = None,
        requests_per_month: float | None = None,
        n_thresholds: int = 41,
    ) -> pd.DataFrame:
        """Cost and quality of threshold routing and of the baselines, all vectorised
        (:func:`simkit.study.whatif.tradeoff`)."""
        return _whatif.tradeoff(
            self.prepared,
            fleet=fleet,
            requests_per_month=requests_per_month,
            n_thresholds=n_thresholds,
        )

    # -- simulation --------------------------------------------------------------------------
    def trace_at(self, requests_per_month: float | None) -> Trace:
        """The trace as the study simulates it: first request at 0, arrivals rescaled to
        ``requests_per_month`` (:func:`simkit.study.simulation.trace_at`)."""
        return _simulation.trace_at(self.prepared, requests_per_month)

    def simulate(
        self,
        policy: Policy,
        *,
        fleet: Fleet | None = None,
        requests_per_month: float | None = None,
        seeds: Sequence[int] = (0,),
        n_requests: int | None = None,
        n_jobs: int = 1,
        progress: Progress | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Full simulations of ``policy``, one per seed (``run_id`` = position in ``seeds``):
        ``(records, endpoints)`` of every run (:func:`simkit.study.simulation.simulate`)."""
        return _simulation.simulate(
            self.prepared,
            policy,
            fleet=fleet,
            requests_per_month=requests_per_month,
            seeds=seeds,
            n_requests=n_requests,
            n_jobs=n_jobs,
            progress=progress,
        )

    def gpu_load_curve(
        self,
        *,
        tier: str | None = None,
        rates_per_s: Sequence[float] | None = None,
        n_requests: int = 3000,
        seed: int = 0,
        fleet: Fleet | None = None,
        n_jobs: int = 1,
    ) -> pd.DataFrame:
        """TTFT percentiles of ONE replica of a self-hosted tier against its arrival rate
        (:func:`simkit.study.simulation.gpu_load_curve`)."""
        return _simulation.gpu_load_curve(
            self.prepared,
            tier=tier,
            rates_per_s=rates_per_s,
            n_requests=n_requests,
            seed=seed,
            fleet=fleet,
            n_jobs=n_jobs,
        )

    # -- monthly cost against volume ---------------------------------------------------------
    def cost_plan(
        self,
        *,
        fleet: Fleet | None = None,
        cutoffs: Mapping[str, float] | None = None,
        gpu_capacity_rps: float | None = None,
        min_replicas: int = 1,
        peak_to_mean: float = 1.0,
    ) -> CostPlan:
        """The strategies ``all <tier>`` (and ``tiered`` with ``cutoffs``) of this trace as a
        frozen plan for :mod:`simkit.metrics.planning` (:func:`simkit.study.whatif.cost_plan`)."""
        return _whatif.cost_plan(
            self.prepared,
            fleet=fleet,
            cutoffs=cutoffs,
            gpu_capacity_rps=gpu_capacity_rps,
            min_replicas=min_replicas,
            peak_to_mean=peak_to_mean,
        )

    def monthly_costs(
        self,
        requests_per_month: Sequence[float],
        *,
        fleet: Fleet | None = None,
        cutoffs: Mapping[str, float] | None = None,
        gpu_capacity_rps: float | None = None,
        min_replicas: int = 1,
        peak_to_mean: float = 1.0,
    ) -> pd.DataFrame:
        """Monthly cost of each strategy of :meth:`cost_plan` at each volume
        (:func:`simkit.metrics.planning.monthly_costs`)."""
        plan = self.cost_plan(
            fleet=fleet,
            cutoffs=cutoffs,
            gpu_capacity_rps=gpu_capacity_rps,
            min_replicas=min_replicas,
            peak_to_mean=peak_to_mean,
        )
        return monthly_costs(plan, requests_per_month)

    def cost_crossovers(
        self,
        volume_range: tuple[float, float],
        *,
        fleet: Fleet | None = None,
        cutoffs: Mapping[str, float] | None = None,
        gpu_capacity_rps: float | None = None,
        min_replicas: int = 1,
        peak_to_mean: float = 1.0,
    ) -> pd.DataFrame:
        """Every volume in ``volume_range`` where two strategies of :meth:`cost_plan` cost the
        same (:func:`simkit.metrics.planning.cost_crossovers`)."""
        plan = self.cost_plan(
            fleet=fleet,
            cutoffs=cutoffs,
            gpu_capacity_rps=gpu_capacity_rps,
            min_replicas=min_replicas,
            peak_to_mean=peak_to_mean,
        )
        return cost_crossovers(plan, volume_range)

    # -- the explorer's two callbacks --------------------------------------------------------
    def settings_cutoffs(self, settings: ExplorerSettings) -> dict[str, float]:
        """The cut-offs an explorer setting asks for (:func:`simkit.study.explore.settings_cutoffs`)."""
        return _explore.settings_cutoffs(self.prepared, settings)

    def explore(
        self, settings: ExplorerSettings, *, load_curve: pd.DataFrame | None = None
    ) -> dict[str, pd.DataFrame]:
        """Everything the explorer redraws when a control moves
        (:func:`simkit.study.explore.explore`)."""
        return _explore.explore(self.prepared, settings, load_curve=load_curve)

    def simulate_settings(
        self,
        settings: ExplorerSettings,
        progress: Progress | None = None,
        *,
        seeds: Sequence[int] = (0, 1, 2),
        n_jobs: int = 1,
    ) -> dict[str, pd.DataFrame]:
        """The explorer's button: simulate the chosen point at the chosen volume and fleet
        (:func:`simkit.study.explore.simulate_settings`)."""
        return _explore.simulate_settings(
            self.prepared, settings, progress, seeds=seeds, n_jobs=n_jobs
        )

    # -- the standard report -----------------------------------------------------------------
    def report_results(
        self,
        *,
        cutoffs: Mapping[str, float] | None = None,
        frontier_shares: Sequence[float] = (0.1, 0.2, 0.3),
        requests_per_month: float | None = None,
        slo_ttft_s: float = DEFAULT_SLO_TTFT_S,
        seeds: Sequence[int] = (0,),
        load_requests: int = 3000,
        n_jobs: int = 1,
        progress: Progress | None = None,
    ) -> ReportResults:
        """Simulate the standard set of policies and compute every frame of the HTML report
        (:func:`simkit.study.report.report_results`)."""
        return _report.report_results(
            self.prepared,
            cutoffs=cutoffs,
            frontier_shares=frontier_shares,
            requests_per_month=requests_per_month,
            slo_ttft_s=slo_ttft_s,
            seeds=seeds,
            load_requests=load_requests,
            n_jobs=n_jobs,
            progress=progress,
        )
