"""Each tier replayed alone, when nothing couples the tiers.

In the event run (:func:`~simkit.sim.simulate`) every arrival, routing decision, retry and
failure of every tier takes its turn on one SimPy queue. When

* the policy has no ``next_tier`` (a request makes one attempt; its completion is deferred,
  :mod:`~simkit.sim.deferred`), and
* the policy's ``route`` reads no live value of the fleet (it declares
  ``reads_live_state = False``, :mod:`simkit.policies.base`),

the tiers do not interact: a tier's state (an API's rate-limit buckets, in-flight count, busy
time, 429 and error history; a GPU tier's replicas; each tier's random stream
``tier:<name>``) changes only through its own requests, retries, failures and completions,
and a request's record only through its one tier. So the run routes every request first, in
arrival order (the policy draws from its stream ``policy`` in the same order as in the event
run, and sees the same ``routed`` and ``decided`` counts and decision times; a policy with a
``route_batch`` routes a whole slice in one call, with the same draws, and sees no view), then
replays each hosted-API tier alone: its requests in arrival order, its own callbacks on a small heap
ordered as SimPy orders events (time, then the order they were scheduled), its completions
applied before each of its events as the event run applies them. The tier runtimes are the
same :class:`~simkit.sim.api.ApiTier` objects, driven by a :class:`_TierClock` instead of
the SimPy environment (they read ``now`` and call ``timeout``; nothing else). The
self-hosted tiers, whose replicas batch and queue, run together on one
:class:`~simkit.sim.process_clock.ProcessClock` (the same replica processes, without SimPy),
walking every arrival event of the event run in its place in SimPy's order, each starting
only their requests: their events keep the relative order they have there, ties with an
arrival event included, since the API callbacks left out schedule none of them.

The records are identical to the event run's, ``meta['n_events']`` included (the events the
event run schedules are counted: one per arrival event, one per API callback, the
self-hosted tiers' own). One order cannot be known from one tier alone: which of an API
callback and an arrival event at exactly the same time SimPy runs first (it depends on when
each was scheduled, and so on the other tiers). Such a tie (only constant latencies and round
arrival times make one) raises :class:`TieFound`, and :func:`~simkit.sim.simulate` replays
the run by events.

Why: an API tier alone needs no SimPy event per arrival and no drain of every tier's
completions at each one, and a replica's event is a heap entry instead of a SimPy event;
the policy call and the attempts' own bookkeeping remain. ``benchmarks/bench_sim.py``
measures both replays side by side ((b)/(b2) on three API tiers, (c)/(c2) on the default
fleet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from heapq import heappop, heappush
from math import nextafter
from typing import Any

import numpy as np

from simkit.errors import PolicyError
from simkit.fleet.spec import ApiEndpoint, Fleet
from simkit.policies.base import FleetView, Policy, batch_router, reads_live_state
from simkit.sim.deferred import DeferredCompletions
from simkit.sim.jobs import Job
from simkit.sim.process_clock import ProcessClock
from simkit.sim.run import Run

__all__ = ["ArrivalEvents", "TieFound", "TierReplays", "replay_by_tier", "replays_by_tier"]

_INF = float("inf")


class TieFound(Exception):
    """A tier callback falls at exactly the time of an arrival event: replay by events."""


def replays_by_tier(fleet: Fleet, policy: Policy) -> bool:
    """Whether a run of ``policy`` over ``fleet`` can be replayed tier by tier: the policy
    has no ``next_tier`` and reads no live value."""
    return getattr(policy, "next_tier", None) is None and not reads_live_state(policy)


class _Timeout:
    """A scheduled callback's event: what :class:`~simkit.sim.api.ApiTier` reads of one."""

    __slots__ = ("callbacks", "value")

    def __init__(self, value: Any) -> None:
        self.callbacks: list[Callable[[_Timeout], None]] = []
        self.value = value


class _TierClock:
    """The part of a SimPy environment a tier runtime uses (``now``, ``timeout``), for one
    tier alone: callbacks on a heap ordered by (time, scheduling order), like SimPy's."""

    __slots__ = ("heap", "now", "scheduled")

    def __init__(self) -> None:
        self.now = 0.0
        self.heap: list[tuple[float, int, _Timeout]] = []
        self.scheduled = 0

    def timeout(self, delay: float, value: Any = None) -> _Timeout:
        ev = _Timeout(value)
        heappush(self.heap, (self.now + delay, self.scheduled, ev))
        self.scheduled += 1
        return ev


