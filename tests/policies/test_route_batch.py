"""``route_batch``: every built-in policy that has one picks, for a shipped trace, the tier its
``route`` picks for each request and leaves its generator where ``route`` would; the rule for
when the simulator may use it. (What the simulator says of a bad batch answer:
tests/sim/test_by_tier.py.)"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from simkit.fleet import Fleet, default_fleet_path, load_fleet
from simkit.policies import (
    FleetView,
    OraclePolicy,
    RandomMixPolicy,
    StaticPolicy,
    TaskHeuristicPolicy,
    ThresholdPolicy,
)
from simkit.policies.base import batch_router
from simkit.sim import simulate
from simkit.sim.requests import RequestTable
from simkit.trace import load_trace, window

ROOT = Path(__file__).resolve().parents[2]
TIERS = ("selfhosted", "hosted", "frontier")


@pytest.fixture(scope="module")
def trace():
    """The first 2,000 requests of the shipped RouteLLM trace (scores, 58 categories, two
    sources, sensitive tags), some scores set exactly on the cut-offs below."""
    t = window(load_trace(ROOT / "traces" / "routellm_azure"), n_requests=2000)
    p = t.scores["p_hard"].to_numpy().copy()
    p[::97] = 0.8
    p[1::97] = 0.45
    return t.with_scores({"p_hard": p})


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_fleet(default_fleet_path())


def _policies(trace, fleet):
    oracle = OraclePolicy.from_trace(trace, fleet)
    # requests the oracle has no row for go to its cheapest tier
    oracle = dataclasses.replace(oracle, quality=oracle.quality.iloc[::3])
    return {
        "static": StaticPolicy("hosted"),
        "random": RandomMixPolicy({"frontier": 0.5, "hosted": 0.0, "selfhosted": 2.0}),
        "random-one": RandomMixPolicy({"hosted": 3.0}),
        "threshold": ThresholdPolicy({"frontier": 0.8, "hosted": 0.45}),
        "threshold-top": ThresholdPolicy({"frontier": 0.5}),
        "task": TaskHeuristicPolicy(),
        "task-overrides": TaskHeuristicPolicy(small="hosted", tasks={"gsm8k": "classification"}),
        "oracle": oracle,
    }


PICKED = {
    "static": {"hosted"},
    "random": {"frontier", "selfhosted"},  # weight 0: never hosted
    "random-one": {"hosted"},
    "threshold": set(TIERS),
    "threshold-top": {"frontier", "selfhosted"},
    "task": {"frontier", "hosted"},  # reasoning (GSM8K, maths) and QA
    "task-overrides": {"frontier", "hosted"},  # GSM8K now to the small tier, named 'hosted'
    "oracle": {"frontier", "selfhosted"},  # hosted: the same model as selfhosted, dearer
}


@pytest.mark.parametrize("name", list(PICKED))
def test_route_batch_picks_what_route_picks_request_by_request(trace, fleet, name):
    policy = _policies(trace, fleet)[name]
    table = RequestTable(trace, fleet, False, "sensitive")
    view = FleetView.snapshot(TIERS)
    one, many = np.random.default_rng(17), np.random.default_rng(17)
    want = [policy.route(table.request_view(i), view, one) for i in range(len(table))]
    # in two slices, as a streamed replay asks for them
    got = list(policy.route_batch(table.request_batch(0, 700), TIERS, many))
    got += list(policy.route_batch(table.request_batch(700, len(table)), TIERS, many))
    assert got == want
    assert set(want) == PICKED[name]  # the case is not trivial
    assert one.random() == many.random()  # the same number of draws


def test_the_random_mix_draws_one_uniform_per_request_and_picks_by_running_sums():
    p = RandomMixPolicy({"frontier": 1.0, "hosted": 0.0, "selfhosted": 3.0})
    batch = _batch(6)
    u = np.random.default_rng(3).random(6) * 4.0
    want = ["frontier" if x < 1.0 else "selfhosted" for x in u]
    assert p.route_batch(batch, TIERS, np.random.default_rng(3)) == want


class _Uniforms:
    """A generator stand-in whose uniforms are given: draws on the running sums' edges."""

    def __init__(self, values):
        self.values = list(values)

    def random(self, size=None):
        if size is None:
            return self.values.pop(0)
        out, self.values = self.values[:size], self.values[size:]
        return np.asarray(out)


