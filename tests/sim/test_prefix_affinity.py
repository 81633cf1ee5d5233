"""Prefix affinity across tiers: the ``affinity`` policy sends a request to the tier whose prefix
cache holds most of its prompt's prefix (ties to the cheaper tier, sensitive requests only to
private tiers), else asks its base; ``FleetView.prefix_hits`` reads the caches live; the
request view carries the trace's prefix blocks; bad parameters are named."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.helpers import fixed_api, linear_server
from simkit import Trace
from simkit.errors import PolicyError
from simkit.fleet import Fleet, Tier
from simkit.policies import (
    FleetView,
    PrefixAffinityPolicy,
    RandomMixPolicy,
    RequestView,
    StaticPolicy,
    TaskHeuristicPolicy,
    build_policy,
)
from simkit.sim import simulate
from simkit.trace import prefix_heavy_trace

BLOCK = 100
START_S = 50.0


def three_tiers(*, b_private: bool = True) -> Fleet:
    """Two self-hosted tiers with prefix caches (gpu-a cheaper) and one API tier."""
    return Fleet(
        (
            Tier("gpu-a", linear_server(), "m"),
            Tier("gpu-b", linear_server(usd_per_gpu_hour=2.0), "m", private=b_private),
            Tier("api", fixed_api(), "m"),
        )
    )


#: the base: category 'a' -> gpu-a, 'b' -> gpu-b, 'c' -> api
BASE = TaskHeuristicPolicy(
    small="gpu-a",
    mid="gpu-b",
    frontier="api",
    tasks={"a": "classification", "b": "generation", "c": "code"},
)


def block_trace(rows) -> Trace:
    """rows: (arrival offset from START_S, category, block ids[, tags]); 100 tokens a block,
    one request every second or more, so each prefill ends before the next decision."""
    ids = [f"r{i}" for i in range(len(rows))]
    req = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": [START_S + r[0] for r in rows],
            "prompt_tokens": [BLOCK * len(r[2]) for r in rows],
            "output_tokens": 2,
            "category": [r[1] for r in rows],
            "tags": [r[3] if len(r) > 3 else "" for r in rows],
            "prefix_blocks": [r[2] for r in rows],
        }
    )
    out = pd.DataFrame({"request_id": ids, "model": "m", "quality": 1.0})
    return Trace(req, out, meta={"prefix_block_size": BLOCK})


ROWS = [
    (0, "a", [1, 2, 3, 4]),  # r0: nothing cached -> base: gpu-a
    (1, "b", [1, 2, 3, 5]),  # r1: gpu-a holds 3 leading blocks -> gpu-a (base: gpu-b)
    (2, "c", [7, 8]),  # r2: nothing cached -> base: api
    (3, "b", [9, 10, 11]),  # r3: nothing cached -> base: gpu-b
    (4, "a", [9, 10, 12]),  # r4: gpu-b holds 2 -> gpu-b (base: gpu-a)
    (5, "c", [1, 9]),  # r5: gpu-a holds 1, gpu-b 0 -> gpu-a (base: api)
    (6, "c", [7, 8]),  # r6: api served [7, 8], but an API tier caches nothing -> api
    (7, "c", [9, 13]),  # r7: gpu-a holds 9 (r5), gpu-b holds 9: a tie -> gpu-a, the cheaper
    (8, "b", [9, 10, 11, 14]),  # r8: gpu-b 3, gpu-a 1 -> gpu-b
    (9, "a", []),  # r9: no blocks -> base: gpu-a
]


def tiers_of(policy, rows=ROWS, fleet=None) -> list[str]:
    rec = simulate(block_trace(rows), fleet or three_tiers(), policy, seed=3)
    return rec.requests["tier"].tolist()


def test_requests_sharing_a_prefix_follow_the_tier_that_computed_it_first():
    """Three tiers, arrivals from t = 50 s: each request goes where most of its leading blocks
    are cached, the cheaper tier on a tie, and to the base's choice where none are."""
    got = tiers_of(PrefixAffinityPolicy(BASE))
    assert got == [
        "gpu-a",
        "gpu-a",
        "api",
        "gpu-b",
        "gpu-b",
        "gpu-a",
        "api",
        "gpu-a",
        "gpu-b",
        "gpu-a",
    ]
    # the base alone sends each by category
    base = tiers_of(BASE)
    assert base == [
        "gpu-a",
        "gpu-b",
        "api",
        "gpu-b",
        "gpu-a",
        "api",
        "api",
        "api",
        "gpu-b",
        "gpu-a",
    ]