class ArrivalEvents:
    """The event run's arrival events, computed from the arrival times chunk by chunk:
    :meth:`~simkit.sim.run.Run._arrive`'s steps without SimPy (the same float arithmetic:
    the next event is scheduled ``arrival - now`` after ``now``, which can land just short
    of it: that event starts nothing and schedules the next)."""

    __slots__ = ("count", "now")

    def __init__(self) -> None:
        self.now: float | None = None  # the last event's time
        self.count = 0

    def add(self, arrival: list[float]) -> tuple[list[float], list[float]]:
        """The next requests' arrival times (in order, after the ones added before): the time
        each is dispatched at, and the times of the arrival events that dispatch them."""
        n = len(arrival)
        dispatch = [0.0] * n
        times: list[float] = []
        i = 0
        now = self.now
        while i < n and now is not None and arrival[i] <= now:  # still the last event's
            dispatch[i] = now
            i += 1
        while i < n:
            # the first event: timeout(arrival[0]) at time 0; then arrival - now after now
            now = 0.0 + arrival[0] if now is None else now + (arrival[i] - now)
            times.append(now)
            while i < n and arrival[i] <= now:
                dispatch[i] = now
                i += 1
        self.now = now
        self.count += len(times)
        return dispatch, times


class _Unavailable(Mapping[str, int]):
    """A live count a policy that declared ``reads_live_state = False`` may not read."""

    def __init__(self, policy: Policy, what: str) -> None:
        self._policy = policy
        self._what = what

    def _refuse(self) -> PolicyError:
        return _live_read(self._policy, self._what)

    def __getitem__(self, key: str) -> int:
        raise self._refuse()

    def __iter__(self) -> Iterator[str]:
        raise self._refuse()

    def __len__(self) -> int:
        raise self._refuse()


def _live_read(policy: Policy, what: str) -> PolicyError:
    return PolicyError(
        f"policy {type(policy).__name__}",
        key="reads_live_state",
        problem=f"is False, but route() read fleet.{what}, a value that moves while requests "
        "are served",
        hint="set reads_live_state = True on the policy (or leave the attribute out): it is "
        "then replayed by events and sees the live value",
    )


class _DecisionState:
    """The fleet view's state during routing ahead of the tiers: the decision's time only."""

    __slots__ = ("_policy", "now")

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self.now = 0.0

    def now_s(self) -> float:
        return self.now

    def spend_usd(self) -> float:
        raise _live_read(self._policy, "spend_usd")

    def headroom(self) -> Mapping[str, float]:
        raise _live_read(self._policy, "headroom")

    def est_wait_s(self) -> Mapping[str, float]:
        raise _live_read(self._policy, "est_wait_s")

    def recent_429s(self) -> Mapping[str, int]:
        raise _live_read(self._policy, "recent_429s")

    def recent_errors(self) -> Mapping[str, int]:
        raise _live_read(self._policy, "recent_errors")

    def prefix_hits(self, blocks: Any) -> Mapping[str, int]:
        raise _live_read(self._policy, "prefix_hits")


class _Router:
    """Routes requests in arrival order, as the event run does at its arrival events, and
    books each decision (:meth:`Run.book`); the policy's view holds the decision time only."""

    __slots__ = ("batch", "run", "state", "view")

    def __init__(self, run: Run) -> None:
        policy = run.policy
        self.run = run
        self.batch = batch_router(policy)
        self.state = _DecisionState(policy)
        self.view = FleetView(
            run.tier_names,
            frozenset(run.fleet.private_tiers),
            _Unavailable(policy, "queued"),
            _Unavailable(policy, "in_flight"),
            run.routed,
            run.decided,
            self.state,
        )

    def route(self, first: int, dispatch: list[float]) -> list[int]:
        """Route requests ``first``, ``first + 1``, ... dispatched at ``dispatch``; each
        one's tier index."""
        run = self.run
        if self.batch is not None:
            return self._route_batch(first, dispatch)
        state = self.state
        view = self.view
        request_view = run.table.request_view
        route = run.route
        rng = run.rng
        book = run.book
        decided = run.decided
        booked = run.dispatch
        tiers = [0] * len(dispatch)
        for j, now in enumerate(dispatch):
            i = first + j
            state.now = now
            tier = route(request_view(i), view, rng)
            decided[0] += 1
            booked[i] = now
            tiers[j] = book(i, tier, "route")
        return tiers

    def _route_batch(self, first: int, dispatch: list[float]) -> list[int]:
        """:meth:`route` by the policy's ``route_batch``: every request at once."""
        run = self.run
        n = len(dispatch)
        tiers = list(self.batch(run.table.request_batch(first, first + n), run.tier_names, run.rng))
        if len(tiers) != n:
            raise PolicyError(
                f"policy {type(run.policy).__name__}",
                key="route_batch",
                problem=f"returned {len(tiers)} tiers for {n} requests (from request "
                f"{run.table.ids[first]!r}); it must return one tier per request, in order",
            )
        booked = run.dispatch  # a list, or a dict of the open chunks when streaming
        for j, now in enumerate(dispatch, start=first):
            booked[j] = now
        return run.book_batch(first, tiers, "route_batch")


