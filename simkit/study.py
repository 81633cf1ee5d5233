"""One trace, one fleet, one routing score: the numbers the views draw, computed in one place.

This is the notebook-facing layer between the library and the views (``simkit.viz`` may not
import the simulator, so the explorer receives :meth:`Study.explore` and
:meth:`Study.simulate_settings` as functions). It offers two paths:

* **vectorised** (instant, for sliders): per-request quality, token counts and token costs per
  tier are prepared once; any number of score cut-offs, prices, volumes and GPU rentals are
  then evaluated with :func:`simkit.metrics.tiered_curve` (one sort, cumulative sums);
* **simulated** (seconds): :func:`simkit.sim.simulate` on the trace, its arrivals rescaled to a
  chosen monthly volume, over the fleet with the chosen prices and GPUs; latency and queueing
  only come from here.

Cost conventions are :mod:`simkit.metrics.cost`'s: a month is 30 days (720 h); a token's price
is the tier's ``ModelPrice`` (self-hosted tiers: ``marginal_usd_per_mtok``); the GPU fleet is
rented whole hours whether busy or idle. Routing is the simulator's ``ThresholdPolicy``:
tiers are tried strongest first and a request goes to the first tier whose cut-off its score
reaches, else to the cheapest tier.

Monthly cost against volume (:meth:`Study.monthly_costs`) provisions self-hosted replicas for
the load: ``replicas = max(gpu_replicas, ceil(volume * gpu_share * peak_to_mean /
capacity))`` with the capacity of one replica measured by simulation
(:meth:`Study.gpu_load_curve`, :func:`capacity_rps`): the highest arrival rate at which the
p95 TTFT of an all-GPU replay stays within the SLO.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.fleet.spec import ApiEndpoint, Fleet, GpuServer
from simkit.metrics import (
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    latency_percentiles,
    summarize_runs,
    throughput,
    tiered_curve,
)
from simkit.policies import StaticPolicy, ThresholdPolicy
from simkit.policies.base import Policy, check_score_column
from simkit.shares import threshold_for_share
from simkit.sim import simulate, tier_arrays, token_cost_matrix
from simkit.trace.core import Trace

__all__ = [
    "Study",
    "capacity_rps",
]

Prices = Mapping[str, tuple[float, float]]
Progress = Callable[[int, int], None]


def _positive(value: float | None, *, key: str, allow_zero: bool = False) -> float | None:
    if value is None:
        return None
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise SpecError(
            "study",
            key=key,
            problem=f"got {value!r}; expected a finite number {'>=' if allow_zero else '>'} 0",
        )
    return v


@dataclass(frozen=True, eq=False)
class Study:
    """A trace prepared for fast what-ifs over one fleet and one routing score.

    Build it with :meth:`prepare` (which does the work); the fields hold the prepared arrays.

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

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def prepare(cls, trace: Trace, fleet: Fleet, *, score: str = "p_hard") -> Study:
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
        req = trace.requests
        arrival = req["arrival_s"].to_numpy(dtype="float64")
        span = float(arrival.max() - arrival.min()) if len(arrival) else 0.0
        volume = (len(arrival) - 1) / span * SECONDS_PER_MONTH if span > 0 else math.nan
        return cls(
            trace=trace,
            fleet=fleet,
            score=score,
            scores=trace.scores[score].to_numpy(dtype="float64"),
            quality=pd.DataFrame(arrays.quality, columns=list(tiers)),
            prompt_tokens=arrays.prompt_tokens.astype("float64"),
            output_tokens=pd.DataFrame(arrays.output_tokens.astype("float64"), columns=list(tiers)),
            trace_requests_per_month=volume,
        )

    # -- fleet what-ifs ----------------------------------------------------------------------
    @property
    def tiers(self) -> tuple[str, ...]:
        """Tier names, cheapest first (the frontier last)."""
        return self.fleet.tier_names

    @property
    def frontier(self) -> str:
        """The strongest (most expensive) tier: the fleet's last."""
        return self.tiers[-1]

    def fleet_with(
        self,
        *,
        prices: Prices | None = None,
        gpu_usd_per_hour: float | None = None,
        gpu_replicas: int | None = None,
        gpu_marginal_usd_per_mtok: float | None = None,
    ) -> Fleet:
        """The fleet with some prices, the GPU rental or the replica count changed.

        Parameters
        ----------
        prices : mapping tier -> (input, output) USD per 1M tokens, optional
            For API tiers.
        gpu_usd_per_hour : float, optional
            Rental of one GPU, applied to every self-hosted tier.
        gpu_replicas : int, optional
            Replicas of every self-hosted tier.
        gpu_marginal_usd_per_mtok : float, optional
            Per-token cost on top of the rental (power, egress) of every self-hosted tier.
        """
        prices = dict(prices or {})
        _positive(gpu_usd_per_hour, key="gpu_usd_per_hour", allow_zero=True)
        _positive(gpu_marginal_usd_per_mtok, key="gpu_marginal_usd_per_mtok", allow_zero=True)
        if gpu_replicas is not None and (
            isinstance(gpu_replicas, bool) or int(gpu_replicas) != gpu_replicas or gpu_replicas < 1
        ):
            raise SpecError(
                "study", key="gpu_replicas", problem=f"got {gpu_replicas!r}; expected an int >= 1"
            )
        unknown = sorted(set(prices) - set(self.tiers))
        if unknown:
            raise SpecError(
                "study",
                key=f"prices.{unknown[0]}",
                problem=f"unknown tier; tiers: {', '.join(self.tiers)}",
            )
        tiers = []
        for t in self.fleet.tiers:
            e = t.endpoint
            if isinstance(e, ApiEndpoint) and t.name in prices:
                p_in, p_out = prices[t.name]
                e = replace(
                    e,
                    price=replace(
                        e.price,
                        input_usd_per_mtok=float(p_in),
                        output_usd_per_mtok=float(p_out),
                        resolved_by="override",
                    ),
                )
            elif isinstance(e, GpuServer):
                if t.name in prices:
                    raise SpecError(
                        "study",
                        key=f"prices.{t.name}",
                        problem="a self-hosted tier has no token price; set gpu_usd_per_hour",
                    )
                if gpu_usd_per_hour is not None:
                    e = replace(e, usd_per_gpu_hour=float(gpu_usd_per_hour))
                if gpu_replicas is not None:
                    e = replace(e, replicas=int(gpu_replicas))
                if gpu_marginal_usd_per_mtok is not None:
                    e = replace(e, marginal_usd_per_mtok=float(gpu_marginal_usd_per_mtok))
            tiers.append(replace(t, endpoint=e))
        return replace(self.fleet, tiers=tuple(tiers))

    def token_cost_usd(self, fleet: Fleet | None = None) -> pd.DataFrame:
        """Per-token spend of every request on every tier, USD (one column per tier).

        API tiers: the tier's price (long-context tiers chosen by the prompt length, as
        :meth:`simkit.fleet.ModelPrice.cost_usd`); self-hosted tiers: the marginal price per
        token (the rental is fixed cost, see :meth:`gpu_usd_per_month`).
        """
        fleet = fleet or self.fleet
        out = self.output_tokens[list(fleet.tier_names)].to_numpy()
        costs = token_cost_matrix(fleet, self.prompt_tokens, out)
        return pd.DataFrame(costs, columns=list(fleet.tier_names))

    @staticmethod
    def gpu_usd_per_month(fleet: Fleet) -> float:
        """Rental of every provisioned GPU for a 30-day month (idle GPUs still cost)."""
        return fleet.fixed_usd_per_hour * HOURS_PER_MONTH

    # -- vectorised path ---------------------------------------------------------------------
    def _curve(
        self, cutoffs: np.ndarray, costs: pd.DataFrame, scores: np.ndarray | None = None
    ) -> pd.DataFrame:
        strongest_first = list(self.tiers)[::-1]
        return tiered_curve(
            self.scores if scores is None else scores,
            self.quality[strongest_first],
            costs[strongest_first],
            cutoffs,
            missing="exclude",
        )

    def _check_upper_tiers(self, by_tier: Mapping[str, float], key: str) -> None:
        """Every key of ``by_tier`` must be a tier above the cheapest (those take cut-offs)."""
        bad = sorted(set(by_tier) - set(self.tiers[1:]))
        if bad:
            raise SpecError(
                "study",
                key=f"{key}.{bad[0]}",
                problem=f"not a tier above the cheapest; tiers: {', '.join(self.tiers[1:])}",
            )

    def cutoffs_for_shares(self, shares: Mapping[str, float]) -> dict[str, float]:
        """Cut-offs that send the wanted share of *this trace's* requests to each tier.

        Parameters
        ----------
        shares : mapping tier -> fraction
            For the tiers above the cheapest (which takes the rest); their sum at most 1.

        Returns
        -------
        dict
            Tier -> cut-off, strongest first: the threshold sending at most the cumulative
            share of this trace's requests to that tier and the stronger ones
            (:func:`simkit.shares.threshold_for_share`, ties kept on the cheaper side); ``inf``
            for a tier given no share, ``-inf`` once the shares reach 1. Another trace may
            realise other shares.
        """
        self._check_upper_tiers(shares, "shares")
        total = 0.0
        out = {}
        for tier in self.tiers[:0:-1]:
            share = float(shares.get(tier, 0.0))
            if not (0 <= share <= 1):
                raise SpecError(
                    "study", key=f"shares.{tier}", problem=f"got {share!r}; expected in [0, 1]"
                )
            total += share
            if total > 1 + 1e-12:
                raise SpecError(
                    "study", key=f"shares.{tier}", problem=f"shares add up to {total:g} > 1"
                )
            if total <= 0:
                out[tier] = math.inf
            elif total >= 1:
                out[tier] = -math.inf
            else:
                out[tier] = threshold_for_share(self.scores, total)
        return out

    def _cutoff_matrix(self, cutoffs: Mapping[str, float]) -> np.ndarray:
        """Cut-off mapping (tier -> value, missing = takes none) -> one row for tiered_curve."""
        self._check_upper_tiers(cutoffs, "cutoffs")
        row = [float(cutoffs.get(t, math.inf)) for t in self.tiers[:0:-1]]
        if any(math.isnan(v) for v in row):
            raise SpecError("study", key="cutoffs", problem="NaN cut-off; expected a number")
        return np.asarray([row])

    def threshold_policy(self, cutoffs: Mapping[str, float]) -> Policy:
        """The simulator policy that routes exactly as :meth:`evaluate` does for ``cutoffs``.

        ``ThresholdPolicy`` needs finite, strictly decreasing cut-offs; the vectorised path
        accepts any. Tiers that can take no request (a cut-off of ``+inf``, or not below a
        stronger tier's) are left out; a cut-off of ``-inf`` takes every request left, so it
        becomes a cut-off below the lowest score and the tiers after it are left out.
        """
        self._cutoff_matrix(cutoffs)  # names a bad tier or a NaN
        kept: dict[str, float] = {}
        below = math.inf  # scores still unrouted are < below
        floor = float(np.min(self.scores)) - 1.0 if len(self.scores) else -1.0
        for tier in self.tiers[:0:-1]:  # strongest first
            cut = float(cutoffs.get(tier, math.inf))
            if cut >= below:
                continue  # takes nothing
            if cut == -math.inf:
                kept[tier] = floor
                break
            kept[tier] = cut
            below = cut
        if not kept:
            return StaticPolicy(self.tiers[0])
        if len(kept) == 1 and next(iter(kept.values())) == floor:
            return StaticPolicy(next(iter(kept)))
        return ThresholdPolicy(kept, score=self.score)

    def evaluate(
        self,
        cutoffs: np.ndarray | Mapping[str, float],
        *,
        fleet: Fleet | None = None,
        requests_per_month: float | None = None,
    ) -> pd.DataFrame:
        """Shares, quality and cost of threshold routing for many cut-off vectors at once.

        Parameters
        ----------
        cutoffs : array of shape (n_points, n_tiers - 1) or mapping tier -> cut-off
            Cut-offs strongest tier first (the cheapest tier takes the rest); a mapping is
            one point.
        fleet : Fleet, optional
            Prices and GPU rental (default the study's fleet; see :meth:`fleet_with`).
        requests_per_month : float, optional
            Volume over which the monthly GPU rental is spread; default the trace's own.

        Returns
        -------
        DataFrame
            One row per cut-off vector: ``cutoff_<tier>``, ``share_<tier>``, ``frontier_share``,
            ``mean_quality``, ``quality_coverage``, ``token_cost_per_1k_usd``,
            ``gpu_cost_per_1k_usd``, ``cost_per_1k_usd``, ``requests_per_month``,
            ``monthly_cost_usd``.
        """
        matrix = (
            self._cutoff_matrix(cutoffs)
            if isinstance(cutoffs, Mapping)
            else np.asarray(cutoffs, dtype="float64")
        )
        return self._evaluate(matrix, fleet or self.fleet, requests_per_month)

    def _evaluate(
        self,
        matrix: np.ndarray,
        fleet: Fleet,
        requests_per_month: float | None,
        scores: np.ndarray | None = None,
    ) -> pd.DataFrame:
        volume = _positive(requests_per_month, key="requests_per_month")
        volume = self.trace_requests_per_month if volume is None else volume
        curve = self._curve(matrix, self.token_cost_usd(fleet), scores)
        token = curve.pop("mean_cost") * 1000.0
        gpu = self.gpu_usd_per_month(fleet) / volume * 1000.0
        curve["frontier_share"] = curve[f"share_{self.frontier}"]
        curve["token_cost_per_1k_usd"] = token
        curve["gpu_cost_per_1k_usd"] = gpu
        curve["cost_per_1k_usd"] = token + gpu
        curve["requests_per_month"] = volume
        curve["monthly_cost_usd"] = curve["cost_per_1k_usd"] * volume / 1000.0
        return curve

    def tradeoff(
        self,
        *,
        fleet: Fleet | None = None,
        requests_per_month: float | None = None,
        n_thresholds: int = 41,
    ) -> pd.DataFrame:
        """Cost and quality of threshold routing and of the baselines, all vectorised.

        Rows (``policy`` column):

        * ``frontier / <tier>``: two-tier threshold routing between the frontier and each
          cheaper tier, at ``n_thresholds`` cut-offs (the score quantiles, so points spread
          evenly in frontier share); ``threshold`` is the frontier cut-off;
        * ``all <tier>``: every request on one tier;
        * ``random mix``: the expected cost and quality of sending a random share ``p`` to the
          frontier and the rest to the cheapest tier (a straight line; ``threshold`` NaN);
        * ``oracle``: each request on the cheapest tier that reaches its best recorded quality.

        Returns
        -------
        DataFrame
            :meth:`evaluate`'s columns plus ``policy`` and ``threshold``.
        """
        fleet = fleet or self.fleet
        if isinstance(n_thresholds, bool) or int(n_thresholds) != n_thresholds or n_thresholds < 2:
            raise SpecError(
                "study", key="n_thresholds", problem=f"got {n_thresholds!r}; expected an int >= 2"
            )
        levels = np.linspace(0.0, 1.0, int(n_thresholds))
        edges = np.quantile(self.scores, levels, method="higher")
        edges[0] = -math.inf  # level 0: every request to the frontier
        edges[-1] = math.inf  # level 1: none
        k = len(self.tiers)
        frames = []
        strongest_first = list(self.tiers[::-1])
        for cheaper in self.tiers[:-1]:
            # strongest-first cut-offs; tiers between the frontier and `cheaper` take none,
            # `cheaper` takes everything below the frontier cut-off
            m = np.full((len(edges), k - 1), math.inf)
            m[:, 0] = edges
            pos = strongest_first.index(cheaper)
            if pos < k - 1:
                m[:, pos] = -math.inf
            for col in range(1, pos):
                m[:, col] = edges  # equal to the frontier cut-off: takes nothing
            part = self.evaluate(m, fleet=fleet, requests_per_month=requests_per_month)
            part.insert(0, "threshold", edges)
            part.insert(0, "policy", f"{self.frontier} / {cheaper}")
            frames.append(part)
        frames.append(self._static_rows(fleet, requests_per_month))
        frames.append(self._random_rows(fleet, requests_per_month))
        frames.append(self._oracle_row(fleet, requests_per_month))
        return pd.concat(frames, ignore_index=True)

    def _static_rows(self, fleet: Fleet, requests_per_month: float | None) -> pd.DataFrame:
        rows = []
        strongest_first = list(self.tiers[::-1])
        for tier in self.tiers:
            pos = strongest_first.index(tier)
            cut = [math.inf] * (len(self.tiers) - 1)
            if pos < len(cut):
                cut[pos] = -math.inf
            row = self.evaluate(
                np.asarray([cut]), fleet=fleet, requests_per_month=requests_per_month
            )
            row.insert(0, "threshold", math.nan)
            row.insert(0, "policy", f"all {tier}")
            rows.append(row)
        return pd.concat(rows, ignore_index=True)

    def _random_rows(self, fleet: Fleet, requests_per_month: float | None) -> pd.DataFrame:
        both = self._static_rows(fleet, requests_per_month)
        weak = both[both["policy"] == f"all {self.tiers[0]}"].iloc[0]
        strong = both[both["policy"] == f"all {self.frontier}"].iloc[0]
        p = np.linspace(0.0, 1.0, 11)
        out = pd.DataFrame({"policy": "random mix", "threshold": math.nan}, index=range(len(p)))
        for col in both.columns:
            if col in ("policy", "threshold"):
                continue
            if col.startswith("cutoff_"):
                out[col] = math.nan
            else:
                out[col] = (1 - p) * float(weak[col]) + p * float(strong[col])
        return out

    def _oracle_row(self, fleet: Fleet, requests_per_month: float | None) -> pd.DataFrame:
        q = self.quality.to_numpy(dtype="float64")
        filled = np.where(np.isnan(q), -np.inf, q)
        pick = np.argmax(filled >= filled.max(axis=1, keepdims=True), axis=1)  # cheapest best
        # route by a score equal to the picked tier's rank: cut-offs k - 1 - i select tier k
        k = len(self.tiers)
        cut = np.asarray([[float(i) for i in range(k - 1, 0, -1)]])
        row = self._evaluate(cut, fleet, requests_per_month, scores=pick.astype("float64"))
        row[[c for c in row.columns if c.startswith("cutoff_")]] = math.nan
        row.insert(0, "threshold", math.nan)
        row.insert(0, "policy", "oracle")
        return row

    # -- simulation --------------------------------------------------------------------------
    def trace_at(self, requests_per_month: float | None) -> Trace:
        """The trace as the study simulates it: its first request at time 0 and its arrivals
        rescaled to ``requests_per_month`` (same order and gaps, compressed or stretched; the
        trace's own rate when None).

        Starting at 0 matters for cost: the simulator rents the GPUs from time 0, so a slice
        whose first request came late (e.g. the second half of a trace) would otherwise pay
        for idle hours that belong to no request. The shift is recorded in ``meta``.
        """
        volume = _positive(requests_per_month, key="requests_per_month")
        req = self.trace.requests.copy()
        first = float(req["arrival_s"].min()) if len(req) else 0.0
        factor = 1.0 if volume is None else self.trace_requests_per_month / volume
        if first == 0.0 and factor == 1.0:
            return self.trace
        req["arrival_s"] = (req["arrival_s"] - first) * factor
        meta = dict(self.trace.meta)
        meta["study_arrivals"] = {"shifted_by_s": -first, "time_scale": factor}
        if volume is not None:
            meta["rescaled_to_requests_per_month"] = volume
        return self.trace.replace(requests=req, meta=meta)

    def simulate(
        self,
        policy: Policy,
        *,
        fleet: Fleet | None = None,
        requests_per_month: float | None = None,
        seeds: Sequence[int] = (0,),
        n_requests: int | None = None,
        progress: Progress | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Full simulations of ``policy``, one per seed (``run_id`` = position in ``seeds``).

        Parameters
        ----------
        policy : Policy
        fleet : Fleet, optional
            Default the study's fleet.
        requests_per_month : float, optional
            Rescale the arrivals to this volume (:meth:`trace_at`).
        seeds : sequence of int
        n_requests : int, optional
            Simulate only the first ``n_requests`` requests (after rescaling).
        progress : callable(done, total), optional
            Called after each run.

        Returns
        -------
        (records, endpoints) : tuple of DataFrame
            Concatenated simulator tables of every run.
        """
        fleet = fleet or self.fleet
        trace = self.trace_at(requests_per_month)
        if n_requests is not None and n_requests < trace.n_requests:
            trace = trace.subset(np.arange(trace.n_requests) < int(n_requests))
        seeds = list(seeds)
        if not seeds:
            raise SpecError("study", key="seeds", problem="no seeds; give at least one")
        records, endpoints = [], []
        for run_id, seed in enumerate(seeds):
            rec = simulate(trace, fleet, policy, seed=int(seed), run_id=run_id)
            records.append(rec.requests)
            endpoints.append(rec.endpoints)
            if progress is not None:
                progress(run_id + 1, len(seeds))
        return pd.concat(records, ignore_index=True), pd.concat(endpoints, ignore_index=True)

    def gpu_load_curve(
        self,
        *,
        tier: str | None = None,
        rates_per_s: Sequence[float] | None = None,
        n_requests: int = 3000,
        seed: int = 0,
        fleet: Fleet | None = None,
    ) -> pd.DataFrame:
        """TTFT percentiles of ONE replica of a self-hosted tier against its arrival rate.

        Every request of the first ``n_requests`` goes to that tier (``StaticPolicy``), with
        one replica, arrivals rescaled so they come at each rate in ``rates_per_s``.

        Returns
        -------
        DataFrame
            ``rate_per_s``, ``requests_per_month`` (at that rate), ``p50_ttft_s``,
            ``p95_ttft_s``, ``p99_ttft_s``, ``p95_e2e_s``, ``completed_per_s``.
        """
        fleet = fleet or self.fleet
        gpu_tiers = [t.name for t in fleet.tiers if isinstance(t.endpoint, GpuServer)]
        if not gpu_tiers:
            raise SpecError(fleet.source, key="tiers", problem="the fleet has no self-hosted tier")
        tier = tier or gpu_tiers[0]
        if tier not in gpu_tiers:
            raise SpecError(
                "study",
                key="tier",
                problem=f"{tier!r} is not a self-hosted tier; self-hosted: {', '.join(gpu_tiers)}",
            )
        one = replace(
            fleet,
            tiers=tuple(
                replace(t, endpoint=replace(t.endpoint, replicas=1)) if t.name == tier else t
                for t in fleet.tiers
            ),
        )
        if rates_per_s is None:
            base = self.trace_requests_per_month / SECONDS_PER_MONTH
            rates_per_s = base * np.geomspace(0.25, 6.0, 14)
        rows = []
        for run_id, rate in enumerate(rates_per_s):
            volume = float(rate) * SECONDS_PER_MONTH
            records, endpoints = self.simulate(
                StaticPolicy(tier),
                fleet=one,
                requests_per_month=volume,
                seeds=[seed],
                n_requests=n_requests,
            )
            records["run_id"] = run_id
            endpoints["run_id"] = run_id
            pct = latency_percentiles(records, percentiles=(50, 95, 99)).iloc[0]
            done = throughput(records).iloc[0]
            rows.append(
                {
                    "rate_per_s": float(rate),
                    "requests_per_month": volume,
                    "p50_ttft_s": pct["p50_ttft_s"],
                    "p95_ttft_s": pct["p95_ttft_s"],
                    "p99_ttft_s": pct["p99_ttft_s"],
                    "p95_e2e_s": pct["p95_e2e_s"],
                    "completed_per_s": float(done["completed_per_s"]),
                }
            )
        return pd.DataFrame(rows)

    # -- monthly cost against volume ---------------------------------------------------------
    def _strategy_terms(
        self, fleet: Fleet, cutoffs: Mapping[str, float] | None
    ) -> dict[str, tuple[float, float, float]]:
        """label -> (USD per request in token spend, GPU share of requests, GPU USD/month per
        replica) for every single-tier strategy and the tiered one."""
        costs = self.token_cost_usd(fleet)
        gpu = [t for t in fleet.tiers if isinstance(t.endpoint, GpuServer)]
        replica_month = gpu[0].endpoint.usd_per_hour * HOURS_PER_MONTH if gpu else 0.0
        gpu_names = {t.name for t in gpu}
        terms = {}
        for t in fleet.tiers:
            share = 1.0 if t.name in gpu_names else 0.0
            terms[f"all {t.name}"] = (float(costs[t.name].mean()), share, replica_month)
        if cutoffs is not None:
            point = self.evaluate(cutoffs, fleet=fleet)
            per_request = float(point["token_cost_per_1k_usd"].iloc[0]) / 1000.0
            share = float(sum(point[f"share_{n}"].iloc[0] for n in gpu_names))
            terms["tiered"] = (per_request, share, replica_month)
        return terms

    @staticmethod
    def _replicas(
        volume: np.ndarray,
        share: float,
        capacity: float | None,
        minimum: int,
        peak_to_mean: float,
    ) -> np.ndarray:
        if share <= 0:
            return np.zeros_like(volume)
        if capacity is None:
            return np.full_like(volume, float(minimum))
        need = np.ceil(volume * share * peak_to_mean / (capacity * SECONDS_PER_MONTH) - 1e-12)
        return np.maximum(need, float(minimum))

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
        """Monthly cost of each strategy at each volume.

        Strategies: ``all <tier>`` for every tier (an API tier pays tokens only; a self-hosted
        tier pays its replicas and its marginal token cost) and, with ``cutoffs``, ``tiered``
        (threshold routing at those cut-offs: the API tiers' tokens plus the replicas its
        self-hosted share needs).

        Parameters
        ----------
        requests_per_month : sequence of float
            Volumes, > 0.
        fleet : Fleet, optional
            Prices and GPU rental (default the study's fleet).
        cutoffs : mapping tier -> cut-off, optional
            The tiered strategy's routing.
        gpu_capacity_rps : float, optional
            Requests per second one replica sustains within the SLO (:func:`capacity_rps`);
            without it the replica count stays at ``min_replicas`` at every volume.
        min_replicas : int
            Replicas always provisioned when a strategy uses the self-hosted tier.
        peak_to_mean : float
            Provision for this multiple of the mean rate (1 = the trace's own burstiness).

        Returns
        -------
        DataFrame
            ``strategy``, ``requests_per_month``, ``monthly_cost_usd``, ``token_cost_usd``,
            ``gpu_cost_usd``, ``replicas``.
        """
        fleet = fleet or self.fleet
        volume = np.asarray(requests_per_month, dtype="float64")
        if volume.ndim != 1 or not len(volume) or not np.all(np.isfinite(volume) & (volume > 0)):
            raise SpecError(
                "study",
                key="requests_per_month",
                problem="expected one or more finite volumes > 0",
            )
        _positive(gpu_capacity_rps, key="gpu_capacity_rps")
        _positive(peak_to_mean, key="peak_to_mean")
        frames = []
        for label, (per_request, share, replica_month) in self._strategy_terms(
            fleet, cutoffs
        ).items():
            replicas = self._replicas(
                volume, share, gpu_capacity_rps, int(min_replicas), float(peak_to_mean)
            )
            token = volume * per_request
            gpu = replicas * replica_month
            frames.append(
                pd.DataFrame(
                    {
                        "strategy": label,
                        "requests_per_month": volume,
                        "monthly_cost_usd": token + gpu,
                        "token_cost_usd": token,
                        "gpu_cost_usd": gpu,
                        "replicas": replicas.astype("int64"),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

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
        """Every volume in ``volume_range`` where two strategies of :meth:`monthly_costs` cost
        the same, found exactly (costs are linear in volume between replica steps).

        Returns
        -------
        DataFrame
            ``label`` (``"A = B"``; ``"(step)"`` when a replica step makes one overtake the
            other), ``cheaper_below`` (the strategy cheaper just below the crossover),
            ``requests_per_month``, ``monthly_cost_usd`` (of either, just below).
        """
        fleet = fleet or self.fleet
        lo, hi = (float(v) for v in volume_range)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise SpecError(
                "study", key="volume_range", problem=f"got {volume_range!r}; expected 0 < lo < hi"
            )
        terms = self._strategy_terms(fleet, cutoffs)
        cap = _positive(gpu_capacity_rps, key="gpu_capacity_rps")
        # evaluation points: the range ends and every replica step of every strategy
        points = {lo, hi}
        if cap is not None:
            for _, share, _ in terms.values():
                if share > 0:
                    unit = cap * SECONDS_PER_MONTH / (share * float(peak_to_mean))
                    k0 = max(int(min_replicas), math.floor(lo / unit))
                    k = k0
                    while k * unit < hi:
                        if k * unit > lo and k >= int(min_replicas):
                            points.add(k * unit)
                        k += 1
        grid = np.asarray(sorted(points))

        def cost(label: str, v: np.ndarray) -> np.ndarray:
            per_request, share, replica_month = terms[label]
            replicas = self._replicas(v, share, cap, int(min_replicas), float(peak_to_mean))
            return v * per_request + replicas * replica_month

        labels = list(terms)
        rows = []
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                rows.extend(
                    _crossings(a, b, grid, lambda v, a=a: cost(a, v), lambda v, b=b: cost(b, v))
                )
        out = pd.DataFrame(
            rows, columns=["label", "cheaper_below", "requests_per_month", "monthly_cost_usd"]
        )
        return out.sort_values("requests_per_month", kind="stable").reset_index(drop=True)

    # -- the explorer's two callbacks --------------------------------------------------------
    def _settings_fleet(self, settings: Any) -> Fleet:
        return self.fleet_with(
            prices=getattr(settings, "prices", None),
            gpu_usd_per_hour=getattr(settings, "gpu_usd_per_hour", None),
            gpu_replicas=getattr(settings, "gpu_replicas", None),
        )

    def settings_cutoffs(self, settings: Any) -> dict[str, float]:
        """The cut-offs an explorer setting asks for: given directly (``mode='thresholds'``)
        or calibrated from target shares (``mode='shares'``, :meth:`cutoffs_for_shares`)."""
        mode = getattr(settings, "mode", "thresholds")
        if mode == "shares":
            return self.cutoffs_for_shares(settings.shares)
        if mode != "thresholds":
            raise SpecError(
                "explorer", key="mode", problem=f"got {mode!r}; expected 'thresholds' or 'shares'"
            )
        return {t: float(v) for t, v in settings.cutoffs.items()}

    def explore(
        self, settings: Any, *, load_curve: pd.DataFrame | None = None
    ) -> dict[str, pd.DataFrame]:
        """Everything the explorer redraws when a control moves (vectorised, no simulation).

        Parameters
        ----------
        settings
            An object with the attributes of :class:`simkit.viz.ExplorerSettings`: ``mode``,
            ``cutoffs``, ``shares``, ``prices``, ``requests_per_month``,
            ``gpu_usd_per_hour``, ``gpu_replicas``, ``slo_ttft_s``.
        load_curve : DataFrame, optional
            :meth:`gpu_load_curve` output; with it, one replica's capacity at
            ``settings.slo_ttft_s`` (:func:`capacity_rps`) sets the replicas each volume
            needs in ``monthly_costs`` and the ``gpu_load`` of the chosen point.

        Returns
        -------
        dict of DataFrame
            ``tradeoff`` (:meth:`tradeoff` rows plus the chosen point as policy ``"chosen"``,
            flagged ``operating_point``), ``shares`` (``policy``, ``tier``, ``share``),
            ``monthly_costs``, ``crossovers`` and ``point`` (the chosen point's row).
        """
        fleet = self._settings_fleet(settings)
        volume = float(settings.requests_per_month)
        cutoffs = self.settings_cutoffs(settings)
        slo = float(settings.slo_ttft_s)
        measured = None if load_curve is None else capacity_rps(load_curve, slo)
        capacity = measured if measured else None  # 0: the SLO is missed at every load
        replicas = int(getattr(settings, "gpu_replicas", 1) or 1)
        curves = self.tradeoff(fleet=fleet, requests_per_month=volume)
        point = self.evaluate(cutoffs, fleet=fleet, requests_per_month=volume)
        point.insert(0, "threshold", cutoffs.get(self.frontier, math.nan))
        point.insert(0, "policy", "chosen")
        gpu_tiers = [t.name for t in fleet.tiers if isinstance(t.endpoint, GpuServer)]
        gpu_share = float(sum(point[f"share_{t}"].iloc[0] for t in gpu_tiers))
        point["gpu_capacity_rps"] = math.nan if measured is None else measured
        if measured is None:
            point["gpu_load"] = math.nan
        elif measured == 0:
            point["gpu_load"] = math.inf if gpu_share > 0 else 0.0
        else:
            point["gpu_load"] = volume * gpu_share / (replicas * measured * SECONDS_PER_MONTH)
        tradeoff = pd.concat(
            [curves, point.drop(columns=["gpu_load", "gpu_capacity_rps"])], ignore_index=True
        )
        tradeoff["operating_point"] = tradeoff["policy"] == "chosen"
        shares = pd.concat(
            [
                pd.DataFrame(
                    {
                        "policy": p,
                        "tier": list(self.tiers),
                        "share": [float(r[f"share_{t}"]) for t in self.tiers],
                    }
                )
                for p, r in [("chosen", point.iloc[0])]
                + [
                    (p, curves[curves["policy"] == p].iloc[0])
                    for p in ("oracle", f"all {self.frontier}")
                ]
            ],
            ignore_index=True,
        )
        lo = min(volume, self.trace_requests_per_month) / 100.0
        hi = max(volume, self.trace_requests_per_month) * 100.0
        volumes = np.geomspace(lo, hi, 121)
        monthly = self.monthly_costs(
            volumes,
            fleet=fleet,
            cutoffs=cutoffs,
            gpu_capacity_rps=capacity,
            min_replicas=replicas,
        )
        crossovers = self.cost_crossovers(
            (lo, hi),
            fleet=fleet,
            cutoffs=cutoffs,
            gpu_capacity_rps=capacity,
            min_replicas=replicas,
        )
        return {
            "tradeoff": tradeoff,
            "shares": shares,
            "monthly_costs": monthly,
            "crossovers": crossovers,
            "point": point,
        }

    def simulate_settings(
        self,
        settings: Any,
        progress: Progress | None = None,
        *,
        seeds: Sequence[int] = (0, 1, 2),
    ) -> dict[str, pd.DataFrame]:
        """The explorer's button: simulate the chosen point at the chosen volume and fleet.

        :meth:`threshold_policy` at :meth:`settings_cutoffs`, the trace rescaled to
        ``settings.requests_per_month``, one run per seed.

        Returns
        -------
        dict of DataFrame
            ``records`` and ``endpoints`` (all runs) and ``summary``
            (:func:`simkit.metrics.summarize_runs` with ``slo_ttft_s``, one row per run).
        """
        fleet = self._settings_fleet(settings)
        policy = self.threshold_policy(self.settings_cutoffs(settings))
        records, endpoints = self.simulate(
            policy,
            fleet=fleet,
            requests_per_month=float(settings.requests_per_month),
            seeds=seeds,
            progress=progress,
        )
        summary = summarize_runs(
            records,
            endpoints,
            slo_ttft_s=float(settings.slo_ttft_s),
            requests_per_month=float(settings.requests_per_month),
        )
        return {"records": records, "endpoints": endpoints, "summary": summary}

    # -- the standard report -----------------------------------------------------------------
    def report_results(
        self,
        *,
        cutoffs: Mapping[str, float] | None = None,
        frontier_shares: Sequence[float] = (0.1, 0.2, 0.3),
        requests_per_month: float | None = None,
        slo_ttft_s: float = 1.0,
        seeds: Sequence[int] = (0,),
        load_requests: int = 3000,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Simulate the standard set of policies and compute every frame of the HTML report.

        Policies (each simulated once per seed at ``requests_per_month``): every tier alone
        (``all <tier>``), threshold routing between the frontier and the cheapest tier at the
        cut-offs that send ``frontier_shares`` of this trace to the frontier, the ``cutoffs``
        given (label ``chosen``), and the oracle.

        Returns
        -------
        dict
            ``runs`` (:func:`simkit.metrics.summarize_runs`, one row per run, with ``policy``,
            ``threshold`` and ``family``: the :meth:`tradeoff` curve the run belongs to), ``records_chosen`` (records of the chosen policy, or of the
            middle frontier share without ``cutoffs``), ``chosen`` (its label), ``tradeoff``
            (:meth:`tradeoff` at the volume), ``routing`` (RouteLLM curves of the score
            router between the cheapest tier and the frontier, of the random router and of
            the oracle, as :class:`simkit.metrics.RoutingCurve`), ``routing_models``,
            ``load_curve`` and ``capacity_rps`` (None without a self-hosted tier),
            ``monthly_costs``, ``crossovers``, ``fleet`` (:meth:`simkit.fleet.Fleet.describe`
            rows), ``trace`` (:func:`simkit.trace.summary.summarize`), ``requests_per_month``,
            ``slo_ttft_s``, ``seeds``.
        """
        from simkit.metrics import (
            routellm_curve,
            routellm_oracle_curve,
            routellm_random_curve,
        )
        from simkit.policies import OraclePolicy
        from simkit.trace.summary import summarize

        volume = _positive(requests_per_month, key="requests_per_month")
        volume = self.trace_requests_per_month if volume is None else volume
        slo = _positive(slo_ttft_s, key="slo_ttft_s")
        seeds = list(seeds)
        cheapest, frontier = self.tiers[0], self.frontier
        policies: dict[str, tuple[Policy, float]] = {
            f"all {t}": (StaticPolicy(t), math.nan) for t in self.tiers
        }
        family = {label: label for label in policies}
        for share in frontier_shares:
            cut = self.cutoffs_for_shares({frontier: float(share)})[frontier]
            label = f"{frontier} {share:.0%} / {cheapest}"
            policies[label] = (ThresholdPolicy({frontier: cut}, score=self.score), cut)
            family[label] = f"{frontier} / {cheapest}"  # a point of that vectorised curve
        if cutoffs:
            policies["chosen"] = (
                self.threshold_policy(cutoffs),
                float(cutoffs.get(frontier, math.nan)),
            )
        policies["oracle"] = (OraclePolicy.from_trace(self.trace, self.fleet), math.nan)
        family.update(chosen="chosen", oracle="oracle")
        chosen = (
            "chosen"
            if "chosen" in policies
            else list(policies)[len(self.tiers) + len(frontier_shares) // 2]
            if frontier_shares
            else f"all {frontier}"
        )
        records, endpoints, labels = [], [], []
        total = len(policies) * len(seeds)
        for i, (label, (policy, threshold)) in enumerate(policies.items()):
            rec, ep = self.simulate(policy, requests_per_month=volume, seeds=seeds)
            rec["run_id"] += i * len(seeds)
            ep["run_id"] += i * len(seeds)
            records.append(rec)
            endpoints.append(ep)
            labels += [(label, threshold)] * len(seeds)
            if progress is not None:
                progress((i + 1) * len(seeds), total)
        all_records = pd.concat(records, ignore_index=True)
        runs = summarize_runs(
            all_records,
            pd.concat(endpoints, ignore_index=True),
            slo_ttft_s=slo,
            requests_per_month=volume,
        )
        runs.insert(1, "policy", [labels[r][0] for r in runs["run_id"]])
        runs.insert(2, "threshold", [labels[r][1] for r in runs["run_id"]])
        runs.insert(3, "family", [family[labels[r][0]] for r in runs["run_id"]])
        chosen_index = list(policies).index(chosen)
        chosen_runs = range(chosen_index * len(seeds), (chosen_index + 1) * len(seeds))
        weak_q = self.quality[cheapest].to_numpy()
        strong_q = self.quality[frontier].to_numpy()
        both = ~(np.isnan(weak_q) | np.isnan(strong_q))
        w, st, sc = weak_q[both], strong_q[both], self.scores[both]
        routing = {
            f"{self.score} router": routellm_curve(sc, w, st),
            "random": routellm_random_curve(w, st, seed=0),
            "oracle": routellm_oracle_curve(w, st),
        }
        gpu = [t.name for t in self.fleet.tiers if isinstance(t.endpoint, GpuServer)]
        load = capacity = None
        if gpu:
            load = self.gpu_load_curve(n_requests=load_requests, seed=seeds[0])
            capacity = capacity_rps(load, slo)
        volumes = np.geomspace(volume / 100.0, volume * 100.0, 121)
        tiered = (
            {t: c for t, c in cutoffs.items()}
            if cutoffs
            else self.cutoffs_for_shares({frontier: float(np.median(frontier_shares))})
            if frontier_shares
            else None
        )
        monthly = self.monthly_costs(volumes, cutoffs=tiered, gpu_capacity_rps=capacity or None)
        crossovers = self.cost_crossovers(
            (volumes[0], volumes[-1]), cutoffs=tiered, gpu_capacity_rps=capacity or None
        )
        return {
            "runs": runs,
            "chosen": chosen,
            "records_chosen": all_records[all_records["run_id"].isin(chosen_runs)],
            "tradeoff": self.tradeoff(requests_per_month=volume),
            "routing": routing,
            "routing_models": (
                self.fleet.tier(cheapest).quality_model,
                self.fleet.tier(frontier).quality_model,
                int(both.sum()),
            ),
            "load_curve": load,
            "capacity_rps": capacity,
            "monthly_costs": monthly,
            "crossovers": crossovers,
            "tiered_cutoffs": tiered,
            "fleet": pd.DataFrame(self.fleet.describe()),
            "trace": summarize(self.trace),
            "requests_per_month": volume,
            "slo_ttft_s": slo,
            "seeds": seeds,
        }


def capacity_rps(load_curve: pd.DataFrame, slo_ttft_s: float, *, percentile: str = "p95") -> float:
    """The highest arrival rate at which the TTFT percentile stays within the SLO.

    Linear interpolation between the two measured rates around the crossing of
    :meth:`Study.gpu_load_curve`'s ``<percentile>_ttft_s`` with ``slo_ttft_s``; the lowest
    measured rate's value when even that misses the SLO is reported as 0.0, and the highest
    rate when none misses it (the true capacity is then higher: measure further).
    """
    column = f"{percentile}_ttft_s"
    if column not in load_curve.columns:
        raise SpecError(
            "capacity_rps",
            key="percentile",
            problem=f"no column {column!r}; columns: {', '.join(load_curve.columns)}",
        )
    slo = _positive(slo_ttft_s, key="slo_ttft_s")
    curve = load_curve.sort_values("rate_per_s")
    rate = curve["rate_per_s"].to_numpy(dtype="float64")
    ttft = curve[column].to_numpy(dtype="float64")
    over = np.flatnonzero(ttft > slo)
    if not over.size:
        return float(rate[-1])
    i = int(over[0])
    if i == 0:
        return 0.0
    r0, r1, t0, t1 = rate[i - 1], rate[i], ttft[i - 1], ttft[i]
    return float(r0 + (slo - t0) * (r1 - r0) / (t1 - t0))


def _crossings(
    a: str,
    b: str,
    grid: np.ndarray,
    cost_a: Callable[[np.ndarray], np.ndarray],
    cost_b: Callable[[np.ndarray], np.ndarray],
) -> list[tuple[str, str, float, float]]:
    """Where ``cost_a - cost_b`` changes sign on a grid whose cells hold linear pieces (steps
    only at grid points, where each function takes its right-hand value)."""
    out = []
    eps = 1e-9
    for lo, hi in zip(grid[:-1], grid[1:], strict=True):
        # the linear piece inside (lo, hi): evaluate just inside both ends
        x0, x1 = lo * (1 + eps), hi * (1 - eps)
        d0 = float(cost_a(np.asarray([x0]))[0] - cost_b(np.asarray([x0]))[0])
        d1 = float(cost_a(np.asarray([x1]))[0] - cost_b(np.asarray([x1]))[0])
        if d0 == 0 or d0 * d1 < 0:
            v = x0 if d0 == 0 else x0 + d0 * (x1 - x0) / (d0 - d1)
            cheaper = a if d0 < 0 else b
            out.append((f"{a} = {b}", cheaper, float(v), float(cost_a(np.asarray([v]))[0])))
        # across the step at hi (if hi is not the range's end)
        if hi != grid[-1]:
            x2 = hi * (1 + eps)
            d2 = float(cost_a(np.asarray([x2]))[0] - cost_b(np.asarray([x2]))[0])
            if d1 * d2 < 0:
                cheaper = a if d1 < 0 else b
                out.append(
                    (f"{a} = {b} (step)", cheaper, float(hi), float(cost_a(np.asarray([x1]))[0]))
                )
    return out
