"""Live counters of the gateway's upstreams, seen by the policies through a :class:`FleetView`.

The simulator's policies read queues, in-flight counts, rate-limit headroom, estimated waits
and recent 429s/errors from a ``FleetView``; here those numbers come from the running
gateway instead of the SimPy engine, so the same policy objects decide in both:

* ``queued`` — requests waiting for one of the upstream's ``max_concurrency`` slots;
* ``in_flight`` — requests holding a slot;
* ``headroom`` — 0 while a ``retry-after`` from the upstream runs, else the free share of slots;
* ``est_wait_s`` — the queue ahead over the slots, times the recent mean upstream time;
  infinite while a ``retry-after`` runs;
* ``recent_429s`` / ``recent_errors`` — in the last 60 s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType

from simkit.policies import FleetView

__all__ = ["LiveFleet"]

_WINDOW_S = 60.0


class LiveFleet:
    """Counters per tier, and the ``FleetView`` over them.

    Parameters
    ----------
    tiers : tuple of str
        Tier names, cheapest first.
    private_tiers : frozenset of str
    max_concurrency : Mapping[str, int]
        Slots per tier.
    """

    def __init__(
        self,
        tiers: tuple[str, ...],
        private_tiers: frozenset[str],
        max_concurrency: Mapping[str, int],
    ) -> None:
        self.tiers = tiers
        self.started = time.monotonic()
        self.slots = {t: asyncio.Semaphore(max_concurrency[t]) for t in tiers}
        self.capacity = dict(max_concurrency)
        self.queued = dict.fromkeys(tiers, 0)
        self.in_flight = dict.fromkeys(tiers, 0)
        self.routed = dict.fromkeys(tiers, 0)
        self.decided = [0]
        self.spend = [0.0]
        self.cooldown_until = dict.fromkeys(tiers, 0.0)
        self.mean_e2e_s = dict.fromkeys(tiers, 0.0)
        self._429s: dict[str, deque[float]] = {t: deque() for t in tiers}
        self._errors: dict[str, deque[float]] = {t: deque() for t in tiers}
        self.view = FleetView(
            tiers, private_tiers, self.queued, self.in_flight, self.routed, self.decided, self
        )

    # -- the FleetView state protocol -------------------------------------------------------
    def now_s(self) -> float:
        """Seconds since the gateway started."""
        return time.monotonic() - self.started

    def spend_usd(self) -> float:
        """Per-token spend so far."""
        return self.spend[0]

    def cooling(self, tier: str) -> bool:
        """True while a ``retry-after`` from ``tier`` runs."""
        return time.monotonic() < self.cooldown_until[tier]

    def headroom(self) -> Mapping[str, float]:
        """Tier -> free share of slots (0 while a retry-after runs)."""
        return MappingProxyType(
            {
                t: 0.0 if self.cooling(t) else 1.0 - self.in_flight[t] / self.capacity[t]
                for t in self.tiers
            }
        )

    def est_wait_s(self) -> Mapping[str, float]:
        """Tier -> estimated wait for a slot (infinite while a retry-after runs)."""
        out = {}
        for t in self.tiers:
            if self.cooling(t):
                out[t] = float("inf")
            else:
                out[t] = self.queued[t] / self.capacity[t] * self.mean_e2e_s[t]
        return MappingProxyType(out)

    def _recent(self, events: dict[str, deque[float]]) -> Mapping[str, int]:
        cut = time.monotonic() - _WINDOW_S
        for q in events.values():
            while q and q[0] < cut:
                q.popleft()
        return MappingProxyType({t: len(q) for t, q in events.items()})

    def recent_429s(self) -> Mapping[str, int]:
        """Tier -> 429 answers in the last 60 s."""
        return self._recent(self._429s)

    def recent_errors(self) -> Mapping[str, int]:
        """Tier -> failed attempts (errors, timeouts) in the last 60 s."""
        return self._recent(self._errors)

    # -- updates ------------------------------------------------------------------------------
    def rate_limited(self, tier: str, retry_after_s: float | None) -> None:
        """Count a 429 and start its retry-after."""
        now = time.monotonic()
        self._429s[tier].append(now)
        if retry_after_s is not None and retry_after_s > 0:
            self.cooldown_until[tier] = max(self.cooldown_until[tier], now + retry_after_s)

    def failed(self, tier: str) -> None:
        """Count a failed attempt (error, timeout)."""
        self._errors[tier].append(time.monotonic())

    def finished(self, tier: str, e2e_s: float, cost_usd: float) -> None:
        """Record a completed attempt's time (moving mean) and spend."""
        m = self.mean_e2e_s[tier]
        self.mean_e2e_s[tier] = e2e_s if m == 0.0 else 0.9 * m + 0.1 * e2e_s
        self.spend[0] += cost_usd

    async def acquire(self, tier: str, timeout_s: float) -> None:
        """Take one of ``tier``'s slots, waiting at most ``timeout_s`` (TimeoutError)."""
        sem = self.slots[tier]
        if sem.locked():
            self.queued[tier] += 1
            try:
                await asyncio.wait_for(sem.acquire(), timeout_s)
            finally:
                self.queued[tier] -= 1
        else:
            await sem.acquire()
        self.in_flight[tier] += 1

    def release(self, tier: str) -> None:
        """Give a slot back."""
        self.in_flight[tier] -= 1
        self.slots[tier].release()