def test_the_random_mix_batch_treats_a_draw_on_a_running_sum_as_route_does():
    # sums 1, 1, 4 over a total of 4: a draw of 0.25 lands exactly on the first sum and goes
    # past it (route: u < acc), 1.0 lands on the total and goes to the last tier
    p = RandomMixPolicy({"frontier": 1.0, "hosted": 0.0, "selfhosted": 3.0})
    draws = [0.0, 0.25, 0.2500000001, 0.9999, 1.0]
    view = FleetView.snapshot(TIERS)
    want = [p.route(None, view, _Uniforms(draws[j : j + 1])) for j in range(len(draws))]
    assert want == ["frontier", "selfhosted", "selfhosted", "selfhosted", "selfhosted"]
    assert p.route_batch(_batch(5), TIERS, _Uniforms(draws)) == want


def test_the_task_batch_reads_the_source_where_the_category_says_nothing():
    p = TaskHeuristicPolicy()
    batch = _batch(4)._replace(
        category=["", "", "summarise", "mbpp"], source=["gsm8k", "docs", "gsm8k", ""]
    )
    assert p.route_batch(batch, TIERS, None) == ["frontier", "hosted", "frontier", "frontier"]


def test_the_threshold_batch_keeps_the_strongest_cut_off_reached():
    p = ThresholdPolicy({"frontier": 0.7, "hosted": 0.4})
    batch = _batch(6, p_hard=[0.7, 0.69, 0.4, 0.39, float("nan"), 1.0])
    assert p.route_batch(batch, TIERS, None) == [
        "frontier",
        "hosted",
        "hosted",
        "selfhosted",
        "selfhosted",
        "frontier",
    ]


def _batch(n, **scores):
    from simkit.policies import RequestBatch

    return RequestBatch(
        [f"r{i}" for i in range(n)],
        [float(i) for i in range(n)],
        [100] * n,
        [-1] * n,
        [""] * n,
        [""] * n,
        [frozenset()] * n,
        {k: np.asarray(v, dtype="float64") for k, v in scores.items()},
        None,
    )


class _LastTier(ThresholdPolicy):
    """Overrides ``route`` alone: its inherited ``route_batch`` no longer stands for it."""

    def route(self, request, fleet, rng):
        return fleet.tiers[-1]


class _BatchOnly(ThresholdPolicy):
    def route_batch(self, requests, tiers, rng):
        return [tiers[-1]] * len(requests.request_id)


@dataclass(frozen=True)
class _Both(ThresholdPolicy):
    def route(self, request, fleet, rng):
        return fleet.tiers[-1]

    def route_batch(self, requests, tiers, rng):
        return [tiers[-1]] * len(requests.request_id)


def test_route_batch_is_used_only_where_the_class_defining_it_defines_route_too():
    cut = {"frontier": 0.7}
    plain, both = ThresholdPolicy(cut), _Both(cut)
    assert batch_router(plain) == plain.route_batch
    assert batch_router(both) == both.route_batch
    assert batch_router(_LastTier(cut)) is None
    assert batch_router(_BatchOnly(cut)) is None
    assert batch_router(object()) is None


def test_a_subclass_overriding_route_alone_is_routed_by_its_route(trace, fleet):
    rec = simulate(window(trace, n_requests=300), fleet, _LastTier({"frontier": 0.99}), seed=4)
    assert set(rec.requests["tier"]) == {"frontier"}
