"""The simulator: ``simulate(trace, fleet, policy, seed=...) -> Records`` on SimPy."""

from simkit.fleet.costs import token_cost_matrix  # the fleet's cost rule, as the engine charges
from simkit.sim.arrays import TierArrays, tier_arrays
from simkit.sim.engine import simulate
from simkit.sim.records import Records

__all__ = ["Records", "TierArrays", "simulate", "tier_arrays", "token_cost_matrix"]
