"""The simulator: ``simulate(trace, fleet, policy, seed=...) -> Records`` on SimPy."""

from simkit.sim.engine import simulate
from simkit.sim.records import Records

__all__ = ["Records", "simulate"]
