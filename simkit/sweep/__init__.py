"""Sweeps: many ``simulate()`` runs (policies x parameters x seeds) in parallel with joblib,
into one tidy DataFrame."""

from simkit.sweep.grid import expand_grid, sweep
from simkit.sweep.summary import summarize_run

__all__ = ["expand_grid", "summarize_run", "sweep"]
