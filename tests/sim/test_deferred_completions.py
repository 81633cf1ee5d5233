"""Deferred completions (:mod:`simkit.sim.deferred`) change the event count, never a record.

A policy without ``next_tier`` lets the run apply API completions and self-hosted deliveries
lazily instead of as SimPy events. The reference is the same policy with a ``next_tier`` that always answers None: the
records must be the same (the hook is a no-op), but the run then keeps one event per
completion. Compared on every shipped trace, on a three-tier fleet with a self-hosted tier, and
on an API fleet whose rate limits, errors, retries and outages make the drains before retries
and failures matter; the budget policy reads the run's spend, so the order in which completions
are booked matters too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.helpers import STRONG, WEAK, fixed_api, one_tier, tiny_trace
from simkit.fleet import RateLimit, load_fleet
from simkit.policies import BudgetPolicy, RandomMixPolicy, StaticPolicy, build_policy
from simkit.sim import simulate
from simkit.trace import load_trace, window

TRACES = sorted(
    p
    for p in (Path(__file__).resolve().parents[2] / "traces").iterdir()
    if p.is_dir() and (p / "trace.json").is_file()
)


class _WithNoOpHook:
    """``policy`` plus a ``next_tier`` that never sends an attempt anywhere: same decisions,
    but every completion must then be an event (the hook could answer)."""

    def __init__(self, policy: object) -> None:
        self.policy = policy

    def route(self, request, fleet, rng):  # noqa: ANN001, ANN201 - the Policy protocol
        return self.policy.route(request, fleet, rng)

    def next_tier(self, request, attempt, fleet, rng):  # noqa: ANN001, ANN201
        return None


def _both(trace, fleet, policy, seed):  # noqa: ANN001, ANN202
    deferred = simulate(trace, fleet, policy, seed=seed, allow_missing_quality=True)
    evented = simulate(trace, fleet, _WithNoOpHook(policy), seed=seed, allow_missing_quality=True)
    return deferred, evented


def _assert_same_records(a, b) -> None:  # noqa: ANN001
    pd.testing.assert_frame_equal(a.requests, b.requests, check_exact=True)
    pd.testing.assert_frame_equal(a.endpoints, b.endpoints, check_exact=True)
    assert a.horizon_s == b.horizon_s
    assert a.meta["gpu_steps"] == b.meta["gpu_steps"]
    assert a.meta["preemptions"] == b.meta["preemptions"]


def _completions(records) -> int:  # noqa: ANN001
    """Completed attempts: on an API tier the attempt's end, on a self-hosted tier the answer's
    delivery to the client; each is one event fewer when deferred."""
    return int((records.requests["status"] == "completed").sum())


@pytest.mark.parametrize("path", TRACES, ids=[p.name for p in TRACES])
def test_shipped_traces_give_the_same_records_with_one_event_fewer_per_completion(path):
    fleet = load_fleet()  # self-hosted, hosted and frontier tiers
    trace = window(load_trace(path), n_requests=3000, rate_multiplier=2.0)
    late = trace.requests.assign(arrival_s=trace.requests["arrival_s"] + 777.25)
    trace = trace.replace(requests=late)  # a non-zero start
    policy = RandomMixPolicy({"selfhosted": 2.0, "hosted": 1.0, "frontier": 1.5})
    deferred, evented = _both(trace, fleet, policy, seed=11)
    _assert_same_records(deferred, evented)
    saved = evented.meta["n_events"] - deferred.meta["n_events"]
    assert saved == _completions(deferred) > 0
    assert deferred.requests["tier"].nunique() == 3  # API and self-hosted completions both


def test_budget_policy_reading_the_spend_decides_the_same_with_deferred_completions():
    """The budget stop depends on the spend booked so far: completions must be booked in
    the order (and at the times) events would have booked them."""
    fleet = load_fleet()
    trace = window(load_trace(TRACES[-1]), n_requests=4000, rate_multiplier=3.0)
    policy = build_policy("budget:usd_per_hour=0.5,score=null", fleet=fleet, trace=trace)
    assert isinstance(policy, BudgetPolicy)
    deferred, evented = _both(trace, fleet, policy, seed=5)
    _assert_same_records(deferred, evented)
    tiers = deferred.requests["tier"]
    assert tiers.nunique() >= 2  # the budget moved requests between tiers


def _stormy_api_fleet():  # noqa: ANN202
    """Three API tiers with binding limits, errors, retries, an outage and timeouts."""
    return load_fleet(
        {
            "tiers": {
                "cheap": {
                    "kind": "api",
                    "model": "llama3-70b-8192",
                    "provider": "groq",
                    "quality_model": WEAK,
                    "rate_limit": {"rpm": 240, "tpm": 300_000},
                    "retry": {"max_retries": 2},
                    "error_rate": 0.05,
                },
                "mid": {
                    "kind": "api",
                    "model": "claude-3-5-sonnet",
                    "quality_model": STRONG,
                    "rate_limit": {
                        "style": "anthropic",
                        "rpm": 300,
                        "input_tpm": 200_000,
                        "output_tpm": 40_000,
                    },
                    "outages": [[30, 45]],
                    "retry": {"max_retries": 1, "honour_retry_after": False},
                },
                "frontier": {
                    "kind": "api",
                    "model": "gpt-4o",
                    "quality_model": STRONG,
                    "timeout_s": 6.0,
                    "error_rate": 0.02,
                },
            }
        }
    )


def test_limits_errors_retries_and_outages_give_the_same_records_deferred():
    fleet = _stormy_api_fleet()
    trace = window(load_trace(TRACES[-1]), n_requests=3000, rate_multiplier=4.0)
    for policy in (
        RandomMixPolicy({"cheap": 3.0, "mid": 2.0, "frontier": 1.0}),
        StaticPolicy("cheap"),
    ):
        deferred, evented = _both(trace, fleet, policy, seed=2)
        _assert_same_records(deferred, evented)
        r = deferred.requests
        assert (r["n_429"] > 0).any() and (r["retries"] > 0).any()
        assert (r["status"] == "failed").any() and (r["status"] == "completed").any()


def test_a_policy_with_next_tier_keeps_one_event_per_completion():
    """Cascades answer completions, so theirs stay events (and nothing is deferred)."""
    fleet = load_fleet()
    trace = window(load_trace(TRACES[-1]), n_requests=500)
    policy = build_policy("cascade:judge_error=0.1", fleet=fleet, trace=trace)
    rec = simulate(trace, fleet, policy, seed=1, allow_missing_quality=True)
    again = simulate(trace, fleet, policy, seed=1, allow_missing_quality=True)
    assert rec.meta["n_events"] == again.meta["n_events"]
    # every completed attempt of the cascade was an event: at least one per request
    assert rec.meta["n_events"] >= trace.n_requests + int(np.isfinite(rec.requests["end_s"]).sum())


def test_a_retry_sees_the_completions_before_it_hand_computed_busy_time():
    """r0 (t=5) takes the only request of a 1-RPM bucket and completes at 5.54; r1 (t=5.1)
    gets a 429 with retry-after (1 - 0.1/60) * 60 = 59.9 s, retries at 65.0 and completes at
    65.54. The tier is busy [5, 5.54] and [65, 65.54]: 1.08 s. A retry that did not first
    apply r0's deferred completion would find the tier still busy since 5 s (60.54 s)."""
    api = fixed_api(ttft_s=0.5, speed=100.0, rate_limit=RateLimit(rpm=1))
    trace = tiny_trace([5.0, 5.1], output_tokens=5)
    for policy in (StaticPolicy("t"), _WithNoOpHook(StaticPolicy("t"))):
        rec = simulate(trace, one_tier(api), policy, seed=0)
        r = rec.requests
        assert r["end_s"].tolist() == pytest.approx([5.54, 65.54])
        assert r["n_429"].tolist() == [0, 1] and r["retries"].tolist() == [0, 1]
        assert rec.endpoints["busy_s"].tolist() == pytest.approx([1.08])
