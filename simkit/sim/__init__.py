"""The simulator: ``simulate(trace, fleet, policy, seed=...) -> Records`` on SimPy."""

from simkit.sim.engine import TierArrays, simulate, tier_arrays, token_cost_matrix
from simkit.sim.records import Records

__all__ = ["Records", "TierArrays", "simulate", "tier_arrays", "token_cost_matrix"]
