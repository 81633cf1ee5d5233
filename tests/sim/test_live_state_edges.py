"""Edges of what policies read from a running simulation and what a next_tier hook is shown
(issue 10: surviving mutants of simkit/sim/fleet_state.py and run.py under
``scripts/mutation.py sim``)."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class Escalate:
    """Starts on 'a'; after an attempt, notes what the hook saw and escalates to 'b' unless a
    verifier without errors accepts the answer (quality >= 0.5)."""

    seen: list = field(default_factory=list)

    def route(self, request, fleet, rng):  # noqa: ANN001, ANN201 - the Policy protocol
        return "a"

    def next_tier(self, request, attempt, fleet, rng):  # noqa: ANN001, ANN201
        good = attempt.verify(0.5, 0.0, rng)
        self.seen.append((request.request_id, attempt.tier, attempt.completed, good))
        return "b" if attempt.tier == "a" and not good else None


def test_a_next_tier_hook_verifies_the_quality_of_the_attempt_it_is_shown():
    """Tier 'a' admits two requests a minute (no retries): r0 (quality 0.2) completes and is
    rejected by the verifier, r1 (0.7) is accepted and stays, r2 (0.9) gets a 429 and fails
    (no answer to verify). Tier 'b' answers r0 and r2."""
    fleet = Fleet(
        (
            Tier("a", fixed_api(rate_limit=RateLimit(rpm=2), retry=NO_RETRY), "m"),
            Tier("b", fixed_api(), "m"),
        )
    )
    policy = Escalate()
    rec = simulate(tiny_trace([0.0, 0.1, 0.2], quality=[0.2, 0.7, 0.9]), fleet, policy, seed=0)
    assert sorted(policy.seen) == [
        ("r0", "a", True, False),
        ("r0", "b", True, False),
        ("r1", "a", True, True),
        ("r2", "a", False, False),
        ("r2", "b", True, True),
    ]
    assert rec.requests["tiers_tried"].tolist() == ["a,b", "a", "a,b"]
    assert rec.requests["quality"].tolist() == [0.2, 0.7, 0.9]
