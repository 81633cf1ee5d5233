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
run, and sees the same ``routed`` and ``decided`` counts and decision times), then replays
each hosted-API tier alone: its requests in arrival order, its own callbacks on a small heap
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
from typing import Any

import numpy as np

from simkit.errors import PolicyError
from simkit.fleet.spec import ApiEndpoint, Fleet
from simkit.policies.base import FleetView, Policy, reads_live_state
from simkit.sim.deferred import DeferredCompletions
from simkit.sim.jobs import Job
from simkit.sim.process_clock import ProcessClock
from simkit.sim.run import Run

__all__ = ["TieFound", "replay_by_tier", "replays_by_tier"]

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


def arrival_events(arrival: list[float]) -> tuple[list[float], list[float]]:
    """The time each request is dispatched at, and the times of the event run's arrival
    events in order: :meth:`~simkit.sim.run.Run._arrive`'s steps without SimPy (the same
    float arithmetic: the next event is scheduled ``arrival - now`` after ``now``, which can
    land just short of it: that event starts nothing and schedules the next)."""
    n = len(arrival)
    dispatch = [0.0] * n
    times = []
    now = 0.0 + arrival[0]  # the first event: timeout(arrival[0]) at time 0
    i = 0
    while True:
        times.append(now)
        while i < n and arrival[i] <= now:
            dispatch[i] = now
            i += 1
        if i >= n:
            return dispatch, times
        now = now + (arrival[i] - now)


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


def _route_all(run: Run, dispatch: list[float]) -> list[int]:
    """Route every request in arrival order, as the event run does at its arrival events, and
    book each decision (:meth:`Run.book`); each request's tier index."""
    policy = run.policy
    state = _DecisionState(policy)
    view = FleetView(
        run.tier_names,
        frozenset(run.fleet.private_tiers),
        _Unavailable(policy, "queued"),
        _Unavailable(policy, "in_flight"),
        run.routed,
        run.decided,
        state,
    )
    request_view = run.table.request_view
    route = run.route
    rng = run.rng
    book = run.book
    decided = run.decided
    booked = run.dispatch
    tiers = [0] * run.n
    for i in range(run.n):
        now = state.now = dispatch[i]
        tier = route(request_view(i), view, rng)
        decided[0] += 1
        booked[i] = now
        tiers[i] = book(i, tier, "route")
    return tiers


def _replay_tier(
    run: Run,
    k: int,
    clock: _TierClock,
    requests: list[int],
    dispatch: list[float],
    ties: set[float],
) -> float:
    """Run tier ``k``'s attempts (of ``requests``, in arrival order) to the end; return the
    time of its last callback (-inf: none).

    Before each of its arrival steps and callbacks the tier's completions up to that time are
    applied, as the event run's drains do (:mod:`~simkit.sim.deferred`)."""
    tier = run.tiers[k]
    heap = clock.heap
    deferred = tier.deferred
    assert deferred is not None
    pending = deferred.heap
    last = -_INF

    def fire() -> float:
        t, _, ev = heappop(heap)
        if t in ties:
            raise TieFound(f"tier {tier.name!r}: a callback at {t!r} s, an arrival time")
        clock.now = t
        for callback in ev.callbacks:
            callback(ev)
        return t

    group = None
    submit = tier.submit
    start = run.start
    prompt = run.table.prompt
    for i in requests:
        now = dispatch[i]
        while heap and heap[0][0] <= now:
            last = fire()
        if now != group:  # the event run drains once per arrival event, before its requests
            if pending and pending[0][0] <= now:
                deferred.drain(now)
            group = now
        clock.now = now
        job = Job(i, None, prompt[i])
        if start(job, k, now):
            submit(job)
    while heap:
        last = fire()
    deferred.drain(_INF)
    return last


def _replay_self_hosted(
    run: Run, tier_of: list[int], self_hosted: set[int], dispatch: list[float], times: list[float]
) -> tuple[int, float]:
    """Run the self-hosted tiers alone on one :class:`ProcessClock`: their replicas start as
    in the event run (the tiers built in fleet order), then the event run's arrival events
    come in turn, each starting only the requests routed to these tiers and draining their
    deliveries (:mod:`~simkit.sim.deferred`) first. An arrival event takes its place in the
    order as in SimPy: its scheduling number is taken when the one before it is processed,
    after the requests that one started, so an exact tie with a replica's event is ordered
    as there. The hosted tiers' callbacks, left out, schedule nothing on these tiers.

    Returns the events scheduled (the replicas' and the arrival events) and the time of the
    last one."""
    clock = ProcessClock()
    deferred = DeferredCompletions()
    tiers = run.tiers
    for k in sorted(self_hosted):
        tiers[k] = run.tier_runtime(k, clock, deferred)
    pending = deferred.heap
    run_until = clock.run_until
    start = run.start
    prompt = run.table.prompt
    n = run.n
    i = 0
    for now in times:
        eid = clock.scheduled  # scheduled after the replicas started, or by the one before
        clock.scheduled = eid + 1
        run_until((now, 1, eid))
        clock.now = now
        if pending and pending[0][0] <= now:
            deferred.drain(now)
        while i < n and dispatch[i] == now:
            k = tier_of[i]
            if k in self_hosted:
                job = Job(i, None, prompt[i])
                if start(job, k, now):
                    tiers[k].submit(job)
            i += 1
    run_until((_INF, 0, 0))
    deferred.drain(_INF)
    return clock.scheduled, clock.now


def replay_by_tier(run: Run) -> None:
    """Replay ``run`` (fresh, :func:`replays_by_tier` true) tier by tier; the run then holds
    the same results, tier runtimes and counts as after the event run.

    Raises
    ------
    TieFound
        A hosted tier's callback falls at exactly an arrival event's time; replay by events
        instead (the run is spent).
    """
    dispatch, times = arrival_events(run.table.arrival)
    ties = set(times)
    hosted = [k for k, t in enumerate(run.fleet.tiers) if isinstance(t.endpoint, ApiEndpoint)]
    clocks = {k: _TierClock() for k in hosted}
    for k, clock in clocks.items():
        run.tiers[k] = run.tier_runtime(k, clock, DeferredCompletions())
    tier_of = _route_all(run, dispatch)
    by_tier = np.asarray(tier_of)
    last = times[-1]  # the last arrival event
    for k, clock in clocks.items():
        requests = np.flatnonzero(by_tier == k).tolist()
        last = max(last, _replay_tier(run, k, clock, requests, dispatch, ties))
    hosted_events = sum(c.scheduled for c in clocks.values())
    self_hosted = set(range(len(run.tiers))) - set(hosted)
    if self_hosted:
        events, t_last = _replay_self_hosted(run, tier_of, self_hosted, dispatch, times)
        run.replayed_by_tier = (events + hosted_events, max(last, t_last))
    else:
        run.replayed_by_tier = (len(times) + hosted_events, last)
