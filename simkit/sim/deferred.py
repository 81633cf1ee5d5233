"""Completions kept off SimPy's event queue until something reads them.

An API attempt's end time is known when it starts (closed form, SERVING.md §7), and a
self-hosted answer's arrival at the client is known when the replica finishes it (one round
trip later). When the policy never answers a finished attempt (it has no ``next_tier``)
nothing happens at that time except bookkeeping: the API tier's in-flight count, busy time
and rate-limit refund, the run's spend and the request's record. Those values are read only at later moments the simulator
controls: a routing decision, a retry or failure on the same tier, a finished attempt on
another tier, the end of the run. So instead of one SimPy event per completion, the tier puts
``(end time, tier, attempt)`` on this heap and the run *drains* it up to the current time just
before each such moment. Completions are applied in the order SimPy would have processed them
(time, then the order they were scheduled), with their own time, so the records are the same
as with one event each (``scripts/records_digest.py``); only ``meta['n_events']`` is smaller.
"""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Any, Protocol

__all__ = ["DeferredCompletions"]


class _Completes(Protocol):
    def complete(self, attempt: Any, now: float) -> None: ...


class DeferredCompletions:
    """A time-ordered heap of attempts that end at a known time, applied when drained."""

    __slots__ = ("_order", "heap")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, _Completes, Any]] = []
        self._order = count()

    def push(self, t: float, tier: _Completes, attempt: Any) -> None:
        """``attempt`` on ``tier`` completes at ``t`` (``tier.complete(attempt, t)`` then)."""
        heappush(self.heap, (t, next(self._order), tier, attempt))

    def drain(self, now: float) -> None:
        """Apply every completion at or before ``now``, earliest first (ties: pushed first)."""
        heap = self.heap
        while heap and heap[0][0] <= now:
            t, _, tier, attempt = heappop(heap)
            tier.complete(attempt, t)
