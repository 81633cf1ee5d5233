"""What every tier runtime shares: its environment, its spec, its random draws, where it
reports finished attempts, and the recent 429s and errors policies read through
:class:`simkit.policies.FleetView`."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import simpy

from simkit.sim.deferred import DeferredCompletions
from simkit.sim.draws import Draws
from simkit.sim.jobs import AttemptSink

__all__ = ["TierRuntime"]


class TierRuntime:
    """Base of :class:`~simkit.sim.api.ApiTier` and :class:`~simkit.sim.gpu.GpuTier`.

    Parameters
    ----------
    env : simpy.Environment
        The run's environment.
    sink : AttemptSink
        Receives every finished attempt.
    name : str
        The tier's name.
    spec : ApiEndpoint or GpuServer
        The endpoint it simulates.
    rng : numpy.random.Generator
        The tier's own random stream.
    deferred : DeferredCompletions or None
        The run's deferred API completions (:mod:`simkit.sim.deferred`), drained up to now at
        the start of every SimPy callback of the tier; None when completions are events.
    """

    __slots__ = ("deferred", "draws", "env", "name", "recent_429", "recent_errors", "sink", "spec")

    def __init__(
        self,
        env: simpy.Environment,
        sink: AttemptSink,
        name: str,
        spec: Any,
        rng: np.random.Generator,
        deferred: DeferredCompletions | None = None,
    ) -> None:
        self.env = env
        self.deferred = deferred
        self.sink = sink
        self.name = name
        self.spec = spec
        self.draws = Draws(rng)
        self.recent_429: deque[float] = deque()
        self.recent_errors: deque[float] = deque()

    def prefix_match(self, blocks: Sequence[int]) -> int:
        """The most leading blocks of ``blocks`` one replica's prefix cache holds now: none
        here (an API tier keeps no cache); :class:`~simkit.sim.gpu.GpuTier` looks."""
        return 0
