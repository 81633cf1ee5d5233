"""Edges of what policies read from a running simulation (issue 10: surviving mutants of
``simkit/sim/fleet_state.py`` under ``scripts/mutation.py sim``)."""

from __future__ import annotations

from sim.helpers import fixed_api, tiny_trace
from sim.test_live_state import NO_RETRY, Watch
from simkit.fleet import Fleet, RateLimit, Tier
from simkit.policies import StaticPolicy
from simkit.sim import simulate


def test_a_429_exactly_60_seconds_old_is_still_recent():
    """rpm 1, no retries, no network time: r0 (t=0) is admitted, r1 (t=1) gets a 429 at
    t=1. At t=61 the window is [1, 61]: r1's 429 is on its edge and counts; at t=61.25 it
    has left."""
    fleet = Fleet((Tier("api", fixed_api(rate_limit=RateLimit(rpm=1), retry=NO_RETRY), "m"),))
    watch = Watch(StaticPolicy("api"))
    simulate(tiny_trace([0.0, 1.0, 61.0]), fleet, watch, seed=0)
    assert [s["recent_429s"]["api"] for s in watch.seen] == [0, 0, 1]
    watch = Watch(StaticPolicy("api"))
    simulate(tiny_trace([0.0, 1.0, 61.25]), fleet, watch, seed=0)
    assert [s["recent_429s"]["api"] for s in watch.seen] == [0, 0, 0]
