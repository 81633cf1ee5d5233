"""Random draws in blocks: a component's generator is read in fixed-size vectorised blocks and
consumed one value at a time (one NumPy call per block instead of per request)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Draws"]

_BLOCK = 4096


class Draws:
    """Standard normals and uniforms from one generator, served one at a time."""

    __slots__ = ("_n", "_ni", "_rng", "_u", "_ui")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._n: list[float] = []
        self._ni = 0
        self._u: list[float] = []
        self._ui = 0

    def normal(self) -> float:
        """The next standard normal."""
        i = self._ni
        if i >= len(self._n):
            self._n = self._rng.standard_normal(_BLOCK).tolist()
            i = 0
        self._ni = i + 1
        return self._n[i]

    def uniform(self) -> float:
        """The next uniform on [0, 1)."""
        i = self._ui
        if i >= len(self._u):
            self._u = self._rng.random(_BLOCK).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]

    def lognormal(self, median: float, sigma: float) -> float:
        """``median * exp(sigma * Z)``; a constant when ``sigma == 0`` (no draw used)."""
        if sigma == 0.0:
            return median
        i = self._ni  # normal(), inlined: the simulator draws three of these per attempt
        if i >= len(self._n):
            self._n = self._rng.standard_normal(_BLOCK).tolist()
            i = 0
        self._ni = i + 1
        return median * math.exp(sigma * self._n[i])
