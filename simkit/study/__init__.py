"""One trace, one fleet, one routing score: the numbers the views draw, computed in one place.

This is the notebook-facing layer between the library and the views (``simkit.viz`` may not
import the simulator, so the explorer receives :meth:`Study.explore` and
:meth:`Study.simulate_settings` as functions). :class:`Study` is a thin facade over small
parts:

* :mod:`simkit.study.arrays`: the trace prepared once (:class:`PreparedTrace`: per-request
  scores, quality, token counts on every tier, as the simulator takes them);
* :mod:`simkit.study.whatif`: the **vectorised** path (instant, for sliders): any number of
  score cut-offs, prices and volumes evaluated with :func:`simkit.metrics.tiered_curve`;
* :mod:`simkit.study.simulation`: the **simulated** path (seconds): the trace rescaled to a
  chosen monthly volume and replayed through :func:`simkit.sweep.sweep`; latency and
  queueing only come from here;
* :mod:`simkit.metrics.planning`: capacity and monthly cost against volume, pure functions of
  a frozen :class:`~simkit.metrics.planning.CostPlan`;
* :mod:`simkit.study.fleets`: the fleet with other prices, rental or replicas;
* :mod:`simkit.study.explore`: the explorer's callbacks, typed by
  :class:`~simkit.metrics.planning.ExplorerSettings`;
* :mod:`simkit.study.report`: the standard report's numbers as a frozen :class:`ReportResults`.

Cost conventions are :mod:`simkit.fleet.costs`' (tokens) and :mod:`simkit.metrics.cost`'s: a month is
30 days (720 h); a token's price is the tier's ``ModelPrice`` (self-hosted tiers:
``marginal_usd_per_mtok``), or with ``Study.prepare(..., cost_source="observed")`` an API
tier's recorded cost per request (every frame then says so in its ``cost_source`` column or
``attrs``); the GPU fleet is rented whole hours whether busy or idle. Routing
is the simulator's ``ThresholdPolicy``: tiers are tried strongest first and a request goes to
the first tier whose cut-off its score reaches, else to the cheapest tier.

Monthly cost against volume (:meth:`Study.monthly_costs`) provisions self-hosted replicas for
the load: ``replicas = max(gpu_replicas, ceil(volume * gpu_share * peak_to_mean /
capacity))`` with the capacity of one replica measured by simulation
(:meth:`Study.gpu_load_curve`, :func:`capacity_rps`): the highest arrival rate at which the
p95 TTFT of an all-GPU replay stays within the SLO.
"""

from simkit.metrics.planning import CostPlan, ExplorerSettings, Strategy, capacity_rps
from simkit.study.arrays import PreparedTrace
from simkit.study.core import Study
from simkit.study.report import ReportResults

__all__ = [
    "CostPlan",
    "ExplorerSettings",
    "PreparedTrace",
    "ReportResults",
    "Strategy",
    "Study",
    "capacity_rps",
]