class _HostedReplay:
    """One hosted-API tier alone on its :class:`_TierClock`, fed its requests in arrival
    order. Before each of its arrival steps and callbacks the tier's completions up to that
    time are applied, as the event run's drains do (:mod:`~simkit.sim.deferred`)."""

    __slots__ = ("clock", "deferred", "group", "k", "last", "run", "tier")

    def __init__(self, run: Run, k: int) -> None:
        self.run = run
        self.k = k
        self.clock = _TierClock()
        self.deferred = DeferredCompletions()
        self.tier = run.tiers[k] = run.tier_runtime(k, self.clock, self.deferred)
        self.group: float | None = None  # the time of the last arrival event it took part in
        self.last = -_INF  # the time of its last callback

    def _fire_until(self, t: float, ties: set[float]) -> None:
        """Run the callbacks due at or before ``t``; one at an arrival time is a tie."""
        clock = self.clock
        heap = clock.heap
        while heap and heap[0][0] <= t:
            when, _, ev = heappop(heap)
            if when in ties:
                raise TieFound(
                    f"tier {self.tier.name!r}: a callback at {when!r} s, an arrival time"
                )
            clock.now = self.last = when
            for callback in ev.callbacks:
                callback(ev)

    def feed(self, first: int, slots: list[int], dispatch: list[float], ties: set[float]) -> None:
        """Start requests ``first + j`` for ``j`` in ``slots`` (in arrival order) at
        ``dispatch[j]``."""
        clock = self.clock
        heap = clock.heap
        deferred = self.deferred
        pending = deferred.heap
        submit = self.tier.submit
        run = self.run
        k = self.k
        start = run.start
        prompt = run.table.prompt
        group = self.group
        for j in slots:
            now = dispatch[j]
            if heap and heap[0][0] <= now:
                self._fire_until(now, ties)
            if now != group:  # the event run drains once per arrival event, before its requests
                if pending and pending[0][0] <= now:
                    deferred.drain(now)
                group = now
            clock.now = now
            i = first + j
            job = Job(i, None, prompt[i])
            if start(job, k, now):
                submit(job)
        self.group = group

    def settle(self, t: float, ties: set[float]) -> None:
        """Run the callbacks up to ``t`` (the last arrival event so far) and apply the
        completions before it: the next arrival step or callback would do the same."""
        self._fire_until(t, ties)
        self.deferred.drain(nextafter(t, -_INF))

    def finish(self, ties: set[float]) -> None:
        """Run the tier to the end."""
        self._fire_until(_INF, ties)
        self.deferred.drain(_INF)