def test_affinity_skips_the_prefill_the_cache_holds():
    """r1 follows r0 to gpu-a and prefills only its uncached block (100 tokens: 0.1 s); under
    the base it goes to gpu-b and prefills all 400 (0.4 s)."""
    trace = block_trace(ROWS[:2])
    on = simulate(trace, three_tiers(), PrefixAffinityPolicy(BASE), seed=0).requests
    off = simulate(trace, three_tiers(), BASE, seed=0).requests
    ttft = lambda r: (r["first_token_s"] - r["arrival_s"]).round(9).tolist()  # noqa: E731
    assert ttft(on) == [0.4, 0.1]
    assert ttft(off) == [0.4, 0.4]


def test_min_blocks_is_the_least_run_a_tier_must_hold():
    """min_blocks=2: r5 (gpu-a holds 1 of [1, 9]) goes to the base's api, and so r7's block 9
    is then cached on gpu-b only, once (1 < 2): the base's api too; r1, r4, r8 (3, 2, 3
    blocks held) still follow their prefix. min_blocks=3: r4 (2 held) goes to the base."""
    two = tiers_of(PrefixAffinityPolicy(BASE, min_blocks=2))
    assert two == ["gpu-a", "gpu-a", "api", "gpu-b", "gpu-b", "api", "api", "api", "gpu-b", "gpu-a"]
    three = tiers_of(PrefixAffinityPolicy(BASE, min_blocks=3))
    assert three == [
        "gpu-a",
        "gpu-a",
        "api",
        "gpu-b",
        "gpu-a",
        "api",
        "api",
        "api",
        "gpu-b",
        "gpu-a",
    ]


def test_a_sensitive_request_follows_its_prefix_only_to_a_private_tier():
    """gpu-b is not private: the sensitive r2 whose prefix gpu-b holds best (2 blocks) goes to
    gpu-a, which holds 1; the sensitive r3 whose prefix only gpu-b holds goes to the base's
    choice; the untagged r4 follows its prefix to gpu-b."""
    rows = [
        (0, "b", [9, 10, 11]),  # r0 -> base gpu-b
        (1, "a", [9, 20]),  # r1: gpu-b holds 9 -> gpu-b (base: gpu-a)
        (2, "c", [9, 10, 30], "sensitive"),  # gpu-b 2, gpu-a 0 -> base: api
        (3, "a", [5, 6]),  # r3 -> base gpu-a: gpu-a now holds 5, 6
        (4, "c", [5, 6, 7], "sensitive"),  # gpu-a 2 -> gpu-a
        (5, "c", [9, 10, 40]),  # gpu-b 2 -> gpu-b
    ]
    fleet = three_tiers(b_private=False)
    assert tiers_of(PrefixAffinityPolicy(BASE), rows, fleet) == [
        "gpu-b",
        "gpu-b",
        "api",
        "gpu-a",
        "gpu-a",
        "gpu-b",
    ]
    # with gpu-b private, the sensitive r2 may follow its prefix there
    assert tiers_of(PrefixAffinityPolicy(BASE), rows)[2] == "gpu-b"
    # a custom tag: 'sensitive' is then not a constraint of this policy
    assert tiers_of(PrefixAffinityPolicy(BASE, tag="secret"), rows, fleet)[2] == "gpu-b"


# --- the view ---------------------------------------------------------------------------------
VIEW_TIERS = ("gpu-a", "gpu-b", "api")


def req(blocks, tags=()) -> RequestView:
    return RequestView("r", 0.0, 100, -1, "", "", frozenset(tags), {}, tuple(blocks))


def test_prefix_hits_of_a_snapshot_count_leading_blocks_per_tier():
    fleet = FleetView.snapshot(VIEW_TIERS, cached_blocks={"gpu-a": [1, 2, 5], "gpu-b": [1, 2, 3]})
    assert dict(fleet.prefix_hits((1, 2, 3, 4))) == {"gpu-a": 2, "gpu-b": 3, "api": 0}
    assert dict(fleet.prefix_hits((5, 1))) == {"gpu-a": 2, "gpu-b": 0, "api": 0}
    assert dict(fleet.prefix_hits(())) == {"gpu-a": 0, "gpu-b": 0, "api": 0}
    assert dict(FleetView.snapshot(VIEW_TIERS).prefix_hits((1,))) == dict.fromkeys(VIEW_TIERS, 0)


