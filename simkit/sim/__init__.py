"""The simulator: ``simulate(trace, fleet, policy, seed=...) -> Records`` on SimPy, and
``simulate_stream(path, ...)``, the same run read from and written to Parquet in chunks."""

from simkit.fleet.costs import token_cost_matrix  # the fleet's cost rule, as the engine charges
from simkit.sim.arrays import TierArrays, tier_arrays
from simkit.sim.engine import simulate
from simkit.sim.records import Records
from simkit.sim.stream import StreamedRun, simulate_stream

__all__ = [
    "Records",
    "StreamedRun",
    "TierArrays",
    "simulate",
    "simulate_stream",
    "tier_arrays",
    "token_cost_matrix",
]