class _SelfHostedReplay:
    """The self-hosted tiers alone on one :class:`ProcessClock`: their replicas start as in
    the event run (the tiers built in fleet order), then the event run's arrival events come
    in turn, each starting only the requests routed to these tiers and draining their
    deliveries (:mod:`~simkit.sim.deferred`) first. An arrival event takes its place in the
    order as in SimPy: its scheduling number is taken when the one before it is processed,
    after the requests that one started, so an exact tie with a replica's event is ordered as
    there. The hosted tiers' callbacks, left out, schedule nothing on these tiers."""

    __slots__ = ("clock", "deferred", "run", "self_hosted")

    def __init__(self, run: Run, self_hosted: set[int]) -> None:
        self.run = run
        self.self_hosted = self_hosted
        self.clock = ProcessClock()
        self.deferred = DeferredCompletions()
        for k in sorted(self_hosted):
            run.tiers[k] = run.tier_runtime(k, self.clock, self.deferred)

    def feed(
        self,
        prev: float | None,
        times: list[float],
        first: int,
        dispatch: list[float],
        tier_of: list[int],
    ) -> None:
        """The arrival events at ``times``, dispatching requests ``first``, ``first + 1``,
        ... at ``dispatch``, routed to ``tier_of``; those dispatched at ``prev``, the last
        slice's last arrival event (None: none), are started by that event, first."""
        clock = self.clock
        deferred = self.deferred
        pending = deferred.heap
        run_until = clock.run_until
        self_hosted = self.self_hosted
        tiers = self.run.tiers
        start = self.run.start
        prompt = self.run.table.prompt
        n = len(dispatch)

        def start_at(now: float | None, j: int) -> int:
            """Start the requests from ``j`` on dispatched at ``now``; the next one's ``j``."""
            while j < n and dispatch[j] == now:
                k = tier_of[j]
                if k in self_hosted:
                    i = first + j
                    job = Job(i, None, prompt[i])
                    if start(job, k, now):
                        tiers[k].submit(job)
                j += 1
            return j

        j = start_at(prev, 0)
        heap = clock.heap
        for now in times:
            eid = clock.scheduled  # scheduled after the replicas started, or by the one before
            clock.scheduled = eid + 1
            if heap and heap[0][0] <= now:  # else no replica event comes first
                run_until((now, 1, eid))
            clock.now = now
            if pending and pending[0][0] <= now:
                deferred.drain(now)
            j = start_at(now, j)

    def settle(self) -> None:
        """Apply the deliveries before now (nothing reads them but the records)."""
        self.deferred.drain(nextafter(self.clock.now, -_INF))

    def finish(self) -> None:
        """Run the replicas to the end."""
        self.clock.run_until((_INF, 0, 0))
        self.deferred.drain(_INF)


class TierReplays:
    """A run (:func:`replays_by_tier` true) replayed tier by tier, fed its requests in
    arrival order in one or more slices (:meth:`add`); :meth:`finish` ends it. The run then
    holds the same results, tier runtimes and counts as after the event run (but the policy
    view's ``routed`` and ``decided``, which nobody reads once a ``route_batch`` routed).

    Raises
    ------
    TieFound
        A hosted tier's callback falls at exactly an arrival event's time; replay by events
        instead (the run is spent).
    """

    __slots__ = ("arrivals", "hosted", "router", "run", "self_hosted", "ties")

    def __init__(self, run: Run) -> None:
        self.run = run
        kinds = [isinstance(t.endpoint, ApiEndpoint) for t in run.fleet.tiers]
        self.hosted = [_HostedReplay(run, k) for k, api in enumerate(kinds) if api]
        shs = {k for k, api in enumerate(kinds) if not api}
        self.self_hosted = _SelfHostedReplay(run, shs) if shs else None
        self.router = _Router(run)
        self.arrivals = ArrivalEvents()
        self.ties: set[float] = set()

    def add(self, first: int, arrival: list[float]) -> None:
        """Replay requests ``first``, ``first + 1``, ... (the next ones in arrival order),
        arriving at ``arrival``, as far as the last of them: what happens later waits for the
        next slice or :meth:`finish`."""
        if not arrival:
            return
        prev = self.arrivals.now
        dispatch, times = self.arrivals.add(arrival)
        # a callback can only land on the arrival events of this slice (the ones before
        # were settled) or on the last one before it
        self.ties = set(times) if prev is None else {prev, *times}
        last = times[-1] if times else prev  # all of them on the last slice's last event
        assert last is not None
        tier_of = self.router.route(first, dispatch)
        by_tier = np.asarray(tier_of)
        for h in self.hosted:
            slots = np.flatnonzero(by_tier == h.k).tolist()
            if slots:
                h.feed(first, slots, dispatch, self.ties)
            h.settle(last, self.ties)
        if self.self_hosted is not None:
            self.self_hosted.feed(prev, times, first, dispatch, tier_of)
            self.self_hosted.settle()

    def finish(self) -> None:
        """Run every tier to the end; the run's event count and last event time are set."""
        last = self.arrivals.now if self.arrivals.now is not None else -_INF
        events = self.arrivals.count
        for h in self.hosted:
            h.finish(self.ties)
            last = max(last, h.last)
            events += h.clock.scheduled
        if self.self_hosted is not None:
            self.self_hosted.finish()
            clock = self.self_hosted.clock
            last = max(last, clock.now)
            events += clock.scheduled - self.arrivals.count  # its walk took their numbers
        self.run.replayed_by_tier = (events, last)


def replay_by_tier(run: Run) -> None:
    """Replay ``run`` (fresh, :func:`replays_by_tier` true) tier by tier, all its requests
    at once (:class:`TierReplays`).

    Raises
    ------
    TieFound
        As :class:`TierReplays`.
    """
    replays = TierReplays(run)
    replays.add(0, run.table.arrival)
    replays.finish()
