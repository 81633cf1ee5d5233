"""What every tier runtime shares: its place in the run, its spec, its random draws and the
recent 429s and errors policies read through :class:`simkit.policies.FleetView`."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simkit.sim.draws import Draws

if TYPE_CHECKING:
    from simkit.sim.engine import _Run

__all__ = ["TierRuntime"]


class TierRuntime:
    """Base of :class:`~simkit.sim.api.ApiTier` and :class:`~simkit.sim.gpu.GpuTier`."""

    __slots__ = ("draws", "env", "idx", "name", "recent_429", "recent_errors", "run", "spec")

    def __init__(self, run: _Run, idx: int, name: str, spec: Any, rng: np.random.Generator) -> None:
        self.run = run
        self.env: simpy.Environment = run.env
        self.idx = idx
        self.name = name
        self.spec = spec
        self.draws = Draws(rng)
        self.recent_429: deque[float] = deque()
        self.recent_errors: deque[float] = deque()
