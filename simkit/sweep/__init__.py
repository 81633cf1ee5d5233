"""Sweeps: many ``simulate()`` runs (policies x parameters x seeds) in parallel with joblib,
into one tidy DataFrame."""

from simkit.sweep.grid import expand_grid, sweep

__all__ = ["expand_grid", "sweep"]
