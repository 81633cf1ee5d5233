"""The part of SimPy a self-hosted tier's replicas use, for the tier replayed alone.

A :class:`~simkit.sim.batching.GpuReplica` is a SimPy process: it yields timeouts and an idle
event, and an arrival that could join its batch interrupts a decode fast-forward. When the
self-hosted tiers are replayed without the hosted-API tiers (:mod:`simkit.sim.by_tier`),
:class:`ProcessClock` runs the same replica code, the same generators, on a smaller loop:
events on one heap ordered as SimPy orders them (time, then priority: an interruption or a
process start before anything else at that time, then the order they were scheduled),
a process resumed by the one event it waits for, an interrupted timeout left on the heap
(it still counts as scheduled and still advances the clock when it comes up, as in SimPy),
and so is a process's end.
No event objects: a timeout is its scheduling number, and a process remembers the number it
waits for. What SimPy offers beyond that (event values, several waiters, failing events,
conditions) a replica does not use, and the clock does not offer it.

Why: a SimPy event costs an object, its callbacks list and a generic resume; here it costs a
heap entry. ``benchmarks/bench_sim.py`` (c) measures the default fleet with it.
"""

from __future__ import annotations

from collections.abc import Generator
from heapq import heappop, heappush
from typing import Any

import simpy

__all__ = ["ProcessClock"]

_URGENT, _NORMAL = 0, 1  # simpy.events.URGENT, simpy.events.NORMAL


class _Process:
    """A generator the clock resumes; ``target``: the scheduling number of the event it
    waits for (an :class:`_Event` while that event is not yet triggered)."""

    __slots__ = ("clock", "gen", "target")

    def __init__(self, clock: ProcessClock, gen: Generator[Any, None, None]) -> None:
        self.clock = clock
        self.gen = gen
        self.target: Any = None

    def interrupt(self) -> None:
        """Throw :class:`simpy.Interrupt` into the process at the current time, before any
        event of normal priority (SimPy's ``Process.interrupt``)."""
        clock = self.clock
        eid = clock.scheduled
        clock.scheduled = eid + 1
        heappush(clock.heap, (clock.now, _URGENT, eid, self, True))


class _Event:
    """An event a process waits for until something calls :meth:`succeed` (a replica's
    idle event)."""

    __slots__ = ("clock", "waiter")

    def __init__(self, clock: ProcessClock) -> None:
        self.clock = clock
        self.waiter: _Process | None = None

    def succeed(self) -> None:
        """Trigger the event now: its waiter resumes in scheduling order."""
        waiter = self.waiter
        if waiter is None:
            raise RuntimeError("ProcessClock: an event succeeded before a process waited for it")
        clock = self.clock
        eid = clock.scheduled
        clock.scheduled = eid + 1
        waiter.target = eid
        heappush(clock.heap, (clock.now, _NORMAL, eid, waiter, False))


class ProcessClock:
    """SimPy's ``now``, ``timeout``, ``event`` and ``process`` for replica processes, and
    :meth:`run_until`, which processes events up to a point in SimPy's order.

    ``scheduled`` counts every event scheduled (SimPy's ``_eid``: ``meta['n_events']``).
    """

    __slots__ = ("active", "heap", "now", "scheduled")

    def __init__(self) -> None:
        self.now = 0.0
        self.heap: list[tuple[float, int, int, _Process, bool]] = []
        self.scheduled = 0
        self.active: _Process | None = None

    def process(self, gen: Generator[Any, None, None]) -> _Process:
        """Start ``gen`` now, before events of normal priority (SimPy's ``Initialize``)."""
        proc = _Process(self, gen)
        eid = self.scheduled
        self.scheduled = eid + 1
        proc.target = eid
        heappush(self.heap, (self.now, _URGENT, eid, proc, False))
        return proc

    def timeout(self, delay: float) -> int:
        """A timeout ``delay`` from now for the running process to yield."""
        proc = self.active
        if proc is None:
            raise RuntimeError("ProcessClock: a timeout outside a process")
        eid = self.scheduled
        self.scheduled = eid + 1
        heappush(self.heap, (self.now + delay, _NORMAL, eid, proc, False))
        return eid

    def event(self) -> _Event:
        """An untriggered event."""
        return _Event(self)

    def run_until(self, key: tuple[float, int, int]) -> None:
        """Process, in order, every event that SimPy would process before an event with the
        heap key ``key`` (time, priority, scheduling number); leave ``now`` at the last."""
        heap = self.heap
        while heap and heap[0] < key:
            t, _, eid, proc, interrupt = heappop(heap)
            self.now = t
            try:
                if interrupt:
                    if type(proc.target) is not int:
                        raise RuntimeError("ProcessClock: an interrupt while waiting for an event")
                    # the timeout it waited for stays on the heap, waited for by nobody
                    self.active = proc
                    nxt = proc.gen.throw(simpy.Interrupt(None))
                elif proc.target == eid:
                    self.active = proc
                    nxt = proc.gen.send(None)
                else:
                    continue  # an interrupted timeout, or a process's end: it advances the clock
            except StopIteration:  # the process returned: SimPy schedules its end as an event
                self.active = None
                proc.target = None
                end = self.scheduled
                self.scheduled = end + 1
                heappush(heap, (t, _NORMAL, end, proc, False))
                continue
            if type(nxt) is int:
                proc.target = nxt
            else:
                nxt.waiter = proc
                proc.target = nxt
            self.active = None