def test_the_policy_on_a_snapshot_picks_the_longest_run_then_the_cheaper_tier():
    policy = PrefixAffinityPolicy(StaticPolicy("api"), min_blocks=2)
    fleet = FleetView.snapshot(
        VIEW_TIERS,
        private_tiers={"gpu-a"},
        cached_blocks={"gpu-a": [1, 2], "gpu-b": [1, 2, 3]},
    )
    assert policy.route(req([1, 2, 3]), fleet, None) == "gpu-b"
    assert policy.route(req([1, 2, 9]), fleet, None) == "gpu-a"  # tie at 2: the cheaper
    assert policy.route(req([1, 9]), fleet, None) == "api"  # 1 < min_blocks
    assert policy.route(req([1, 2, 3], {"sensitive"}), fleet, None) == "gpu-a"
    assert policy.route(req([]), fleet, None) == "api"


def test_the_live_view_reads_the_caches_at_the_decision():
    """A policy that records ``prefix_hits`` at every decision sees r0's blocks on gpu-a only
    after r0's prefill, and nothing on the API tier."""
    seen = []

    class Recording:
        def route(self, request, fleet, rng):
            seen.append(dict(fleet.prefix_hits(request.prefix_blocks)))
            return "gpu-a"

    simulate(block_trace([(0, "a", [1, 2]), (0.1, "a", [1, 3]), (1, "a", [1, 2, 4])]),
             three_tiers(), Recording(), seed=0)  # fmt: skip
    assert seen == [
        {"gpu-a": 0, "gpu-b": 0, "api": 0},
        {"gpu-a": 0, "gpu-b": 0, "api": 0},  # r0 still prefilling (0.2 s)
        {"gpu-a": 2, "gpu-b": 0, "api": 0},
    ]


def test_the_request_view_carries_the_trace_prefix_blocks():
    seen = []

    class Recording:
        def route(self, request, fleet, rng):
            seen.append(request.prefix_blocks)
            return "api"

    simulate(block_trace([(0, "a", [4, 5]), (1, "a", [])]), three_tiers(), Recording(), seed=0)
    assert seen == [(4, 5), ()]


# --- building and errors ----------------------------------------------------------------------
def test_built_from_a_policy_string_under_the_one_grammar():
    policy = build_policy("affinity:min_blocks=2>share:target_share=0.2,score=null")
    assert isinstance(policy, PrefixAffinityPolicy) and policy.min_blocks == 2
    assert type(policy.base).__name__ == "TargetSharePolicy"
    assert build_policy("privacy>affinity>static:tier=api").base.base == StaticPolicy("api")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "affinity:min_blocks=0>static:tier=api",
            r"policy 'affinity'.*key 'min_blocks'.*expected a whole number of prefix blocks >= 1"
            r", got 0",
        ),
        ("affinity:min_blocks=abc>static:tier=api", r"key 'min_blocks'.*expected an integer"),
        (
            "affinity:min_block=2>static:tier=api",
            r"unknown parameter.*valid parameters: base, "
            r"min_blocks, tag",
        ),
        ("affinity:tag=>static:tier=api", r"key 'tag'.*expected"),
        (
            "affinity>static:tier=gpu-c",
            r"unknown tier 'gpu-c'; tiers of this fleet: gpu-a, "
            r"gpu-b, api",
        ),
        (
            "affinity:min_blocks=2",
            r"key 'base': required parameter not given.*e\.g\. affinity>static:tier=<tier>",
        ),
    ],
)
def test_bad_parameters_are_named_with_the_valid_choices(spec, message):
    with pytest.raises(PolicyError, match=message):
        policy = build_policy(spec)
        simulate(block_trace(ROWS[:1]), three_tiers(), policy, seed=0)


# --- end to end -------------------------------------------------------------------------------
def test_affinity_raises_the_prefix_hit_rate_on_a_prefix_heavy_trace():
    """Two cached GPU tiers whose caches hold a few prefixes each: a random 50/50 base spreads
    every prefix over both (each computes it, and evicts more), affinity keeps each prefix on
    the tier that computed it first."""
    trace = prefix_heavy_trace(600, repeat_share=0.5, n_prefixes=16, rate_per_s=2.0, seed=1)
    server = dict(model="model", prefix_cache_tokens=512 * 8 * 10)
    fleet = Fleet(
        (
            Tier("gpu-a", linear_server(**server), "model"),
            Tier("gpu-b", linear_server(**server, usd_per_gpu_hour=2.0), "model"),
        )
    )
    base = RandomMixPolicy({"gpu-a": 1.0, "gpu-b": 1.0})

    def hit_rate(policy) -> float:
        ep = simulate(trace, fleet, policy, seed=0).endpoints
        return ep["prefix_hit_blocks"].sum() / ep["prefix_lookup_blocks"].sum()

    plain, affinity = hit_rate(base), hit_rate(PrefixAffinityPolicy(base))
    assert affinity > plain + 0.05, (plain, affinity)
    assert affinity <= 0.5  # at most the repeated share
