"""Prefix caching on GPU replicas: hand-computed timings, identity without shared blocks, LRU
eviction order, prefix-affinity load balancing, and the errors of a bad prefix column."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sim.helpers import fixed_api, linear_server
from simkit import Trace
from simkit.errors import SpecError, TraceError
from simkit.fleet import Fleet, GpuServer, Tier, load_fleet
from simkit.metrics import prefix_cache_stats, summarize_runs
from simkit.policies import RandomMixPolicy, StaticPolicy
from simkit.sim import simulate
from simkit.sim.prefix import PrefixCache
from simkit.trace import prefix_heavy_trace

BLOCK = 100


def block_trace(rows, *, start_s: float = 0.0, block_size: int = BLOCK) -> Trace:
    """rows: (arrival offset, prompt tokens, output tokens, block ids)."""
    ids = [f"r{i}" for i in range(len(rows))]
    req = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": [start_s + a for a, *_ in rows],
            "prompt_tokens": [p for _, p, _, _ in rows],
            "output_tokens": [o for _, _, o, _ in rows],
            "prefix_blocks": [b for *_, b in rows],
        }
    )
    out = pd.DataFrame({"request_id": ids, "model": "m", "quality": 1.0})
    return Trace(req, out, meta={"prefix_block_size": block_size})


def gpu_fleet(server: GpuServer) -> Fleet:
    return Fleet((Tier("gpu", server, "m"),))


def first_tokens(rec) -> list[float]:
    return rec.requests["first_token_s"].round(9).tolist()


# --- hand-computed -----------------------------------------------------------------------------
HAND = [
    (0.0, 400, 1, [1, 2, 3, 4]),  # nothing cached: 400 tokens, 0.4 s
    (1.0, 400, 1, [1, 2, 9, 10]),  # blocks 1, 2 cached: 200 tokens, 0.2 s
    (2.0, 350, 1, [1, 2, 3, 4]),  # all 4 cached: 350 saved but one token left, 0.001 s
    (3.0, 200, 1, [5, 6]),  # nothing cached: 0.2 s
    (4.0, 300, 1, [11, 9, 10]),  # 9, 10 cached but after an uncached block: no hit, 0.3 s
]


def test_cached_leading_blocks_skip_prefill_as_computed_by_hand():
    """One replica at 1000 tokens/s, 100-token blocks, arrivals from t = 50 s: each request's
    first token comes after its uncached prefill only; a fully cached prompt computes one
    token; a cached block that does not continue a cached prefix does not count."""
    rec = simulate(
        block_trace(HAND, start_s=50.0), gpu_fleet(linear_server()), StaticPolicy("gpu"), seed=0
    )
    assert first_tokens(rec) == [50.4, 51.2, 52.001, 53.2, 54.3]
    ep = rec.endpoints.iloc[0]
    assert (ep.prefix_lookup_blocks, ep.prefix_hit_blocks, ep.prefix_saved_tokens) == (
        4 + 4 + 4 + 2 + 3,
        0 + 2 + 4 + 0 + 0,
        0 + 200 + 349 + 0 + 0,
    )
    summary = summarize_runs(rec.requests, rec.endpoints)
    assert summary["prefix_hit_rate_gpu"].iloc[0] == pytest.approx(6 / 17)
    assert summary["prefix_saved_tokens_gpu"].iloc[0] == 549


def test_without_the_cache_the_same_trace_prefills_everything():
    """The hand case with prefix_cache off: every prompt prefilled in full, nothing counted,
    and the summary has no prefix columns."""
    fleet = gpu_fleet(linear_server(prefix_cache=False))
    rec = simulate(block_trace(HAND, start_s=50.0), fleet, StaticPolicy("gpu"), seed=0)
    assert first_tokens(rec) == [50.4, 51.4, 52.35, 53.2, 54.3]
    assert rec.endpoints[["prefix_lookup_blocks", "prefix_saved_tokens"]].sum().tolist() == [0, 0]
    assert not [c for c in summarize_runs(rec.requests, rec.endpoints) if "prefix" in c]


def test_preempted_request_recomputes_only_its_uncached_tokens():
    """Admission after a preemption looks the prompt up again; the generated tokens are
    recomputed (the cache holds only prompt blocks)."""
    cache = PrefixCache(capacity_blocks=10, block_size=BLOCK)
    cache.insert((1, 2, 3))
    # prompt 300 (3 blocks cached) + 40 generated tokens to recompute
    assert cache.admit((1, 2, 3), n_prompt=300, prefill_len=340) == 300
    assert (cache.lookup_blocks, cache.hit_blocks, cache.saved_tokens) == (3, 3, 300)


# --- all hashes distinct: identical to no caching ----------------------------------------------
def test_distinct_hashes_give_records_identical_to_no_caching_on_three_tiers():
    """2,000 requests with varied prompts and no shared block, over an API tier and two GPU
    tiers of 3 replicas (one balancing by prefix affinity): requests frames equal bit for
    bit with and without caching; the caches looked up every block and hit none."""
    rng = np.random.default_rng(5)
    n = 2000
    prompt = rng.integers(1, 3000, n)
    n_blocks = np.ceil(prompt / 256).astype(int)
    starts = np.concatenate([[0], np.cumsum(n_blocks)[:-1]])
    rows = [
        (float(a), int(p), int(o), list(range(int(s), int(s) + int(k))))
        for a, p, o, s, k in zip(
            np.cumsum(rng.exponential(0.05, n)),
            prompt,
            rng.integers(1, 400, n),
            starts,
            n_blocks,
            strict=True,
        )
    ]
    trace = block_trace(rows, start_s=123.0, block_size=256)
    policy = RandomMixPolicy({"api": 1.0, "small": 2.0, "big": 2.0})

    def fleet(cache: bool) -> Fleet:
        small = linear_server(
            replicas=3,
            x_sat_tokens_per_s=20_000.0,
            t_floor_s=0.01,
            beta_s_per_ctx_token=5e-8,
            kv_capacity_tokens=60_000,
            prefix_cache=cache,
        )
        big = dataclasses.replace(
            small,
            kv_capacity_tokens=200_000,
            load_balancer="prefix_affinity" if cache else "least_outstanding",
        )
        return Fleet(
            (Tier("api", fixed_api(), "m"), Tier("small", small, "m"), Tier("big", big, "m"))
        )

    on = simulate(trace, fleet(True), policy, seed=11)
    off = simulate(trace, fleet(False), policy, seed=11)
    pd.testing.assert_frame_equal(on.requests, off.requests)
    cols = ["prefix_lookup_blocks", "prefix_hit_blocks", "prefix_saved_tokens"]
    pd.testing.assert_frame_equal(on.endpoints.drop(columns=cols), off.endpoints.drop(columns=cols))
    gpu = on.endpoints[on.endpoints["kind"] == "gpu"]
    assert gpu["prefix_hit_blocks"].sum() == 0 and gpu["prefix_saved_tokens"].sum() == 0
    served = on.requests["tier"].isin(["small", "big"]).to_numpy()
    assert gpu["prefix_lookup_blocks"].sum() == n_blocks[served].sum()
    # no preemption here: a preempted request would find its own blocks on readmission
    assert on.meta["preemptions"] == 0


# --- LRU eviction ------------------------------------------------------------------------------
def test_lru_cache_evicts_the_tail_of_the_least_recent_prefix_first():
    """Capacity 4: after (1, 2, 3) then (4, 5) the cache drops block 3 (the tail of the older
    prefix), keeping 1, 2; a hit on (1, 2) makes them the most recent; then (6,) evicts 5."""
    cache = PrefixCache(capacity_blocks=4, block_size=BLOCK)
    cache.insert((1, 2, 3))
    assert list(cache.blocks) == [3, 2, 1]  # least recent first
    cache.insert((4, 5))
    assert list(cache.blocks) == [2, 1, 5, 4] and cache.evicted_blocks == 1
    assert cache.admit((1, 2, 7), n_prompt=300, prefill_len=300) == 200
    assert list(cache.blocks) == [5, 4, 2, 1]
    cache.insert((6,))
    assert list(cache.blocks) == [4, 2, 1, 6]
    assert cache.match((1, 2, 3)) == 2 and cache.match((5,)) == 0


def test_cache_capacity_is_the_kv_capacity_and_evicts_in_lru_order():
    """kv_capacity_tokens = 400 (4 blocks of 100): after r0 (1, 2, 3) and r1 (4, 5) block 3
    is gone, so r2 (1, 2, 3) finds 2 blocks and prefills 100 tokens; with
    prefix_cache_tokens = 300 (3 blocks) r1 evicts 3 and then 2, so r2 finds only block 1
    and prefills 200 tokens."""
    rows = [
        (0.0, 300, 1, [1, 2, 3]),
        (1.0, 200, 1, [4, 5]),
        (2.0, 300, 1, [1, 2, 3]),
    ]
    rec = simulate(
        block_trace(rows, start_s=10.0),
        gpu_fleet(linear_server(kv_capacity_tokens=400)),
        StaticPolicy("gpu"),
        seed=0,
    )
    assert first_tokens(rec) == [10.3, 11.2, 12.1]
    small = linear_server(kv_capacity_tokens=400, prefix_cache_tokens=300)
    rec = simulate(block_trace(rows, start_s=10.0), gpu_fleet(small), StaticPolicy("gpu"), seed=0)
    assert first_tokens(rec) == [10.3, 11.2, 12.2]


# --- prefix affinity ---------------------------------------------------------------------------
AFFINITY = [
    (0.0, 200, 1, [10, 11]),  # nobody holds it: least outstanding -> gpu-0
    (0.0, 200, 1, [20, 21]),  # -> gpu-1 (gpu-0 busy)
    (0.0, 200, 1, [30, 31]),  # -> gpu-2
    (5.0, 300, 1, [20, 21, 22]),  # all idle; gpu-1 holds 20, 21 -> gpu-1
    (5.0, 300, 1, [30, 31, 32]),  # gpu-2 holds 30, 31 -> gpu-2 (although gpu-0 is idle)
    (5.0, 200, 1, [40, 41]),  # nobody holds it: least outstanding -> gpu-0
    (9.0, 300, 1, [20, 21, 22]),  # gpu-1 holds all three
]


def test_prefix_affinity_sends_each_request_to_the_replica_holding_its_prefix():
    """Three replicas: a request goes where its longest cached prefix is, else to the replica
    with the fewest outstanding requests; least_outstanding ignores the caches."""
    trace = block_trace(AFFINITY, start_s=100.0)
    aff = simulate(
        trace,
        gpu_fleet(linear_server(replicas=3, load_balancer="prefix_affinity")),
        StaticPolicy("gpu"),
        seed=0,
    )
    stats = prefix_cache_stats(aff.endpoints, by="replica").droplevel(["run_id", "tier"])
    assert stats["hit_blocks"].to_dict() == {"gpu-0": 0, "gpu-1": 2 + 3, "gpu-2": 2}
    assert aff.endpoints.set_index("replica")["n_requests"].to_dict() == {
        "gpu-0": 2,
        "gpu-1": 3,
        "gpu-2": 2,
    }
    # r3 prefills 100 tokens, r4 100, r5 200 at once: one step of 400 tokens on three replicas
    assert first_tokens(aff) == [100.2, 100.2, 100.2, 105.1, 105.1, 105.2, 109.001]
    lo = simulate(trace, gpu_fleet(linear_server(replicas=3)), StaticPolicy("gpu"), seed=0)
    lo_stats = prefix_cache_stats(lo.endpoints, by="replica").droplevel(["run_id", "tier"])
    # least_outstanding: r3 -> gpu-0, r4 -> gpu-1, r5 -> gpu-2, r6 -> gpu-0 (holds 20-22)
    assert lo_stats["hit_blocks"].to_dict() == {"gpu-0": 3, "gpu-1": 0, "gpu-2": 0}
    assert first_tokens(lo) == [100.2, 100.2, 100.2, 105.3, 105.3, 105.2, 109.001]


def test_prefix_affinity_without_a_cache_is_a_spec_error_naming_the_key():
    with pytest.raises(SpecError, match=r"load_balancer.*needs prefix_cache: true"):
        linear_server(prefix_cache=False, load_balancer="prefix_affinity")


# --- fleet spec surface ------------------------------------------------------------------------
def test_fleet_yaml_enables_the_cache_and_checks_its_capacity():
    spec = {
        "tiers": {
            "gpu": {
                "kind": "gpu",
                "preset": "llama3-8b-h100-tp1",
                "usd_per_gpu_hour": 2.0,
                "replicas": 2,
                "prefix_cache": True,
                "prefix_cache_tokens": 100_000,
                "load_balancer": "prefix_affinity",
                "quality_model": "m",
            }
        }
    }
    gpu = load_fleet(spec).tiers[0].endpoint
    assert (gpu.prefix_cache, gpu.prefix_cache_tokens, gpu.load_balancer) == (
        True,
        100_000,
        "prefix_affinity",
    )
    spec["tiers"]["gpu"]["prefix_cache_tokens"] = 10**9
    with pytest.raises(SpecError, match=r"tiers\.gpu.*prefix_cache_tokens.*from 1 to kv_capacity"):
        load_fleet(spec)


def test_a_cache_on_a_trace_without_prefix_blocks_is_an_error_not_a_silent_miss():
    trace = block_trace(HAND).replace(
        requests=block_trace(HAND).requests.drop(columns="prefix_blocks")
    )
    with pytest.raises(SpecError, match=r"tiers\.gpu\.prefix_cache.*no 'prefix_blocks' column"):
        simulate(trace, gpu_fleet(linear_server()), StaticPolicy("gpu"), seed=0)


# --- bad prefix columns ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("3 x", r"row 2, column 'prefix_blocks': expected block ids separated by spaces"),
        ([1, -2], r"row 2, column 'prefix_blocks': expected block ids as integers >= 0, got -2"),
        ([1.5], r"row 2, column 'prefix_blocks': expected block ids as integers >= 0, got 1.5"),
        ({"a": 1}, r"row 2, column 'prefix_blocks': expected a list of block ids, got dict"),
        (
            [1, 2, 3, 4, 5],
            r"row 2, column 'prefix_blocks': 5 blocks of 100 tokens for a prompt "
            r"of 400 tokens; expected at most ceil\(prompt_tokens / 100\) = 4",
        ),
    ],
)
def test_bad_prefix_cell_names_the_row_and_column(cell, message):
    rows = [(0.0, 400, 1, [1]), (1.0, 400, 1, cell)]
    with pytest.raises(TraceError, match=message):
        block_trace(rows)


def test_prefix_blocks_without_a_block_size_in_meta_is_an_error():
    req = block_trace(HAND).requests
    with pytest.raises(TraceError, match=r"column 'prefix_blocks'.*meta\['prefix_block_size'\]"):
        Trace(req, meta={})


def test_text_cells_parse_as_json_lists_or_separated_ids_and_empty_means_none():
    rows = [(0.0, 400, 1, "[1, 2]"), (1.0, 400, 1, "3,4 5"), (2.0, 400, 1, ""), (3.0, 0, 1, None)]
    assert block_trace(rows).requests["prefix_blocks"].tolist() == [(1, 2), (3, 4, 5), (), ()]


# --- the synthetic prefix-heavy trace ----------------------------------------------------------
def test_prefix_heavy_trace_repeats_the_share_it_was_asked_for():
    """8 blocks per prompt, half shared among 4 prefixes: the realised repeat share is 0.5
    minus the first sight of each prefix (4 x 4 blocks)."""
    t = prefix_heavy_trace(1000, repeat_share=0.5, n_prefixes=4, rate_per_s=2.0, seed=3)
    blocks = t.requests["prefix_blocks"].tolist()
    assert all(len(b) == 8 for b in blocks)
    assert t.meta["repeat_share"] == pytest.approx((1000 * 4 - 16) / 8000)
    assert {b[:4] for b in blocks} == {tuple(range(p * 4, p * 4 + 4)) for p in range(4)}
    assert len({x for b in blocks for x in b[4:]}) == 4000  # the rest never repeat
    again = prefix_heavy_trace(1000, repeat_share=0.5, n_prefixes=4, rate_per_s=2.0, seed=3)
    pd.testing.assert_frame_equal(t.requests, again.requests)
    with pytest.raises(SpecError, match="repeat_share"):
        prefix_heavy_trace(10, repeat_share=0.3)
