"""Sweeps: many ``simulate()`` runs (policies x parameters x seeds) in parallel with joblib,
into one tidy DataFrame."""

from simkit.sweep.curves import per_request_cost_usd, threshold_curves
from simkit.sweep.grid import SweepResult, expand_grid, grid_per_policy, sweep

__all__ = [
    "SweepResult",
    "expand_grid",
    "grid_per_policy",
    "per_request_cost_usd",
    "sweep",
    "threshold_curves",
]
