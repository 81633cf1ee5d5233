"""The live values behind a run's :class:`~simkit.policies.FleetView`, read from the tier
runtimes only when a policy asks."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType

import simpy

from simkit.sim.api import ApiTier
from simkit.sim.gpu import GpuTier

__all__ = ["LiveCounts", "LiveState"]

#: the window of FleetView.recent_429s / recent_errors, simulated seconds
RECENT_S = 60.0


class LiveState:
    """Live values behind the FleetView (computed only when a policy asks).

    Parameters
    ----------
    env : simpy.Environment
        The run's clock.
    tiers : sequence of ApiTier or GpuTier
        The tier runtimes, in fleet order.
    spend : list of one float
        The run's per-token spend so far, updated in place by the run.
    """

    __slots__ = ("env", "spend", "tiers")

    def __init__(
        self, env: simpy.Environment, tiers: Sequence[ApiTier | GpuTier], spend: list[float]
    ) -> None:
        self.env = env
        self.tiers = tiers
        self.spend = spend

    def now_s(self) -> float:
        return self.env.now

    def spend_usd(self) -> float:
        return self.spend[0]

    def headroom(self) -> Mapping[str, float]:
        now = self.env.now
        return MappingProxyType({t.name: t.headroom(now) for t in self.tiers})

    def est_wait_s(self) -> Mapping[str, float]:
        now = self.env.now
        return MappingProxyType({t.name: t.est_wait_s(now) for t in self.tiers})

    def _recent(self, recent: Callable[[ApiTier | GpuTier], deque[float]]) -> Mapping[str, int]:
        """tier -> events in the last :data:`RECENT_S` seconds (older ones are dropped)."""
        cutoff = self.env.now - RECENT_S
        out = {}
        for t in self.tiers:
            q = recent(t)
            while q and q[0] < cutoff:
                q.popleft()
            out[t.name] = len(q)
        return MappingProxyType(out)

    def recent_429s(self) -> Mapping[str, int]:
        return self._recent(lambda t: t.recent_429)

    def recent_errors(self) -> Mapping[str, int]:
        return self._recent(lambda t: t.recent_errors)

    def prefix_hits(self, blocks: Sequence[int]) -> Mapping[str, int]:
        """tier -> the longest run of ``blocks``' leading blocks one replica's prefix cache
        holds now (0 for API tiers and GPU tiers without a cache)."""
        return MappingProxyType({t.name: t.prefix_match(blocks) for t in self.tiers})


class LiveCounts(Mapping[str, int]):
    """tier -> current queued or in-flight count, read from the tier runtimes when asked."""

    __slots__ = ("count", "tiers")

    def __init__(
        self, tiers: Sequence[ApiTier | GpuTier], count: Callable[[ApiTier | GpuTier], int]
    ) -> None:
        self.tiers = {t.name: t for t in tiers}
        self.count = count

    def __getitem__(self, key: str) -> int:
        return self.count(self.tiers[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.tiers)

    def __len__(self) -> int:
        return len(self.tiers)
