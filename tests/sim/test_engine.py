"""simulate(): records, determinism, conservation, privacy, GPU batching, cascades, errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from sim.helpers import STRONG, WEAK, fixed_api, fixture_trace, one_tier, slot_server, tiny_trace
from simkit.errors import PolicyError, SimulationError, SpecError
from simkit.fleet import Fleet, GpuServer, Jitter, RetryPolicy, Tier, load_fleet
from simkit.policies import (
    CascadePolicy,
    FallbackPolicy,
    FleetView,
    PrivacyPolicy,
    RandomMixPolicy,
    RequestView,
    SpillOverPolicy,
    StaticPolicy,
)
from simkit.schema import ENDPOINT_COLUMNS, RECORD_COLUMNS
from simkit.sim import simulate

MIX = RandomMixPolicy({"selfhosted": 1.0, "hosted": 1.0, "frontier": 1.0})


@pytest.fixture(scope="module")
def trace():
    return fixture_trace()


@pytest.fixture(scope="module")
def fleet():
    return load_fleet()


def test_records_have_exactly_the_schema_columns_one_row_per_request_in_order(trace, fleet):
    rec = simulate(trace, fleet, MIX, seed=0, run_id=7)
    r = rec.requests
    assert list(r.columns) == list(RECORD_COLUMNS)
    assert {c: str(r[c].dtype) for c in r.columns} == dict(RECORD_COLUMNS)
    assert list(r["request_id"]) == list(trace.requests["request_id"])
    assert (r["run_id"] == 7).all()
    assert list(rec.endpoints.columns) == list(ENDPOINT_COLUMNS)
    assert list(rec.endpoints["replica"]) == ["selfhosted-0", "hosted-0", "frontier-0"]
    assert rec.horizon_s >= r["end_s"].max()


def test_same_seed_gives_identical_records(trace, fleet):
    a = simulate(trace, fleet, CascadePolicy(judge_error=0.2), seed=5)
    b = simulate(trace, fleet, CascadePolicy(judge_error=0.2), seed=5)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.endpoints, b.endpoints)
    assert a.meta["config_hash"] == b.meta["config_hash"]


def test_another_seed_changes_the_jitter_but_not_the_trace(trace, fleet):
    a = simulate(trace, fleet, StaticPolicy("frontier"), seed=1).requests
    b = simulate(trace, fleet, StaticPolicy("frontier"), seed=2).requests
    assert (a["first_token_s"] != b["first_token_s"]).mean() > 0.99
    pd.testing.assert_series_equal(a["arrival_s"], b["arrival_s"])
    pd.testing.assert_series_equal(a["quality"], b["quality"])


def test_no_request_is_lost_and_costs_are_non_negative_under_failures(trace):
    """Outages, errors, tight rate limits and a small KV cache: every request ends completed or
    failed with a reason, failed ones have NaN quality, costs are >= 0."""
    spec = {
        "tiers": {
            "gpu": {
                "kind": "gpu",
                "preset": "llama3-8b-a100-tp1",
                "usd_per_gpu_hour": 2.0,
                "kv_capacity_tokens": 20_000,
                "max_num_seqs": 16,
                "quality_model": WEAK,
            },
            "api": {
                "kind": "api",
                "model": "gpt-4o",
                "quality_model": STRONG,
                "error_rate": 0.05,
                "outages": [[100, 160]],
                "rate_limit": {"rpm": 120, "tpm": 200_000},
                "retry": {"max_retries": 1},
            },
        }
    }
    fleet = load_fleet(spec)
    policy = FallbackPolicy(RandomMixPolicy({"gpu": 1.0, "api": 3.0}), on=("outage",))
    rec = simulate(trace, fleet, policy, seed=3)
    r = rec.requests
    assert len(r) == trace.n_requests
    assert set(r["status"]) == {"completed", "failed"}
    failed = r["status"] == "failed"
    assert failed.any() and (r.loc[failed, "fail_reason"] != "").all()
    assert (r.loc[~failed, "fail_reason"] == "").all()
    assert r.loc[failed, "quality"].isna().all() and (r.loc[failed, "tier"] == "").all()
    assert set(r.loc[failed, "fail_reason"]) <= {
        "rate_limited",
        "error",
        "outage",
        "timeout",
        "too_large",
    }
    assert (r["cost_usd"] >= 0).all() and (r["end_s"] >= r["arrival_s"]).all()
    assert (r["n_429"] > 0).any() and rec.meta["preemptions"] > 0
    assert r["tiers_tried"].str.contains(",").any()  # fallbacks happened


def test_privacy_policy_keeps_sensitive_requests_private(trace, fleet):
    sensitive = trace.has_tag("sensitive")
    plain = simulate(trace, fleet, MIX, seed=0).requests
    assert plain["privacy_violation"].sum() > 0
    assert not plain.loc[~sensitive, "privacy_violation"].any()
    private = simulate(trace, fleet, PrivacyPolicy(CascadePolicy()), seed=0).requests
    assert int(private["privacy_violation"].sum()) == 0
    tried = private.loc[sensitive, "tiers_tried"]
    assert (tried == "selfhosted").all()


def test_quality_is_the_recorded_outcome_of_the_final_tiers_model(trace, fleet):
    r = simulate(trace, fleet, MIX, seed=0).requests
    q = trace.quality_matrix([STRONG, WEAK])
    expected = np.where(r["model"] == STRONG, q[STRONG], q[WEAK])
    np.testing.assert_array_equal(r["quality"].to_numpy(), expected)
    assert set(r["model"]) == {STRONG, WEAK}


def test_fast_forward_gives_the_records_of_stepping_every_iteration(trace):
    """Decode fast-forward (one event per pure-decode stretch) against one event per step,
    with preemption (small KV) and a busy queue."""
    gpu = GpuServer(
        model="m",
        usd_per_gpu_hour=1.0,
        max_num_seqs=24,
        kv_capacity_tokens=30_000,
        t_floor_s=0.01,
        x_sat_tokens_per_s=16_000,
        beta_s_per_ctx_token=64e-9,
        t_ovh_s=0.001,
    )
    fleet = Fleet((Tier("gpu", gpu, WEAK),))
    sub = trace.subset(np.arange(trace.n_requests) < 800)
    fast = simulate(sub, fleet, StaticPolicy("gpu"), seed=0)
    slow = simulate(sub, fleet, StaticPolicy("gpu"), seed=0, decode_fast_forward=False)
    cols = ["first_token_s", "end_s"]
    np.testing.assert_allclose(
        fast.requests[cols].to_numpy(), slow.requests[cols].to_numpy(), rtol=1e-9, atol=1e-9
    )
    assert fast.meta["gpu_steps"] == slow.meta["gpu_steps"]
    assert fast.meta["preemptions"] == slow.meta["preemptions"] > 0
    assert fast.meta["n_events"] < slow.meta["n_events"] / 2


def test_single_request_on_a_gpu_follows_the_step_time_model():
    """Prompt 1,000 with budget 512: two prefill chunks (512, 488), first token at the end of
    the second, then 2 decode steps; each step = max(floor, n/x_sat) + beta * ctx + ovh."""
    gpu = GpuServer(
        model="m",
        usd_per_gpu_hour=1.0,
        max_batched_tokens=512,
        t_floor_s=0.01,
        x_sat_tokens_per_s=10_000,
        beta_s_per_ctx_token=1e-6,
        t_ovh_s=0.002,
        rtt_s=Jitter(0.0),
    )
    rec = simulate(
        tiny_trace([1.0], prompt_tokens=1000, output_tokens=3),
        one_tier(gpu),
        StaticPolicy("t"),
        seed=0,
    ).requests
    p1 = 512 / 10_000 + 0.002
    p2 = 488 / 10_000 + 0.002
    d1 = 0.01 + 1e-6 * 1001 + 0.002
    d2 = 0.01 + 1e-6 * 1002 + 0.002
    assert rec["first_token_s"].iloc[0] == pytest.approx(1.0 + p1 + p2)
    assert rec["end_s"].iloc[0] == pytest.approx(1.0 + p1 + p2 + d1 + d2)


def test_request_waits_for_the_only_slot_instead_of_starting_on_arrival():
    """One slot busy until t=2 (200 steps of 10 ms): the request arriving at 0.5 starts at 2."""
    fleet = one_tier(slot_server(1, 0.01))
    rec = simulate(
        tiny_trace([0.0, 0.5], output_tokens=200), fleet, StaticPolicy("t"), seed=0
    ).requests
    timeline = rec[["request_id", "first_token_s", "end_s"]].itertuples(index=False, name=None)
    assert [(i, round(f, 9), round(e, 9)) for i, f, e in timeline] == [
        ("r0", 0.01, 2.0),
        ("r1", 2.01, 4.0),
    ]


def test_cascade_pays_both_calls_and_their_latencies_add():
    """The cheap answer is wrong (quality 0) and the verifier is perfect: escalate."""
    cheap = fixed_api(ttft_s=0.5, speed=10.0, price=(1.0, 1.0))
    strong = fixed_api(ttft_s=1.0, speed=20.0, price=(10.0, 10.0))
    fleet = Fleet((Tier("cheap", cheap, "weak"), Tier("strong", strong, "strong")))
    req = tiny_trace([0.0], prompt_tokens=100, output_tokens=11).requests
    out = pd.DataFrame(
        {"request_id": ["r0", "r0"], "model": ["weak", "strong"], "quality": [0.0, 1.0]}
    )
    from simkit import Trace

    rec = simulate(Trace(req, out), fleet, CascadePolicy(judge_error=0.0), seed=0).requests.iloc[0]
    cheap_e2e = 0.5 + 10 / 10.0
    assert (
        rec["tiers_tried"] == "cheap,strong" and rec["tier"] == "strong" and rec["quality"] == 1.0
    )
    assert rec["first_token_s"] == pytest.approx(cheap_e2e + 1.0)
    assert rec["end_s"] == pytest.approx(cheap_e2e + 1.0 + 10 / 20.0)
    assert rec["cost_usd"] == pytest.approx(111 * 1e-6 + 111 * 10e-6)


def test_fallback_moves_a_request_off_a_tier_in_outage():
    down = fixed_api(outages=((0.0, 10.0),), retry=RetryPolicy(max_retries=0), rtt_s=0.1)
    up = fixed_api(ttft_s=0.3, speed=100.0)
    fleet = Fleet((Tier("a", down, "m"), Tier("b", up, "m")))
    rec = simulate(
        tiny_trace([0.0], output_tokens=1), fleet, FallbackPolicy(StaticPolicy("a")), seed=0
    ).requests.iloc[0]
    assert (rec["tiers_tried"], rec["tier"], rec["status"]) == ("a,b", "b", "completed")
    assert rec["first_token_s"] == pytest.approx(0.1 + 0.3)


def test_user_defined_policy_with_one_method_runs(trace, fleet):
    @dataclass(frozen=True)
    class ShortToCheap:
        max_prompt_tokens: int = 500

        def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
            return (
                fleet.tiers[0]
                if request.prompt_tokens <= self.max_prompt_tokens
                else fleet.tiers[-1]
            )

    r = simulate(trace, fleet, ShortToCheap(), seed=0).requests
    short = trace.requests["prompt_tokens"].to_numpy() <= 500
    assert (r.loc[short, "tier"] == "selfhosted").all() and (
        r.loc[~short, "tier"] == "frontier"
    ).all()


def test_policy_returning_an_unknown_tier_is_an_error_listing_the_tiers(trace, fleet):
    class Bad:
        def route(self, request, fleet, rng):
            return "gpt-5"

    with pytest.raises(
        PolicyError, match=r"returned 'gpt-5' .* tiers: selfhosted, hosted, frontier"
    ):
        simulate(trace, fleet, Bad(), seed=0)


def test_tier_whose_model_has_no_outcomes_is_a_spec_error(trace):
    fleet = load_fleet(
        {"tiers": {"x": {"kind": "api", "model": "gpt-4o", "quality_model": "gpt-4o"}}}
    )
    with pytest.raises(
        SpecError,
        match=r"key 'tiers.x.quality_model': the trace has no outcomes for model 'gpt-4o'; models with outcomes: gpt-4-1106-preview, mistralai/Mixtral-8x7B-Instruct-v0.1",
    ):
        simulate(trace, fleet, StaticPolicy("x"), seed=0)
    rec = simulate(trace, fleet, StaticPolicy("x"), seed=0, allow_missing_quality=True)
    assert rec.requests["quality"].isna().all()


def test_missing_output_length_names_the_request_and_the_tier():
    trace = tiny_trace([0.0, 1.0])
    trace = trace.replace(
        requests=trace.requests.assign(output_tokens=pd.array([5, None], dtype="Int64"))
    )
    with pytest.raises(
        SimulationError,
        match=r"request 'r1' \(row 2\) has no output length for tier 't' \(model 'm'\)",
    ):
        simulate(trace, one_tier(fixed_api()), StaticPolicy("t"), seed=0)


def test_missing_prompt_length_names_the_request():
    trace = tiny_trace([0.0, 1.0])
    trace = trace.replace(
        requests=trace.requests.assign(prompt_tokens=pd.array([None, 3], dtype="Int64"))
    )
    with pytest.raises(SimulationError, match=r"request 'r0' \(row 1\) has no prompt_tokens"):
        simulate(trace, one_tier(fixed_api()), StaticPolicy("t"), seed=0)


def test_gpu_rejects_a_request_that_can_never_fit_its_kv_cache():
    gpu = slot_server(1, 0.01)
    gpu = GpuServer(**{**gpu.__dict__, "kv_capacity_tokens": 100})
    rec = simulate(
        tiny_trace([0.0, 0.0], prompt_tokens=[10, 90], output_tokens=[5, 20]),
        one_tier(gpu),
        StaticPolicy("t"),
        seed=0,
    ).requests
    assert (
        list(rec["status"]) == ["completed", "failed"] and rec["fail_reason"].iloc[1] == "too_large"
    )


def test_tokens_and_fixed_cost_rates_are_reported_per_replica(trace):
    fleet = load_fleet(
        {
            "tiers": {
                "gpu": {
                    "kind": "gpu",
                    "preset": "llama3-8b-h100-tp1",
                    "replicas": 2,
                    "usd_per_gpu_hour": 2.5,
                    "quality_model": WEAK,
                }
            }
        }
    )
    rec = simulate(trace, fleet, StaticPolicy("gpu"), seed=0)
    e = rec.endpoints
    assert list(e["replica"]) == ["gpu-0", "gpu-1"] and (e["usd_per_hour"] == 2.5).all()
    assert e["n_requests"].sum() == trace.n_requests
    assert e["prompt_tokens"].sum() == rec.requests["prompt_tokens"].sum()
    assert e["output_tokens"].sum() == rec.requests["output_tokens"].sum()
    assert ((e["busy_s"] > 0) & (e["busy_s"] <= e["horizon_s"])).all()


def test_policies_see_live_queue_counts_and_spill_over_once_the_queue_is_long():
    """Five requests 0.1 s apart on a one-slot GPU busy for 2 s with the first: the next two
    wait, and with max_queued=1 every later one sees 2 queued and spills to the API."""
    fleet = Fleet(
        (Tier("gpu", slot_server(slots=1, step_s=1.0), "m"), Tier("api", fixed_api(), "m"))
    )
    policy = SpillOverPolicy(StaticPolicy("gpu"), max_queued=1)
    rec = simulate(tiny_trace([0.0, 0.1, 0.2, 0.3, 0.4], output_tokens=2), fleet, policy, seed=0)
    rec = rec.requests
    assert list(rec["tier"]) == ["gpu", "gpu", "gpu", "api", "api"]


def test_policies_see_how_many_requests_were_routed_so_far():
    """routed is live too: a policy alternating on routed counts sends requests a, b, a, b."""

    @dataclass(frozen=True)
    class Alternate:
        def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
            return "a" if fleet.routed["a"] <= fleet.routed["b"] else "b"

    fleet = Fleet((Tier("a", fixed_api(), "m"), Tier("b", fixed_api(), "m")))
    rec = simulate(tiny_trace([0.0, 1.0, 2.0, 3.0]), fleet, Alternate(), seed=0).requests
    assert list(rec["tier"]) == ["a", "b", "a", "b"]


def test_gpu_wait_estimate_counts_the_queue_ahead_at_the_recent_completion_rate():
    """One slot, each request holds it 2 s. At t=4.5 two requests have finished 2 s apart, one
    runs and two wait: a new one waits for three departures, 3 x 2 s = 6 s (it really starts at
    t=10, 5.5 s later). Before any completion there is no rate to go by: only prefill work."""
    seen: list[float] = []

    @dataclass(frozen=True)
    class Watch:
        def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
            seen.append(fleet.est_wait_s["gpu"])
            return "gpu"

    fleet = Fleet((Tier("gpu", slot_server(slots=1, step_s=1.0), "m"),))
    arrivals = [0.0, 0.1, 0.2, 0.3, 0.4, 4.5]
    rec = simulate(tiny_trace(arrivals, output_tokens=2), fleet, Watch(), seed=0).requests
    assert seen == pytest.approx([0.0, 0.0, 0.0, 0.0, 0.0, 6.0], abs=1e-9)
    assert rec["first_token_s"].iloc[-1] == pytest.approx(11.0)  # prefill step 10 -> 11
